"""One source of truth per repository, and the two agree.

Knative's limits, annotation keys and the Knative version are defined once, in
``knative_manifests.constants`` (packages/knative-manifests). copier.yml must repeat the
limits in its validators (Copier cannot import Python without --trust): these tests
evaluate each validator in-process at the edges of each range the constants give, so a
limit changed in one place only fails here. The question defaults live in copier.yml
alone; a rendered service bakes its answers, never the template's defaults.

The packages are released with the template: one version for the three of them, and the
version a render pins. The rendered project's requirements (runtime and dev) must be
satisfied by the shared environment the template's tests run rendered projects in.
"""

from __future__ import annotations

import importlib.metadata as metadata
import tomllib
from pathlib import Path
from typing import Any

import pytest
from answers import (
    choice_values,
    default_context,
    load_questions,
    validator_for,
    validator_message,
)
from packaging.requirements import Requirement
from renderer import REPO_ROOT, Renderer


@pytest.fixture(scope="module")
def c() -> Any:
    """``knative_manifests.constants``: the one definition of the limits."""
    from knative_manifests import constants

    return constants


def accepted(name: str, value: Any, **context: Any) -> bool:
    return validator_message(name, value, context) == ""


# ---------------------------------------------------------------------------
# Ranges: the validator accepts exactly [low, high]
# ---------------------------------------------------------------------------
def assert_range(name: str, low: int, high: int, **context: Any) -> None:
    assert not accepted(name, low - 1, **context), f"{name}={low - 1} accepted"
    assert accepted(name, low, **context), f"{name}={low} refused"
    assert accepted(name, high, **context), f"{name}={high} refused"
    assert not accepted(name, high + 1, **context), f"{name}={high + 1} accepted"


def test_container_concurrency_range(c: Any) -> None:
    assert_range("container_concurrency", c.CONTAINER_CONCURRENCY_MIN, c.CONTAINER_CONCURRENCY_MAX)


def test_timeout_range(c: Any) -> None:
    assert_range("timeout_seconds", c.TIMEOUT_SECONDS_MIN, c.TIMEOUT_SECONDS_MAX)


def test_canary_percent_range(c: Any) -> None:
    assert_range("canary_percent", c.CANARY_PERCENT_MIN, c.CANARY_PERCENT_MAX, canary=True)


def test_rabbitmq_parallelism_range(c: Any) -> None:
    assert_range(
        "rabbitmq_parallelism",
        c.RABBITMQ_PARALLELISM_MIN,
        c.RABBITMQ_PARALLELISM_MAX,
        eventing=True,
        broker_class="RabbitMQBroker",
    )


def test_delivery_retry_range(c: Any) -> None:
    assert_range("delivery_retry", c.DELIVERY_RETRY_MIN, c.DELIVERY_RETRY_MAX)


def test_scale_ranges(c: Any) -> None:
    assert_range("min_scale", c.SCALE_MIN, c.SCALE_MAX, max_scale=0)
    assert_range("max_scale", c.SCALE_MIN, c.SCALE_MAX, min_scale=0)
    assert c.SCALE_MAX == c.INT32_MAX == 2**31 - 1


def test_reserved_ports_and_port_range(c: Any) -> None:
    """copier.yml refuses exactly the reserved ports and what lies outside PORT_MIN..PORT_MAX."""
    check = validator_for("port")
    refused = {p for p in range(c.PORT_MIN - 1, c.PORT_MAX + 2) if check(p)}
    expected = {c.PORT_MIN - 1, c.PORT_MAX + 1, *c.RESERVED_PORTS}
    assert refused == expected
    for port in c.RESERVED_PORTS:
        assert str(port) in load_questions()["port"]["help"], f"help text omits {port}"


def test_autoscaling_target_limits(c: Any) -> None:
    minimum = c.AUTOSCALING_TARGET_MIN
    assert accepted("autoscaling_target", minimum)
    assert not accepted("autoscaling_target", minimum / 2)
    cpu = {"autoscaling_class": "hpa", "autoscaling_metric": "cpu"}
    assert accepted("autoscaling_target", c.CPU_TARGET_MAX, **cpu)
    assert not accepted("autoscaling_target", c.CPU_TARGET_MAX + 0.5, **cpu)


def test_scale_down_delay_maximum(c: Any) -> None:
    top = c.SCALE_DOWN_DELAY_MAX_SECONDS
    assert accepted("scale_down_delay", f"{top}s")
    assert not accepted("scale_down_delay", f"{top + 1}s")
    assert accepted("scale_down_delay", "0s")


def test_name_lengths(c: Any) -> None:
    top = c.SERVICE_NAME_MAX_LENGTH
    assert accepted("service_name", "a" * top)
    assert not accepted("service_name", "a" * (top + 1))
    ns = c.NAMESPACE_MAX_LENGTH
    assert accepted("namespace", "n" * ns)
    assert not accepted("namespace", "n" * (ns + 1))


def test_metrics_for_each_class(c: Any) -> None:
    assert set(choice_values("autoscaling_class")) == set(c.AUTOSCALING_CLASSES)
    assert set(choice_values("autoscaling_metric")) == {
        m for metrics in c.METRICS_FOR_CLASS.values() for m in metrics
    }
    for cls, metrics in c.METRICS_FOR_CLASS.items():
        for metric in choice_values("autoscaling_metric"):
            ok = accepted("autoscaling_metric", metric, autoscaling_class=cls)
            assert ok == (metric in metrics), f"{cls} with {metric}"


# ---------------------------------------------------------------------------
# Choices and defaults
# ---------------------------------------------------------------------------
def test_choices_agree(c: Any) -> None:
    assert tuple(choice_values("environments")) == tuple(c.ENVIRONMENTS)
    assert set(choice_values("istio_mtls_mode")) == set(c.ISTIO_MTLS_MODES)
    assert tuple(choice_values("broker_class")) == tuple(c.TEMPLATE_BROKER_CLASSES)
    assert set(c.TEMPLATE_BROKER_CLASSES) <= set(c.BROKER_CLASSES)
    assert set(choice_values("delivery_backoff_policy")) == set(c.DELIVERY_BACKOFF_POLICIES)
    assert set(choice_values("kafka_initial_offset")) == set(c.KAFKA_INITIAL_OFFSETS)


@pytest.mark.parametrize("cls", ["kpa", "hpa"])
def test_class_dependent_defaults_are_valid_for_their_class(cls: str, c: Any) -> None:
    """The defaults that follow the autoscaling class and metric pass their own validators."""
    d = default_context({"autoscaling_class": cls})
    assert d["autoscaling_metric"] in c.METRICS_FOR_CLASS[cls]
    for metric in c.METRICS_FOR_CLASS[cls]:
        d = default_context({"autoscaling_class": cls, "autoscaling_metric": metric})
        assert accepted("autoscaling_target", d["autoscaling_target"], **d)
        assert accepted("min_scale", d["min_scale"], **d)


def test_defaults_pass_their_own_validators() -> None:
    d = default_context()
    refused = {n: validator_message(n, d[n], d) for n in load_questions()}
    assert {n: m for n, m in refused.items() if m} == {}


# ---------------------------------------------------------------------------
# The rendered project's requirements are installed in the shared environment
# ---------------------------------------------------------------------------
def _unsatisfied(requirement: Requirement, seen: set[str]) -> list[str]:
    """What is missing for ``requirement`` (extras included), as readable lines."""
    key = f"{requirement.name}[{','.join(sorted(requirement.extras))}]".lower()
    if key in seen:
        return []
    seen.add(key)
    try:
        installed = metadata.version(requirement.name)
    except metadata.PackageNotFoundError:
        return [f"{requirement} is not installed"]
    if not requirement.specifier.contains(installed, prereleases=True):
        return [f"{requirement} but {requirement.name} {installed} is installed"]
    problems = []
    for extra in requirement.extras:
        for raw in metadata.requires(requirement.name) or []:
            dependency = Requirement(raw)
            if dependency.marker is None or not dependency.marker.evaluate({"extra": extra}):
                continue
            dependency.marker = None
            problems += _unsatisfied(dependency, seen)
    return problems


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({}, id="defaults"),
        pytest.param({"service_manager": True}, id="service-manager"),
        pytest.param({"service_manager": True, "event_auth": "oidc"}, id="oidc"),
    ],
)
def test_rendered_requirements_are_installed(data: dict[str, Any], renderer: Renderer) -> None:
    root: Path = renderer.render(data)
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = list(pyproject["project"]["dependencies"])
    for group in (pyproject.get("dependency-groups") or {}).values():
        requirements += [r for r in group if isinstance(r, str)]
    assert requirements, "the rendered pyproject declares no requirement"
    seen: set[str] = set()
    problems = [p for r in requirements for p in _unsatisfied(Requirement(r), seen)]
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------
# One version: the template, its two packages, and what a render pins
# ---------------------------------------------------------------------------
def _version(pyproject: Path) -> str:
    return str(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"])


def test_template_and_packages_share_one_version() -> None:
    template = _version(REPO_ROOT / "pyproject.toml")
    packages = {
        p.parent.name: _version(p) for p in (REPO_ROOT / "packages").glob("*/pyproject.toml")
    }
    assert set(packages) == {"knative-events", "knative-manifests"}
    assert set(packages.values()) == {template}, packages
    assert default_context()["packages_version"] == template


def test_a_render_pins_the_released_packages(renderer: Renderer) -> None:
    pyproject = tomllib.loads((renderer.render({}) / "pyproject.toml").read_text(encoding="utf-8"))
    version = _version(REPO_ROOT / "pyproject.toml")
    pins = [*pyproject["project"]["dependencies"], *pyproject["dependency-groups"]["dev"]]
    assert f"knative-events=={version}" in pins
    assert f"knative-manifests[validate]=={version}" in pins
    # Rendered from a local checkout: uv takes the packages from that checkout.
    sources = pyproject["tool"]["uv"]["sources"]
    for name in ("knative-events", "knative-manifests"):
        source = Path(sources[name]["path"])
        assert source == renderer.template.resolve() / "packages" / name
        assert _version(source / "pyproject.toml") == version
