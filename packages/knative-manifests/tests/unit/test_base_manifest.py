"""The hand-written base Service and the Python model describe the same manifest.

The fixture service's deployments/knative/base/service.yaml is what kustomize deploys;
KnativeServiceConfig is what the code reasons about. Reading the file into the model and
writing it back must give the file again, byte for byte, so neither can change without the
other noticing.
"""

from __future__ import annotations

import yaml
from knative_world import PROJECT_ROOT

from knative_manifests import constants as c
from knative_manifests.config import class_short_name
from knative_manifests.manifest import (
    deserialize_knative_service,
    manifest_to_service,
    serialize_knative_service,
    service_to_manifest,
)
from knative_manifests.rules import check_documents

BASE_SERVICE = PROJECT_ROOT / "deployments" / "knative" / "base" / "service.yaml"


def test_base_service_round_trips_as_a_document() -> None:
    document = yaml.safe_load(BASE_SERVICE.read_text(encoding="utf-8"))
    assert service_to_manifest(manifest_to_service(document)) == document


def test_base_service_round_trips_byte_for_byte() -> None:
    text = BASE_SERVICE.read_text(encoding="utf-8")
    assert serialize_knative_service(deserialize_knative_service(text)) == text


def test_base_service_reads_as_the_fixture_says() -> None:
    """The model reads what the file states, not defaults: every field the base sets."""
    config = deserialize_knative_service(BASE_SERVICE.read_text(encoding="utf-8"))
    assert config.name == "order-events"
    assert config.port == 8081
    assert class_short_name(config.autoscaling_class) == c.KPA
    assert (config.autoscaling_metric, config.autoscaling_target) == ("rps", 150)
    assert (config.min_scale, config.max_scale, config.scale_down_delay) == (0, 6, "1m")
    assert (config.container_concurrency, config.timeout_seconds) == (50, 120)
    assert (config.cpu_request, config.cpu_limit) == ("200m", "500m")
    assert (config.memory_request, config.memory_limit) == ("128Mi", "512Mi")
    assert config.istio_sidecar is True
    # No tag, no digest: the overlays name the digest CI built (images entries).
    assert config.image == "ghcr.io/acme/order-events"
    assert config.scratch_volumes == {"scratch": "/tmp"}  # noqa: S108 - a mount path


def test_base_service_passes_the_admission_rules() -> None:
    document = yaml.safe_load(BASE_SERVICE.read_text(encoding="utf-8"))
    assert check_documents([document]) == []


def test_base_service_uses_the_constants_keys() -> None:
    document = yaml.safe_load(BASE_SERVICE.read_text(encoding="utf-8"))
    annotations = document["spec"]["template"]["metadata"]["annotations"]
    assert {c.ANNOTATION_CLASS, c.ANNOTATION_METRIC, c.ANNOTATION_TARGET} <= set(annotations)
    assert annotations[c.ANNOTATION_CLASS] in (c.KPA_CLASS, c.HPA_CLASS)
