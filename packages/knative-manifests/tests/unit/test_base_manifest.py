"""The hand-written base Service and the Python model describe the same manifest.

deployments/knative/base/service.yaml is what kustomize deploys; KnativeServiceConfig is
what the code reasons about. Reading the file into the model and writing it back must give
the file again, byte for byte, so neither can change without the other noticing.
"""

from __future__ import annotations

import yaml
from knative_world import PROJECT_ROOT

from {{ package_name }}.knative import constants as c
from {{ package_name }}.knative.config import class_short_name
from {{ package_name }}.knative.manifest import (
    deserialize_knative_service,
    manifest_to_service,
    serialize_knative_service,
    service_to_manifest,
)
from {{ package_name }}.knative.rules import check_documents

BASE_SERVICE = PROJECT_ROOT / "deployments" / "knative" / "base" / "service.yaml"


def test_base_service_round_trips_as_a_document() -> None:
    document = yaml.safe_load(BASE_SERVICE.read_text(encoding="utf-8"))
    assert service_to_manifest(manifest_to_service(document)) == document


def test_base_service_round_trips_byte_for_byte() -> None:
    text = BASE_SERVICE.read_text(encoding="utf-8")
    assert serialize_knative_service(deserialize_knative_service(text)) == text


def test_base_service_matches_the_rendered_answers() -> None:
    config = deserialize_knative_service(BASE_SERVICE.read_text(encoding="utf-8"))
    answers = yaml.safe_load((PROJECT_ROOT / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert config.name == answers["service_name"]
    assert config.port == answers["port"]
    assert class_short_name(config.autoscaling_class) == answers["autoscaling_class"]
    assert config.autoscaling_metric == answers["autoscaling_metric"]
    assert config.container_concurrency == answers["container_concurrency"]
    assert config.timeout_seconds == answers["timeout_seconds"]
    assert config.istio_sidecar == answers["istio"]
    assert config.image.startswith(answers["image"] + ":")


def test_base_service_passes_the_admission_rules() -> None:
    document = yaml.safe_load(BASE_SERVICE.read_text(encoding="utf-8"))
    assert check_documents([document]) == []


def test_base_service_uses_the_constants_keys() -> None:
    document = yaml.safe_load(BASE_SERVICE.read_text(encoding="utf-8"))
    annotations = document["spec"]["template"]["metadata"]["annotations"]
    assert {c.ANNOTATION_CLASS, c.ANNOTATION_METRIC, c.ANNOTATION_TARGET} <= set(annotations)
    assert annotations[c.ANNOTATION_CLASS] in (c.KPA_CLASS, c.HPA_CLASS)
