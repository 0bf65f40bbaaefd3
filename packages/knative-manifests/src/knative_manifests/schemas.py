"""Validate manifests against the OpenAPI v3 schemas of their CustomResourceDefinitions.

The API server checks a custom resource against its CRD's schema and, with
``kubectl apply --validate=strict``, refuses fields the schema does not declare, except inside
subtrees marked ``x-kubernetes-preserve-unknown-fields: true``. jsonschema checks types and
constraints; this module adds that structural strictness (which plain JSON Schema cannot
express for OpenAPI CRDs), Kubernetes' int-or-string and embedded-resource extensions, and
ObjectMeta checks. Built-in kinds go through kubernetes-validate's strict schemas. A kind
with neither schema is an error: a typo in ``kind`` must not pass silently.

jsonschema and kubernetes-validate (the ``validate`` extra) are imported only when a
document is checked, so the models and manifests of this package import without them (the
event runtime uses those in a container image that has no schema tooling).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import versions, yamlio
from .rules import Violation

if TYPE_CHECKING:
    import jsonschema

OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "labels",
        "annotations",
        "finalizers",
        "ownerReferences",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
    }
)
_EMBEDDED_FIELDS = frozenset({"apiVersion", "kind", "metadata"})

GroupVersionKind = tuple[str, str, str]


_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "definitions"})
_SCHEMA_VALUED = frozenset({"items", "additionalProperties", "not", "anyOf", "allOf", "oneOf"})


def _to_json_schema(node: Any) -> Any:
    """OpenAPI v3 (as CRDs use it) -> JSON Schema draft 4 that jsonschema understands."""
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key in ("nullable", "default", "example"):
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            # A map of name -> schema: its keys are field names, never keywords.
            result[key] = {k: _to_json_schema(v) for k, v in value.items()}
        elif key in _SCHEMA_VALUED:
            result[key] = _to_json_schema(value)
        else:
            result[key] = value
    if node.get("x-kubernetes-int-or-string"):
        result.pop("type", None)
        result["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and isinstance(result.get("type"), str):
        result["type"] = [result["type"], "null"]
    return result


def _path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


CrdDirs = Path | Sequence[Path]


def _directories(crds: CrdDirs) -> list[Path]:
    return [crds] if isinstance(crds, Path) else list(crds)


class CrdIndex:
    """Every CRD version found under one or more directories, by (group, version, kind).

    A service's CRDs come from several sets (Knative's of its version, Argo CD's, Istio's),
    so the index reads each directory given (``versions.crd_directories`` picks them).
    """

    def __init__(self, crds: CrdDirs) -> None:
        self.directories = _directories(crds)
        self.schemas: dict[GroupVersionKind, dict[str, Any]] = {}
        for directory in self.directories:
            if not directory.is_dir():
                raise FileNotFoundError(f"CRD directory {directory} does not exist")
            for path in sorted(directory.rglob("*.yaml")):
                for doc in yamlio.load_all_file(path):
                    if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                        self._add(doc)

    def _add(self, crd: Mapping[str, Any]) -> None:
        spec = crd.get("spec") or {}
        group, kind = spec.get("group", ""), (spec.get("names") or {}).get("kind", "")
        for version in spec.get("versions") or []:
            schema = ((version.get("schema") or {}).get("openAPIV3Schema")) or {
                "type": "object",
                "x-kubernetes-preserve-unknown-fields": True,
            }
            self.schemas[(group, version.get("name", ""), kind)] = schema


class SchemaValidator:
    """Checks one manifest against its CRD (strictly) or its built-in Kubernetes schema."""

    def __init__(self, crds_dir: CrdDirs | None, kubernetes_version: str | None = None) -> None:
        """``kubernetes_version`` checks core kinds; ``None`` is that of a service that
        states no Knative version (``versions.UNSTATED_VERSION``)."""
        self.crds_dir = crds_dir
        self.kubernetes_version = kubernetes_version or versions.get(None).kubernetes_version
        self._validators: dict[GroupVersionKind, jsonschema.Draft4Validator] = {}

    @cached_property
    def index(self) -> CrdIndex | None:
        return None if self.crds_dir is None else CrdIndex(self.crds_dir)

    def validate(self, doc: Mapping[str, Any]) -> list[Violation]:
        """Every schema violation of ``doc`` (empty when it is valid)."""
        kind = doc.get("kind") if isinstance(doc, Mapping) else None
        api_version = doc.get("apiVersion") if isinstance(doc, Mapping) else None
        name = (doc.get("metadata") or {}).get("name", "") if isinstance(doc, Mapping) else ""
        if not isinstance(kind, str) or not isinstance(api_version, str):
            return [Violation("schema/type-meta", "apiVersion and kind are required", "", "")]
        name = name if isinstance(name, str) else ""
        group, _, version = api_version.rpartition("/")
        key = (group, version, kind)

        def found(rule: str, message: str, path: str = "") -> Violation:
            return Violation(rule, message, kind, name, path)

        if self.index is not None and key in self.index.schemas:
            return [found(*item) for item in self._crd_errors(doc, key)]
        import kubernetes_validate  # noqa: PLC0415 - the optional `validate` extra

        try:
            kubernetes_validate.validate(dict(doc), self.kubernetes_version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            where = "in the CRDs given" if self.index is not None else "(no CRD directory given)"
            return [found("schema/unknown-kind", f"no schema for {api_version} {kind} {where}")]
        except kubernetes_validate.ValidationError as error:
            return [
                found(
                    f"schema/{error.validator}",
                    error.message,
                    _path(error.absolute_path),
                )
            ]
        return []

    def _validator(self, key: GroupVersionKind) -> jsonschema.Draft4Validator:
        if key not in self._validators:
            import jsonschema  # noqa: PLC0415 - the optional `validate` extra

            assert self.index is not None  # noqa: S101 - only called with an index
            schema = dict(_to_json_schema(self.index.schemas[key]))
            properties = dict(schema.get("properties") or {})
            properties.pop("metadata", None)  # ObjectMeta is checked by _metadata_errors
            schema["properties"] = properties
            self._validators[key] = jsonschema.Draft4Validator(schema)
        return self._validators[key]

    def _crd_errors(
        self, doc: Mapping[str, Any], key: GroupVersionKind
    ) -> Iterator[tuple[str, str, str]]:
        assert self.index is not None  # noqa: S101 - only called with an index
        schema = self.index.schemas[key]
        yield from _metadata_errors(doc.get("metadata"), "metadata")
        for field in doc:
            if field in _EMBEDDED_FIELDS:
                continue
            if field not in (schema.get("properties") or {}) and not schema.get(
                "x-kubernetes-preserve-unknown-fields"
            ):
                yield "schema/unknown-field", f'unknown field "{field}"', field
            else:
                sub = (schema.get("properties") or {}).get(field)
                if sub is not None:
                    yield from _unknown_fields(doc[field], sub, field)
        for error in sorted(self._validator(key).iter_errors(dict(doc)), key=str):
            yield f"schema/{error.validator}", error.message, _path(error.absolute_path)


def _metadata_errors(meta: Any, path: str) -> Iterator[tuple[str, str, str]]:
    if meta is None:
        return
    if not isinstance(meta, Mapping):
        yield "schema/metadata", "metadata must be an object", path
        return
    for key, value in meta.items():
        if key not in OBJECT_META_FIELDS:
            yield "schema/unknown-field", f'unknown field "{key}" in ObjectMeta', f"{path}.{key}"
        elif key in ("labels", "annotations"):
            if not isinstance(value, Mapping):
                yield "schema/metadata", f"{key} must be a map of strings", f"{path}.{key}"
                continue
            for item, text in value.items():
                if not isinstance(text, str):
                    yield (
                        "schema/metadata",
                        f"{key} values must be strings: {item}={text!r}",
                        f"{path}.{key}.{item}",
                    )
        elif key in ("name", "generateName", "namespace") and not isinstance(value, str):
            yield "schema/metadata", f"{key} must be a string", f"{path}.{key}"


def _unknown_fields(
    value: Any, schema: Mapping[str, Any], path: str
) -> Iterator[tuple[str, str, str]]:
    """Fields the schema does not declare, outside x-kubernetes-preserve-unknown-fields."""
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for index, item in enumerate(value):
            yield from _unknown_fields(item, schema["items"], f"{path}[{index}]")
        return
    if not isinstance(value, Mapping):
        return
    properties = schema.get("properties")
    additional = schema.get("additionalProperties")
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    embedded = bool(schema.get("x-kubernetes-embedded-resource"))
    if embedded and "metadata" in value:
        yield from _metadata_errors(value.get("metadata"), f"{path}.metadata")
    for key, item in value.items():
        where = f"{path}.{key}"
        if embedded and key in _EMBEDDED_FIELDS:
            continue
        if isinstance(properties, Mapping) and key in properties:
            yield from _unknown_fields(item, properties[key], where)
        elif isinstance(additional, Mapping):
            yield from _unknown_fields(item, additional, where)
        elif not preserve and additional is not True:
            yield "schema/unknown-field", f'unknown field "{key}"', where
