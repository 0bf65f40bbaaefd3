"""A model and an admission rule that check the same limit say the same thing.

Both call the one function in ``limits.py``; these tests build the same bad value both
ways and compare the messages, so a second, drifting copy of a bound would show here.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from service_tree import REQUIRED_SETTINGS

from knative_manifests import constants as c
from knative_manifests.config import KnativeServiceConfig, TrafficTarget
from knative_manifests.errors import KnativeManifestError
from knative_manifests.manifest import service_to_manifest
from knative_manifests.rules import check_documents

IMAGE = "ghcr.io/example/app@sha256:" + "0f" * 32  # overlays name digests, not tags


def model_error(**overrides: Any) -> KnativeManifestError:
    settings = {"name": "app", "image": IMAGE, **REQUIRED_SETTINGS, **overrides}
    with pytest.raises(KnativeManifestError) as caught:
        KnativeServiceConfig(**settings)
    return caught.value


def rule_messages(rule: str, edit: Any) -> list[str]:
    manifest = service_to_manifest(
        KnativeServiceConfig(name="app", image=IMAGE, **REQUIRED_SETTINGS)
    )
    edit(manifest)
    return [v.message for v in check_documents([manifest]) if v.rule == rule]


def template(manifest: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = manifest["spec"]["template"]
    return result


def annotate(key: str, value: str) -> Any:
    return lambda m: template(m)["metadata"]["annotations"].__setitem__(key, value)


def pod(key: str, value: object) -> Any:
    return lambda m: template(m)["spec"].__setitem__(key, value)


def resources(m: dict[str, Any]) -> None:
    template(m)["spec"]["containers"][0]["resources"] = {
        "requests": {"cpu": "2", "memory": "128Mi"},
        "limits": {"cpu": "1", "memory": "256Mi"},
    }


def port(m: dict[str, Any]) -> None:
    template(m)["spec"]["containers"][0]["ports"][0]["containerPort"] = 8012


CASES = [
    (
        "serving/container-concurrency-range",
        {"container_concurrency": 1001},
        pod("containerConcurrency", 1001),
    ),
    ("serving/timeout-range", {"timeout_seconds": 601}, pod("timeoutSeconds", 601)),
    ("serving/reserved-port", {"port": 8012}, port),
    (
        "security/request-not-above-limit",
        {"cpu_request": "2", "cpu_limit": "1"},
        resources,
    ),
    (
        "autoscaling/scale-down-delay",
        {"scale_down_delay": "2h"},
        annotate(c.ANNOTATION_SCALE_DOWN_DELAY, "2h"),
    ),
    (
        "autoscaling/min-not-above-max",
        {"min_scale": 5, "max_scale": 2},
        lambda m: (
            annotate(c.ANNOTATION_MIN_SCALE, "5")(m),
            annotate(c.ANNOTATION_MAX_SCALE, "2")(m),
        ),
    ),
    ("autoscaling/max-scale-range", {"max_scale": -1}, annotate(c.ANNOTATION_MAX_SCALE, "-1")),
    (
        "autoscaling/target-minimum",
        {"autoscaling_target": 0.001},
        annotate(c.ANNOTATION_TARGET, "0.001"),
    ),
    (
        "autoscaling/hpa-no-scale-to-zero",
        {"autoscaling_class": "hpa", "autoscaling_metric": "cpu", "min_scale": 0},
        lambda m: (
            annotate(c.ANNOTATION_CLASS, c.HPA_CLASS)(m),
            annotate(c.ANNOTATION_METRIC, "cpu")(m),
        ),
    ),
]


@pytest.mark.parametrize(("rule", "overrides", "edit"), CASES, ids=[c[0] for c in CASES])
def test_model_and_rule_report_the_same_message(
    rule: str, overrides: dict[str, Any], edit: Any
) -> None:
    error = model_error(**overrides)
    assert error.rule == rule
    assert rule_messages(rule, edit) == [error.message]


def test_a_traffic_percent_is_bounded_the_same_way() -> None:
    with pytest.raises(KnativeManifestError) as caught:
        TrafficTarget("app-1", 101)

    def split(m: dict[str, Any]) -> None:
        m["spec"]["traffic"] = [
            {"revisionName": "app-1", "percent": 101},
            {"latestRevision": True, "percent": -1},
        ]

    assert rule_messages("traffic/percent-range", split)[0] == caught.value.message


def test_a_manifest_may_retry_more_often_than_a_model_allows() -> None:
    """Knative caps no retry count; the model (and the template's question) does."""
    above = c.DELIVERY_RETRY_MAX + 1
    trigger = {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": "Trigger",
        "metadata": {"name": "t"},
        "spec": {
            "broker": "default",
            "subscriber": {"uri": "https://example.com/"},
            "delivery": {"retry": above},
        },
    }
    assert [v.rule for v in check_documents([trigger])] == []
    trigger["spec"]["delivery"] = {"retry": -1}  # type: ignore[index]
    assert [v.rule for v in check_documents([trigger])] == ["delivery/retry-range"]


def test_the_models_import_without_the_validate_extra() -> None:
    """The runtime builds manifests in an image without jsonschema or kubernetes-validate."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('jsonschema', 'kubernetes_validate'):\n"
        "            raise ImportError('blocked: ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import knative_manifests.config, knative_manifests.manifest\n"
        "import knative_manifests.constants, knative_manifests.formats\n"
        "import knative_manifests.schemas, knative_manifests.validate, knative_manifests.cli\n"
        "assert 'jsonschema' not in sys.modules and 'kubernetes_validate' not in sys.modules\n"
        "try:\n"
        "    import jsonschema\n"
        "except ImportError:\n"
        "    print('blocked')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "blocked"  # the blocker works, so the imports above held
