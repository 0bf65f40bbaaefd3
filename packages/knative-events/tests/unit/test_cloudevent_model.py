"""The CloudEvent model and the attribute rules it shares with the parser."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from knative_events.cloudevents.errors import CloudEventValidationError
from knative_events.cloudevents.models import (
    CloudEvent,
    DataKind,
    check_attributes,
    data_kind,
    event_from_mapping,
    format_time,
    parse_time,
)

VALID: dict[str, Any] = {"specversion": "1.0", "id": "1", "source": "/src", "type": "t"}


def test_defaults_of_a_minimal_event() -> None:
    event = CloudEvent(id="1", source="/src", type="t")
    assert event.specversion == "1.0"
    assert event.datacontenttype == "application/json"
    assert event.data is None
    assert event.extensions == {}


@pytest.mark.parametrize("name", ["id", "source", "type", "specversion"])
def test_a_missing_required_attribute_is_named(name: str) -> None:
    raw = {k: v for k, v in VALID.items() if k != name}
    with pytest.raises(CloudEventValidationError) as caught:
        check_attributes(raw)
    assert caught.value.attribute == name
    assert "missing" in caught.value.detail


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("id", "", "must not be empty"),
        ("id", 7, "must be a string"),
        ("type", "", "must not be empty"),
        ("source", "", "must not be empty"),
        ("source", "has space", "URI-reference"),
        ("source", "1bad:scheme", "URI-reference"),
        ("source", "/bad%zzescape", "URI-reference"),
        ("source", "/two#frag#ments", "URI-reference"),
        ("source", "/caf\u00e9", "URI-reference"),
        ("specversion", "0.3", "must be '1.0'"),
        ("specversion", "", "must not be empty"),
        ("time", "2024-01-01", "RFC 3339"),
        ("time", "2024-01-01T00:00:00", "RFC 3339"),
        ("time", "2024-13-01T00:00:00Z", "not a valid timestamp"),
        ("time", 1700000000, "RFC 3339 string"),
        ("subject", "", "must not be empty"),
        ("datacontenttype", "json", "media type"),
        ("dataschema", "relative/path", "absolute URI"),
    ],
)
def test_an_invalid_attribute_is_refused_by_name(name: str, value: object, message: str) -> None:
    with pytest.raises(CloudEventValidationError) as caught:
        check_attributes({**VALID, name: value})
    assert caught.value.attribute == name
    assert message in caught.value.detail


def test_the_model_constructor_applies_the_same_rules() -> None:
    with pytest.raises(CloudEventValidationError) as caught:
        CloudEvent(id="", source="/s", type="t")
    assert caught.value.attribute == "id"


@pytest.mark.parametrize(
    "source",
    ["/relative/path", "https://example.com/a?b=c#d", "urn:uuid:6e8bc430-9c3a", "a%20b", "x"],
)
def test_uri_references_are_accepted_as_source(source: str) -> None:
    assert event_from_mapping({**VALID, "source": source}).source == source


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-06T07:08:09Z", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
        ("2024-05-06t07:08:09.5z", datetime(2024, 5, 6, 7, 8, 9, 500000, tzinfo=UTC)),
        (
            "2024-05-06T07:08:09+02:00",
            datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=2))),
        ),
    ],
)
def test_rfc3339_times_parse(text: str, expected: datetime) -> None:
    assert parse_time(text) == expected


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(CloudEventValidationError, match="timezone-aware"):
        CloudEvent(id="1", source="/s", type="t", time=datetime(2024, 1, 1))


def test_times_are_written_in_utc_with_z() -> None:
    moment = datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=-3)))
    assert format_time(moment) == "2024-01-01T15:00:00Z"


def test_times_at_the_edge_of_the_calendar_keep_their_offset() -> None:
    edge = parse_time("0001-01-01T00:00:00+05:30")
    assert parse_time(format_time(edge)) == edge


def test_unknown_keys_become_extensions() -> None:
    event = event_from_mapping({**VALID, "traceparent": "00-abc", "partitionkey": 3, "ok": True})
    assert event.extensions == {"traceparent": "00-abc", "partitionkey": 3, "ok": True}


def test_extensions_given_as_keywords_or_mapping_merge() -> None:
    event = CloudEvent(id="1", source="/s", type="t", extensions={"a": "1"}, b="2")
    assert event.extensions == {"a": "1", "b": "2"}


def test_on_the_wire_extensions_is_an_ordinary_extension_name() -> None:
    event = event_from_mapping({**VALID, "extensions": "plain"})
    assert event.extensions == {"extensions": "plain"}


def test_null_extensions_count_as_absent() -> None:
    assert event_from_mapping({**VALID, "gone": None}).extensions == {}


@pytest.mark.parametrize("name", ["UPPER", "with_underscore", "dash-ed", "data", "id"])
def test_extension_names_follow_the_spec(name: str) -> None:
    with pytest.raises(CloudEventValidationError) as caught:
        CloudEvent(id="1", source="/s", type="t", extensions={name: "v"})
    assert caught.value.attribute == name


def test_long_extension_names_are_accepted() -> None:
    """The 20-character limit is a SHOULD in the spec: other senders may exceed it."""
    name = "a" * 30
    assert event_from_mapping({**VALID, name: "v"}).extensions == {name: "v"}


@pytest.mark.parametrize("value", [1.5, [1], {"a": 1}, 2**40])
def test_extension_values_must_be_string_integer_or_boolean(value: object) -> None:
    with pytest.raises(CloudEventValidationError) as caught:
        event_from_mapping({**VALID, "ext": value})
    assert caught.value.attribute == "ext"


def test_bytes_data_is_carried_as_base64() -> None:
    event = CloudEvent(id="1", source="/s", type="t", datacontenttype="image/png", data=b"\x89PNG")
    assert event.data is None
    assert event.data_base64 == base64.b64encode(b"\x89PNG").decode()
    assert event.data_bytes == b"\x89PNG"


def test_data_and_data_base64_are_exclusive() -> None:
    with pytest.raises(CloudEventValidationError) as caught:
        event_from_mapping({**VALID, "data": 1, "data_base64": "AA=="})
    assert caught.value.attribute == "data_base64"


def test_data_base64_must_be_base64() -> None:
    with pytest.raises(CloudEventValidationError, match="base64"):
        event_from_mapping({**VALID, "data_base64": "not base64!"})


def test_fast_construction_equals_a_constructed_event() -> None:
    """event_from_mapping skips the constructor: the result must still be identical."""
    raw = {**VALID, "subject": "s", "time": "2024-01-01T00:00:00Z", "data": {"a": [1]}, "x": "y"}
    fast = event_from_mapping(raw)
    built = CloudEvent(
        id="1",
        source="/src",
        type="t",
        subject="s",
        time="2024-01-01T00:00:00Z",
        data={"a": [1]},
        x="y",
    )
    assert fast == built
    assert fast.attributes() == built.attributes()
    assert fast.time == datetime(2024, 1, 1, tzinfo=UTC)
    assert fast != event_from_mapping({**raw, "id": "2"})
    # attributes() feeds the constructor back: the way to copy an event with changes
    assert CloudEvent(**fast.attributes()) == fast
    assert CloudEvent(**{**fast.attributes(), "id": "2"}).id == "2"
    assert "id='1'" in repr(fast)
    assert "x" in repr(fast)


def test_events_are_compared_by_value_and_are_not_hashable() -> None:
    first = CloudEvent(id="1", source="/s", type="t", data={"a": 1})
    assert first == CloudEvent(id="1", source="/s", type="t", data={"a": 1})
    assert first != CloudEvent(id="1", source="/s", type="t", data={"a": 2})
    assert first != {"id": "1"}
    with pytest.raises(TypeError):
        hash(first)


def test_pydantic_validates_a_cloudevent_field_by_the_same_rules() -> None:
    from pydantic import BaseModel, ValidationError

    class Envelope(BaseModel):
        event: CloudEvent

    parsed = Envelope.model_validate({"event": {**VALID, "data": {"a": 1}, "ext": "v"}})
    assert parsed.event == event_from_mapping({**VALID, "data": {"a": 1}, "ext": "v"})
    assert Envelope(event=parsed.event).event is parsed.event
    dumped = Envelope(event=parsed.event).model_dump(mode="json")
    assert dumped["event"] == {
        **VALID,
        "datacontenttype": "application/json",
        "ext": "v",
        "data": {"a": 1},
    }
    with pytest.raises(ValidationError, match="'source' must be a URI-reference"):
        Envelope.model_validate({"event": {**VALID, "source": "has space"}})
    with pytest.raises(ValidationError, match="must be given as an object"):
        Envelope.model_validate({"event": "text"})
    schema = Envelope.model_json_schema()
    event_schema = schema["properties"]["event"]
    assert event_schema["required"] == ["specversion", "id", "source", "type"]


def test_start_up_imports_only_what_the_event_path_needs() -> None:
    """FastAPI loads on first use, prometheus-client on the first scrape, pydantic only with
    a data model, httpx only with the emitter; the package's public names cost no more."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    import knative_events

    # A fresh interpreter that finds the package where this test run found it.
    source_root = str(Path(knative_events.__file__).resolve().parents[1])
    path = os.pathsep.join(filter(None, [source_root, os.environ.get("PYTHONPATH")]))
    lazy = ("fastapi", "prometheus_client", "pydantic", "httpx", "knative_manifests")
    probe = (
        "import sys\n"
        "from knative_events import CloudEvent, HandlerRegistry, Settings, create_app\n"
        "create_app(Settings(environ={}), registry=HandlerRegistry())\n"
        f"print(sorted(set({lazy!r}) & set(sys.modules)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("content_type", "kind"),
    [
        (None, DataKind.JSON),
        ("application/json", DataKind.JSON),
        ("application/vnd.acme+json; charset=utf-8", DataKind.JSON),
        ("text/plain", DataKind.TEXT),
        ("application/xml", DataKind.TEXT),
        ("application/octet-stream", DataKind.BINARY),
        ("image/png", DataKind.BINARY),
    ],
)
def test_data_kinds(content_type: str | None, kind: DataKind) -> None:
    assert data_kind(content_type) is kind


def test_long_sender_values_bypass_the_caches() -> None:
    """Caches keyed by sender-written values hold only short keys (bounded memory)."""
    from knative_events.cloudevents import models

    before = models._cached_is_source.cache_info().currsize
    long_source = "/" + "a" * 10_000
    assert event_from_mapping({**VALID, "source": long_source}).source == long_source
    assert data_kind("application/" + "x" * 10_000) is DataKind.BINARY
    assert models._cached_is_source.cache_info().currsize == before
    assert models._cached_data_kind.cache_info().currsize <= 256
