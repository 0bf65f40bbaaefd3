"""Hypothesis properties of the CloudEvents adapter (design properties 6, 7 and 8)."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
from cloudevents.core.bindings import http as sdk_http
from hypothesis import given, settings
from hypothesis import strategies as st

from knative_events.cloudevents import (
    CloudEvent,
    CloudEventValidationError,
    from_http,
    to_binary,
    to_structured,
)
from knative_events.cloudevents.models import CONTEXT_ATTRIBUTES

STRUCTURED = {"content-type": "application/cloudevents+json"}

# Any Unicode text that can be written as UTF-8 (no lone surrogates).
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)
non_empty = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=30)
uri_chars = string.ascii_letters + string.digits + "-._~:/?[]@!$&'()*+,;="
sources = st.one_of(
    st.builds(lambda p: "/" + p, st.text(uri_chars, max_size=20)),
    st.builds(
        lambda h, p: f"https://{h}.example/{p}", st.text("abc", min_size=1), st.text(uri_chars)
    ),
    st.just("urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66"),
)
extension_names = st.from_regex(r"[a-z0-9]{1,20}", fullmatch=True).filter(
    lambda name: name not in CONTEXT_ATTRIBUTES and name != "data"
)
times = st.datetimes(
    min_value=datetime(1, 1, 2),  # naive bounds; the drawn datetimes get a timezone
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from(
        [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=8))]
    ),
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=10,
)


@st.composite
def events(draw: st.DrawFn, extension_values: st.SearchStrategy[Any] = text) -> CloudEvent:
    """Valid events of every shape: JSON, text or opaque data, optional attributes, extensions."""
    kind = draw(st.sampled_from(["json", "text", "binary", "none"]))
    fields: dict[str, Any] = {
        "id": draw(non_empty),
        "source": draw(sources),
        "type": draw(non_empty),
        "subject": draw(st.none() | non_empty),
        "time": draw(st.none() | times),
        "dataschema": draw(st.none() | st.just("https://schemas.example/v1.json")),
        "extensions": draw(st.dictionaries(extension_names, extension_values, max_size=3)),
    }
    if kind == "json":
        fields["datacontenttype"] = draw(
            st.sampled_from(["application/json", "application/x+json"])
        )
        fields["data"] = draw(json_values)
    elif kind == "text":
        fields["datacontenttype"] = "text/plain; charset=utf-8"
        fields["data"] = draw(non_empty)
    elif kind == "binary":
        fields["datacontenttype"] = "application/octet-stream"
        fields["data"] = draw(st.binary(min_size=1, max_size=64))
    else:
        # None stands for "absent", which means JSON.
        fields["datacontenttype"] = draw(st.sampled_from([None, "application/json"]))
    return CloudEvent(**fields)


# Property 6 ------------------------------------------------------------------------------

VALID_VALUES = {"specversion": "1.0", "id": "id-1", "source": "/s", "type": "com.example.t"}
INVALID_VALUES: dict[str, list[Any]] = {
    "specversion": ["", "0.3", "1", 1.0],
    "id": ["", 1, ["x"]],
    "source": ["", "has space", "9bad:scheme", "/bad%zz", 3],
    "type": ["", 2, {"a": 1}],
}
# Absent, or one of the invalid values; None stands for "absent".
variants = st.fixed_dictionaries(
    {
        name: st.sampled_from(["valid", "missing", "invalid"]).flatmap(
            lambda choice, name=name: (
                st.just(VALID_VALUES[name])
                if choice == "valid"
                else st.just(None)
                if choice == "missing"
                else st.sampled_from(INVALID_VALUES[name])
            )
        )
        for name in VALID_VALUES
    }
)


def _is_valid(name: str, value: Any) -> bool:
    return value == VALID_VALUES[name]


def _decode(headers: dict[str, str], body: bytes) -> tuple[bool, str | None]:
    """(accepted, attribute named by the refusal)."""
    try:
        event = from_http(headers, body)
    except CloudEventValidationError as error:
        return False, error.attribute
    assert (event.id, event.source, event.type) == ("id-1", "/s", "com.example.t")
    return True, None


@given(attributes=variants, optional=st.dictionaries(extension_names, text, max_size=2))
@settings(max_examples=100)
def test_validation_accepts_iff_required_attributes_are_valid(
    attributes: dict[str, Any], optional: dict[str, str]
) -> None:
    """
    **Feature: knative-serverless-support, Property 6: CloudEvent Validation**
    **Validates: Requirements 10.2**

    For any attribute set, structured-mode and binary-mode decoding (and the model)
    accept if and only if id, source, type and specversion are present and valid; a
    refusal names one of the attributes at fault.
    """
    expected = all(_is_valid(name, value) for name, value in attributes.items())
    faulty = {name for name, value in attributes.items() if not _is_valid(name, value)}
    present = {name: value for name, value in attributes.items() if value is not None}
    document = {**optional, **present}

    requests = [(STRUCTURED, orjson.dumps(document))]
    if all(isinstance(value, str) for value in present.values()):
        requests.append(({f"ce-{name}": value for name, value in document.items()}, b""))
    for headers, body in requests:
        accepted, attribute = _decode(headers, body)
        assert accepted is expected
        assert accepted or attribute in faulty


# Properties 7 and 8 ------------------------------------------------------------------------


@given(event=events(), mode=st.sampled_from(["binary", "structured"]))
@settings(max_examples=100)
def test_round_trip_in_either_mode(event: CloudEvent, mode: str) -> None:
    """
    **Feature: knative-serverless-support, Property 7: CloudEvent Round-Trip**
    **Validates: Requirements 8.5, 10.5**

    For any valid CloudEvent, serializing in structured or binary mode and decoding gives
    an equal event (attributes, extensions and data).
    """
    headers, body = to_binary(event) if mode == "binary" else to_structured(event)
    assert from_http(headers, body) == event


@given(
    event=events(extension_values=st.one_of(text, st.booleans(), st.integers(-(2**31), 2**31 - 1)))
)
@settings(max_examples=100)
def test_structured_mode_keeps_typed_extensions(event: CloudEvent) -> None:
    """
    **Feature: knative-serverless-support, Property 7: CloudEvent Round-Trip**
    **Validates: Requirements 8.5, 10.5**

    Structured mode keeps boolean and integer extension values as JSON types (binary
    mode carries every extension as a string, as the HTTP binding requires).
    """
    assert from_http(*to_structured(event)) == event


@given(event=events())
@settings(max_examples=100)
def test_both_modes_produce_valid_output_that_decodes_to_the_original(event: CloudEvent) -> None:
    """
    **Feature: knative-serverless-support, Property 8: CloudEvent Serialization Modes**
    **Validates: Requirements 10.3**

    For any valid CloudEvent, binary and structured output are each well-formed (the
    required attributes are where the HTTP binding puts them, the official SDK reads
    them) and both decode to the original event.
    """
    binary_headers, binary_body = to_binary(event)
    structured_headers, structured_body = to_structured(event)
    assert {"ce-specversion", "ce-id", "ce-source", "ce-type"} <= set(binary_headers)
    assert all(value.isascii() for value in binary_headers.values())
    document = orjson.loads(structured_body)
    assert {"specversion", "id", "source", "type"} <= set(document)
    for headers, body in ((binary_headers, binary_body), (structured_headers, structured_body)):
        assert from_http(headers, body) == event
        sdk_event = sdk_http.from_http_event(sdk_http.HTTPMessage(headers=headers, body=body))
        assert (sdk_event.get_id(), sdk_event.get_source(), sdk_event.get_type()) == (
            event.id,
            event.source,
            event.type,
        )
