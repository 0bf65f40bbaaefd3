"""Schema validation is strict like `kubectl apply --validate=strict`, except where a CRD
says x-kubernetes-preserve-unknown-fields.

The fixture CRD below is written for these tests (not copied from upstream): it has exactly
the structural features the real Knative, Argo CD and Istio CRDs use.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from knative_manifests.schemas import SchemaValidator

WIDGET_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.test
spec:
  group: example.test
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            apiVersion: {type: string}
            kind: {type: string}
            metadata: {type: object}
            spec:
              type: object
              required: [size]
              properties:
                size: {type: integer, minimum: 1, maximum: 10}
                mode: {type: string, enum: [fast, slow]}
                port:
                  x-kubernetes-int-or-string: true
                labels:
                  type: object
                  additionalProperties: {type: string}
                items:
                  type: array
                  items:
                    type: object
                    properties:
                      name: {type: string}
                free:
                  type: object
                  x-kubernetes-preserve-unknown-fields: true
                  properties:
                    known: {type: string}
                template:
                  type: object
                  x-kubernetes-embedded-resource: true
                  properties:
                    spec:
                      type: object
                      properties:
                        replicas: {type: integer}
            status:
              type: object
              x-kubernetes-preserve-unknown-fields: true
"""

WIDGET: dict[str, Any] = {
    "apiVersion": "example.test/v1",
    "kind": "Widget",
    "metadata": {"name": "w", "namespace": "ns", "annotations": {"a": "b"}},
    "spec": {
        "size": 3,
        "mode": "fast",
        "port": 8080,
        "labels": {"team": "x"},
        "items": [{"name": "one"}],
        "free": {"known": "k", "anything": {"goes": [1, 2]}},
        "template": {
            "apiVersion": "v1",
            "kind": "Thing",
            "metadata": {"name": "inner"},
            "spec": {"replicas": 2},
        },
    },
}


@pytest.fixture(scope="module")
def validator(tmp_path_factory: pytest.TempPathFactory) -> SchemaValidator:
    crds = tmp_path_factory.mktemp("crds")
    (crds / "example").mkdir()
    (crds / "example" / "widgets.yaml").write_text(WIDGET_CRD, encoding="utf-8")
    (crds / "example" / "not-a-crd.yaml").write_text("kind: ConfigMap\n", encoding="utf-8")
    return SchemaValidator(crds)


def rules_for(validator: SchemaValidator, doc: dict[str, Any]) -> list[tuple[str, str]]:
    return [(v.rule, v.path) for v in validator.validate(doc)]


def mutated(path: list[str | int], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(WIDGET)
    node: Any = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


def test_valid_widget_passes(validator: SchemaValidator) -> None:
    assert validator.validate(WIDGET) == []


def test_crds_are_discovered_by_kind(validator: SchemaValidator) -> None:
    assert validator.index is not None
    assert set(validator.index.schemas) == {("example.test", "v1", "Widget")}


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (["spec", "colour"], "red", ("schema/unknown-field", "spec.colour")),
        (["spec", "items", 0, "extra"], 1, ("schema/unknown-field", "spec.items[0].extra")),
        (
            ["spec", "template", "spec", "extra"],
            1,
            ("schema/unknown-field", "spec.template.spec.extra"),
        ),
        (
            ["spec", "template", "metadata", "bogus"],
            1,
            ("schema/unknown-field", "spec.template.metadata.bogus"),
        ),
        (["metadata", "bogus"], 1, ("schema/unknown-field", "metadata.bogus")),
        (
            ["metadata", "annotations", "replicas"],
            5,
            ("schema/metadata", "metadata.annotations.replicas"),
        ),
        (["spec", "size"], 11, ("schema/maximum", "spec.size")),
        (["spec", "size"], "3", ("schema/type", "spec.size")),
        (["spec", "mode"], "medium", ("schema/enum", "spec.mode")),
        (["spec", "port"], 1.5, ("schema/anyOf", "spec.port")),
        (["spec", "free", "known"], 5, ("schema/type", "spec.free.known")),
        (["spec", "labels", "team"], 1, ("schema/type", "spec.labels.team")),
        (["bogus"], 1, ("schema/unknown-field", "bogus")),
    ],
)
def test_broken_widget_is_rejected(
    validator: SchemaValidator, path: list[str | int], value: Any, expected: tuple[str, str]
) -> None:
    assert rules_for(validator, mutated(path, value)) == [expected]


def test_required_fields_are_enforced(validator: SchemaValidator) -> None:
    doc = copy.deepcopy(WIDGET)
    del doc["spec"]["size"]
    assert rules_for(validator, doc) == [("schema/required", "spec")]


@pytest.mark.parametrize("port", [8080, "http"])
def test_int_or_string_accepts_both(validator: SchemaValidator, port: int | str) -> None:
    assert validator.validate(mutated(["spec", "port"], port)) == []


def test_preserved_subtrees_keep_unknown_fields(validator: SchemaValidator) -> None:
    doc = mutated(["spec", "free", "nested"], {"deep": {"deeper": True}})
    doc["status"] = {"anything": 1}
    assert validator.validate(doc) == []


def test_unknown_kind_is_an_error(validator: SchemaValidator) -> None:
    doc = {"apiVersion": "example.test/v1", "kind": "Gadget", "metadata": {"name": "g"}}
    (violation,) = validator.validate(doc)
    assert violation.rule == "schema/unknown-kind"
    assert violation.kind == "Gadget"


def test_missing_type_meta_is_an_error(validator: SchemaValidator) -> None:
    assert [v.rule for v in validator.validate({"metadata": {"name": "x"}})] == ["schema/type-meta"]


def test_core_kinds_use_the_strict_kubernetes_schemas(validator: SchemaValidator) -> None:
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    assert validator.validate({**config_map, "data": {"A": "b"}}) == []
    assert [v.rule for v in validator.validate({**config_map, "datum": {}})] == [
        "schema/additionalProperties"
    ]
    assert [v.rule for v in validator.validate({**config_map, "data": {"A": 1}})] == ["schema/type"]


def test_core_kinds_work_without_a_crd_directory() -> None:
    validator = SchemaValidator(None)
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa"}}
    assert validator.validate(account) == []
    (violation,) = validator.validate(WIDGET)
    assert violation.rule == "schema/unknown-kind"
    assert "no CRD directory" in violation.message


def test_a_missing_crd_directory_is_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        _ = SchemaValidator(tmp_path / "absent").index
