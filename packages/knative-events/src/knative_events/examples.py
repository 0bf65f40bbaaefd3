"""A valid example of a handler's data, built from its pydantic model's JSON Schema.

``knative-events send`` without ``--data`` and the ``event_factory`` test fixture both need
an event a handler accepts, whatever model its owner gave it. pydantic writes the model's
JSON Schema; this module walks it and picks, for each value, what the schema itself offers
first (``const``, ``examples``, ``default``, the first ``enum`` member) and otherwise the
smallest value of the right type that meets the constraints (lengths, bounds, formats,
required properties). The result is validated against the model before it is returned, so
an example that the model would refuse is reported instead of sent.

Written by hand: the JSON Schema example generators on PyPI either produce random data
(hypothesis-jsonschema: needs hypothesis at run time) or ignore ``$ref``/``examples``; a
deterministic, dependency-free walk of the subset pydantic emits is short.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

#: Nesting deeper than this is a recursive model: the walk stops with an error.
MAX_DEPTH = 32

_FORMATS: dict[str, str] = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "00:00:00Z",
    "duration": "PT1S",
    "email": "someone@example.com",
    "uri": "https://example.com/",
    "uri-reference": "/example",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "hostname": "example.com",
}


class ExampleError(ValueError):
    """No example can be built from the schema (or the model refuses the one built)."""


def example_for_schema(schema: Mapping[str, Any]) -> Any:
    """An example value for JSON Schema ``schema`` (pydantic's dialect, with ``$defs``)."""
    return _Walker(schema).value(schema, 0)


def example_for_model(model: type[BaseModel]) -> Any:
    """A JSON example ``model`` accepts (checked with ``model.model_validate``)."""
    from pydantic import ValidationError  # noqa: PLC0415 - the caller has pydantic loaded

    value = example_for_schema(model.model_json_schema())
    try:
        model.model_validate(value)
    except ValidationError as error:
        raise ExampleError(
            f"the example built from {model.__name__}'s JSON Schema is refused by the model "
            f"({error.errors()[0]['msg']}); pass data explicitly"
        ) from None
    return value


class _Walker:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.definitions: Mapping[str, Any] = root.get("$defs") or root.get("definitions") or {}

    def value(self, schema: Any, depth: int) -> Any:  # noqa: PLR0911, PLR0912 - one branch per keyword
        if depth > MAX_DEPTH:
            raise ExampleError("the schema nests deeper than it can be followed (recursive?)")
        if schema is True or schema == {}:
            return {}
        if not isinstance(schema, Mapping):
            raise ExampleError(f"not a schema: {schema!r}")
        if "$ref" in schema:
            return self.value(self._resolve(schema["$ref"]), depth + 1)
        if "const" in schema:
            return schema["const"]
        if schema.get("examples"):
            examples = schema["examples"]
            return examples[0] if isinstance(examples, list) else examples
        if "default" in schema:
            return schema["default"]
        if schema.get("enum"):
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            if schema.get(key):
                options = schema[key]
                chosen = next((o for o in options if o.get("type") != "null"), options[0])
                return self.value(chosen, depth + 1)
        if schema.get("allOf"):
            merged: dict[str, Any] = {}
            for part in schema["allOf"]:
                merged.update(self._resolve(part["$ref"]) if "$ref" in part else part)
            return self.value(merged, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind == "object" or (kind is None and "properties" in schema):
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, depth)
        if kind == "string":
            return self._string(schema)
        if kind == "integer":
            return int(self._number(schema, integer=True))
        if kind == "number":
            return self._number(schema, integer=False)
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return {}

    def _resolve(self, ref: str) -> Any:
        prefix = next((p for p in ("#/$defs/", "#/definitions/") if ref.startswith(p)), None)
        if prefix is None or ref[len(prefix) :] not in self.definitions:
            raise ExampleError(f"cannot follow $ref {ref!r}")
        return self.definitions[ref[len(prefix) :]]

    def _object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        properties: Mapping[str, Any] = schema.get("properties") or {}
        required = schema.get("required") or []
        result = {name: self.value(properties.get(name, {}), depth + 1) for name in required}
        for name, sub in properties.items():
            # Optional fields with a default are shown too: the example documents them.
            if name not in result and isinstance(sub, Mapping) and "default" in sub:
                result[name] = sub["default"]
        return result

    def _array(self, schema: Mapping[str, Any], depth: int) -> list[Any]:
        count = max(int(schema.get("minItems", 0)), 1)
        prefix = schema.get("prefixItems") or []
        items = [self.value(sub, depth + 1) for sub in prefix]
        item_schema = schema.get("items", {})
        while len(items) < count and item_schema is not False:
            items.append(self.value(item_schema, depth + 1))
        return items

    @staticmethod
    def _string(schema: Mapping[str, Any]) -> str:
        if "pattern" in schema:
            raise ExampleError(
                f"a string must match the pattern {schema['pattern']!r}: give the field an "
                "example (Field(examples=[...])) or pass data explicitly"
            )
        text = _FORMATS.get(str(schema.get("format")), "example")
        low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
        if len(text) < low:
            text = text + "x" * (low - len(text))
        if high is not None and len(text) > int(high):
            text = text[: int(high)]
        return text

    @staticmethod
    def _number(schema: Mapping[str, Any], *, integer: bool) -> float:
        value: float = 1
        if "minimum" in schema:
            value = max(value, schema["minimum"])
        if "exclusiveMinimum" in schema:
            value = max(value, schema["exclusiveMinimum"] + 1)
        if "maximum" in schema:
            value = min(value, schema["maximum"])
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            low = schema.get("minimum", schema.get("exclusiveMinimum", value - 2))
            value = (low + schema["exclusiveMaximum"]) / 2
        if integer and value != int(value):
            value = int(value) + 1
        multiple = schema.get("multipleOf")
        if multiple and value % multiple:
            value = (value // multiple + 1) * multiple
        return value
