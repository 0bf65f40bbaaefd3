"""`validate` matches the service's Triggers with its handler registry.

Each test writes its own small registry module (a unique module name per test, so Python's
module cache never hands one test another test's registry) into a copy of the fixture
service and points ``[tool.knative-manifests] registry`` at it.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from service_tree import copy_service

from knative_manifests.cli import main
from knative_manifests.handlers import (
    HANDLER_MISSING,
    HANDLER_UNROUTED,
    HandlerTypes,
    RegistryImportError,
    check_handlers,
    load_registry,
)
from knative_manifests.project import ProjectConfig
from knative_manifests.validate import validate_tree

ROUTED = ("com.acme.order.placed", "com.acme.order.cancelled")
_NUMBERS = itertools.count()

REGISTRY_MODULE = """
class Registration:
    def __init__(self, direct_only):
        self.direct_only = direct_only


class Registry:
    def __init__(self, **types):
        self._types = {{name.replace("_", "."): Registration(d) for name, d in types.items()}}

    @property
    def types(self):
        return sorted(self._types)

    def get(self, event_type):
        return self._types.get(event_type)


registry = Registry({arguments})
"""


def write_registry(root: Path, handlers: dict[str, bool], *, body: str | None = None) -> str:
    """A module under ``root/src`` whose ``registry`` handles ``handlers`` (type: direct_only).

    Returns the ``module:attribute`` to configure.
    """
    name = f"km_test_handlers_{next(_NUMBERS)}"
    arguments = ", ".join(f"{t.replace('.', '_')}={d}" for t, d in handlers.items())
    text = body if body is not None else REGISTRY_MODULE.format(arguments=arguments)
    (root / "src" / f"{name}.py").write_text(text, encoding="utf-8")
    return f"{name}:registry"


def configure(root: Path, table: str) -> None:
    pyproject = root / "pyproject.toml"
    head = pyproject.read_text(encoding="utf-8").split("[tool.knative-manifests]")[0]
    pyproject.write_text(f"{head}[tool.knative-manifests]\n{table}", encoding="utf-8")


@pytest.fixture
def service(tmp_path: Path) -> Path:
    return copy_service(tmp_path / "service")


@pytest.fixture(autouse=True)
def _restore_sys_path() -> Iterator[None]:
    """load_registry puts <root>/src on sys.path; keep each test's path to itself."""
    saved = list(sys.path)
    yield
    sys.path[:] = saved


def run(root: Path, *extra: str) -> int:
    return main(["validate", "--root", str(root), *extra])


def test_matching_handlers_and_triggers_pass_without_warnings(service: Path) -> None:
    spec = write_registry(service, dict.fromkeys(ROUTED, False))
    configure(service, f'registry = "{spec}"\n')
    report = validate_tree(service)
    assert report.ok, "\n".join(map(str, report.violations))
    assert report.warnings == []


def test_a_trigger_without_a_handler_fails(
    service: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_registry(service, {ROUTED[0]: False})
    configure(service, f'registry = "{spec}"\n')

    assert run(service) == 1

    out = capsys.readouterr().out
    missing = [line for line in out.splitlines() if f"[{HANDLER_MISSING}]" in line]
    assert len(missing) == 3  # once per environment
    for env, line in zip(("dev", "prod", "staging"), missing, strict=True):
        assert line.startswith(f"{env}: Trigger/order-events-cancelled: ")
        assert "Trigger order-events-cancelled routes events of type" in line
        assert "'com.acme.order.cancelled'" in line
    assert out.rstrip().endswith("3 violation(s)")


def test_a_handler_no_trigger_routes_is_a_warning_only(
    service: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_registry(service, {**dict.fromkeys(ROUTED, False), "com.acme.refund": False})
    configure(service, f'registry = "{spec}"\n')

    assert run(service) == 0

    out = capsys.readouterr().out.splitlines()
    warnings = [line for line in out if line.startswith("WARNING: ")]
    assert len(warnings) == 1
    assert f"[{HANDLER_UNROUTED}]" in warnings[0]
    assert "'com.acme.refund'" in warnings[0]
    assert "direct_only=True" in warnings[0]
    assert out[-1] == "26 documents in 3 environments: ok, 1 warning(s)"


def test_a_direct_only_handler_needs_no_trigger(service: Path) -> None:
    spec = write_registry(service, {**dict.fromkeys(ROUTED, False), "com.acme.refund": True})
    configure(service, f'registry = "{spec}"\n')
    report = validate_tree(service)
    assert report.ok
    assert report.warnings == []


def test_a_trigger_without_a_type_filter_reaches_every_handler(service: Path) -> None:
    triggers = service / "deployments/knative/eventing/triggers.yaml"
    docs = list(yaml.safe_load_all(triggers.read_text(encoding="utf-8")))
    del docs[1]["spec"]["filter"]
    triggers.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    spec = write_registry(service, {ROUTED[0]: False, "com.acme.refund": False})
    configure(service, f'registry = "{spec}"\n')
    report = validate_tree(service)
    assert report.ok, "\n".join(map(str, report.violations))
    assert report.warnings == []


def test_without_a_registry_nothing_is_matched(service: Path) -> None:
    triggers = service / "deployments/knative/eventing/triggers.yaml"
    docs = list(yaml.safe_load_all(triggers.read_text(encoding="utf-8")))
    docs[0]["spec"]["filter"]["attributes"]["type"] = "com.acme.nobody.handles.this"
    triggers.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    configure(service, "canary-percent = 20\n")
    report = validate_tree(service)
    assert report.ok
    assert report.warnings == []
    # The same tree with the fixture's registry fails: the check is what tells them apart.
    with_registry = ProjectConfig(root=service, registry="order_events.handlers:registry")
    failed = validate_tree(service, project=with_registry)
    assert {v.rule for v in failed.violations} == {HANDLER_MISSING}


@pytest.mark.parametrize(
    ("body", "spec_suffix", "expected"),
    [
        ("raise RuntimeError('broken on import')\n", ":registry", "RuntimeError: broken on"),
        ("registry = 'not a registry'\n", ":registry", "not a handler registry"),
        ("x = 1\n", ":registry", "AttributeError"),
    ],
)
def test_a_registry_that_cannot_be_used_is_a_usage_error(
    service: Path,
    capsys: pytest.CaptureFixture[str],
    body: str,
    spec_suffix: str,
    expected: str,
) -> None:
    spec = write_registry(service, {}, body=body)
    configure(service, f'registry = "{spec}"\n')

    assert run(service) == 2

    out = capsys.readouterr().out
    assert f"'{spec}'" in out
    assert expected in out
    with pytest.raises(RegistryImportError, match=expected):
        validate_tree(service)


def test_a_missing_module_names_the_registry_and_the_exception(service: Path) -> None:
    configure(service, 'registry = "km_no_such_module.handlers:registry"\n')
    with pytest.raises(RegistryImportError) as raised:
        validate_tree(service)
    message = str(raised.value)
    assert "'km_no_such_module.handlers:registry'" in message
    assert "ModuleNotFoundError" in message
    assert str(service / "pyproject.toml") in message


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('registry = "no colon here"\n', "registry must be a string"),
        ("registry = 5\n", "registry must be a string"),
        ('registry = "a.b:c"\nregistery = "typo"\n', "unknown key(s) registery"),
        ("canary-percent = true\n", "canary-percent must be an integer"),
    ],
)
def test_a_bad_table_is_a_usage_error_naming_key_and_file(
    service: Path, capsys: pytest.CaptureFixture[str], table: str, message: str
) -> None:
    configure(service, table)
    assert run(service) == 2
    out = capsys.readouterr().out
    assert message in out
    assert str(service / "pyproject.toml") in out


def test_the_root_defaults_to_the_nearest_pyproject_upward(
    service: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = write_registry(service, {ROUTED[1]: False})
    configure(service, f'registry = "{spec}"\n')
    monkeypatch.chdir(service / "deployments" / "knative")
    assert main(["validate", "--env", "dev"]) == 1
    assert "order-events-placed" in capsys.readouterr().out


def test_check_handlers_reads_only_triggers_to_this_repository_s_services() -> None:
    service = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "mine"},
    }

    def trigger(name: str, subscriber: str, event_type: str) -> dict[str, object]:
        ref = {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": subscriber}
        return {
            "apiVersion": "eventing.knative.dev/v1",
            "kind": "Trigger",
            "metadata": {"name": name},
            "spec": {
                "broker": "default",
                "filter": {"attributes": {"type": event_type}},
                "subscriber": {"ref": ref},
            },
        }

    handlers = HandlerTypes({"a.handled": False, "c.unrouted": False, "d.direct": True})
    docs: list[dict[str, Any]] = [
        service,
        trigger("t1", "mine", "a.handled"),
        trigger("t2", "mine", "b.unhandled"),
        trigger("t3", "someone-else", "e.elsewhere"),
    ]
    found = check_handlers(handlers, {"qa": docs})
    assert [(v.rule, v.name, v.env) for v in found.violations] == [(HANDLER_MISSING, "t2", "qa")]
    assert [v.rule for v in found.warnings] == [HANDLER_UNROUTED]
    assert "'c.unrouted'" in found.warnings[0].message


def test_load_registry_reads_the_fixture_service() -> None:
    from service_tree import SERVICE_ROOT

    handlers = load_registry("order_events.handlers:registry", SERVICE_ROOT)
    assert handlers.types == ["com.acme.order.audit", *sorted(ROUTED)]
    assert handlers.direct_only["com.acme.order.audit"] is True
    assert handlers.direct_only[ROUTED[0]] is False
    assert str(SERVICE_ROOT / "src") not in sys.path, "the import leaves sys.path as it was"


def test_two_services_with_one_package_name_each_get_their_own_registry(tmp_path: Path) -> None:
    """One process validates several services (a test suite, a monorepo script): no service
    may be checked against another's handlers because Python cached its package."""
    complete = copy_service(tmp_path / "complete")
    partial = copy_service(tmp_path / "partial")
    handlers = partial / "src" / "order_events" / "handlers.py"
    handlers.write_text(
        handlers.read_text(encoding="utf-8").replace(
            '    Registration("com.acme.order.cancelled"),\n', ""
        ),
        encoding="utf-8",
    )
    modules_before = {n: m for n, m in sys.modules.items() if n.startswith("order_events")}
    path_before = list(sys.path)
    assert validate_tree(complete).ok
    missing = validate_tree(partial)
    assert {v.rule for v in missing.violations} == {HANDLER_MISSING}
    assert all("com.acme.order.cancelled" in v.message for v in missing.violations)
    assert validate_tree(complete).ok
    # The caller's interpreter is left as it was.
    assert {n: m for n, m in sys.modules.items() if n.startswith("order_events")} == modules_before
    assert sys.path == path_before
