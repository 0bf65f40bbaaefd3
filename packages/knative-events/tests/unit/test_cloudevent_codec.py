"""from_http / from_http_batch / to_binary / to_structured, and interop with the SDK."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import pytest
from cloudevents.core.bindings import http as sdk_http
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent as SdkEvent
from pydantic import BaseModel

from knative_events.cloudevents import (
    CloudEvent,
    CloudEventSerializationError,
    CloudEventValidationError,
    from_http,
    from_http_batch,
    to_batch,
    to_binary,
    to_structured,
)
from knative_events.cloudevents.errors import UnsupportedContentTypeError

HEADERS = {
    "ce-specversion": "1.0",
    "ce-id": "abc",
    "ce-source": "/orders",
    "ce-type": "com.example.order.created",
    "content-type": "application/json",
}


def test_binary_mode() -> None:
    event = from_http({**HEADERS, "ce-subject": "o-1", "ce-traceparent": "00-1"}, b'{"n": 1}')
    assert (event.id, event.source, event.type, event.subject) == (
        "abc",
        "/orders",
        "com.example.order.created",
        "o-1",
    )
    assert event.data == {"n": 1}
    assert event.extensions == {"traceparent": "00-1"}


def test_header_names_are_case_insensitive_and_may_be_bytes() -> None:
    pairs = [(k.upper().encode(), v.encode()) for k, v in HEADERS.items()]
    assert from_http(pairs, b"[1]").data == [1]


def test_binary_header_values_are_percent_decoded() -> None:
    event = from_http({**HEADERS, "ce-subject": "caf%C3%A9%20au%20lait"}, b"")
    assert event.subject == "caf\u00e9 au lait"


def test_binary_without_ce_id_is_refused() -> None:
    headers = {k: v for k, v in HEADERS.items() if k != "ce-id"}
    with pytest.raises(CloudEventValidationError) as caught:
        from_http(headers, b"{}")
    assert caught.value.attribute == "id"
    assert "ce-id" in caught.value.detail


def test_missing_headers_are_all_named_before_any_data_error() -> None:
    headers = {k: v for k, v in HEADERS.items() if k not in ("ce-id", "ce-source")}
    with pytest.raises(CloudEventValidationError) as caught:
        from_http(headers, b"{not json")
    assert caught.value.attribute == "id"
    assert "ce-id, ce-source" in caught.value.detail


def test_a_plain_json_post_is_not_a_cloudevent() -> None:
    with pytest.raises(CloudEventValidationError, match="ce-specversion"):
        from_http({"content-type": "application/json"}, b"{}")


def test_binary_text_and_opaque_data() -> None:
    text = from_http({**HEADERS, "content-type": "text/plain"}, "h\u00e9".encode())
    assert text.data == "h\u00e9"
    blob = from_http({**HEADERS, "content-type": "application/octet-stream"}, b"\x00\xff")
    assert blob.data is None
    assert blob.data_bytes == b"\x00\xff"


def test_binary_bad_json_is_a_serialization_error() -> None:
    with pytest.raises(CloudEventSerializationError) as caught:
        from_http(HEADERS, b"{not json")
    assert caught.value.attribute == "data"


def test_binary_empty_body_has_no_data() -> None:
    assert from_http(HEADERS, b"").data is None


def test_structured_mode() -> None:
    body = orjson.dumps(
        {
            "specversion": "1.0",
            "id": "1",
            "source": "/s",
            "type": "t",
            "time": "2024-01-02T03:04:05Z",
            "data": {"a": 1},
            "comexampleext": "x",
        }
    )
    event = from_http({"content-type": "application/cloudevents+json; charset=utf-8"}, body)
    assert event.time == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert event.data == {"a": 1}
    assert event.extensions == {"comexampleext": "x"}


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"", "empty"), (b"{oops", "not valid JSON"), (b"[1]", "JSON object")],
)
def test_structured_mode_refuses_what_is_no_event(body: bytes, message: str) -> None:
    with pytest.raises(CloudEventSerializationError, match=message):
        from_http({"content-type": "application/cloudevents+json"}, body)


def test_structured_mode_enforces_required_attributes() -> None:
    body = orjson.dumps({"specversion": "1.0", "source": "/s", "type": "t"})
    with pytest.raises(CloudEventValidationError) as caught:
        from_http({"content-type": "application/cloudevents+json"}, body)
    assert caught.value.attribute == "id"


@pytest.mark.parametrize(
    "content_type",
    ["application/cloudevents+xml", "application/cloudevents", "application/cloudevents+avro"],
)
def test_other_event_formats_are_unsupported(content_type: str) -> None:
    with pytest.raises(UnsupportedContentTypeError) as caught:
        from_http({"content-type": content_type}, b"<event/>")
    assert caught.value.status == 415


def test_batch_mode() -> None:
    events = [CloudEvent(id=str(i), source="/s", type="t", data=i) for i in range(3)]
    headers, body = to_batch(events)
    assert headers["content-type"].startswith("application/cloudevents-batch+json")
    assert from_http_batch(headers, body) == events


def test_batch_errors_name_the_item() -> None:
    body = orjson.dumps([{"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}, {}])
    with pytest.raises(CloudEventValidationError, match=r"batch item \[1\]"):
        from_http_batch({"content-type": "application/cloudevents-batch+json"}, body)


def test_batch_needs_its_content_type_and_from_http_refuses_batches() -> None:
    with pytest.raises(UnsupportedContentTypeError):
        from_http_batch({"content-type": "application/json"}, b"[]")
    with pytest.raises(UnsupportedContentTypeError, match="from_http_batch"):
        from_http({"content-type": "application/cloudevents-batch+json"}, b"[]")


def test_to_binary_headers_and_body() -> None:
    event = CloudEvent(
        id="i d",
        source="/s",
        type="t",
        subject="caf\u00e9",
        time=datetime(2024, 1, 1, tzinfo=UTC),
        extensions={"flag": True, "count": 3},
        data={"k": "v"},
    )
    headers, body = to_binary(event)
    assert headers["ce-id"] == "i%20d"
    assert headers["ce-subject"] == "caf%C3%A9"
    assert headers["ce-time"] == "2024-01-01T00:00:00Z"
    assert headers["ce-flag"] == "true"
    assert headers["ce-count"] == "3"
    assert headers["content-type"] == "application/json"
    assert orjson.loads(body) == {"k": "v"}


def test_to_structured_document() -> None:
    event = CloudEvent(id="1", source="/s", type="t", data=b"\x01", datacontenttype="x/y")
    headers, body = to_structured(event)
    assert headers["content-type"].startswith("application/cloudevents+json")
    document = orjson.loads(body)
    assert document["data_base64"] == base64.b64encode(b"\x01").decode()
    assert "data" not in document


def test_pydantic_models_in_data_are_written_as_json() -> None:
    class Point(BaseModel):
        x: int

    _, body = to_binary(CloudEvent(id="1", source="/s", type="t", data={"p": Point(x=1)}))
    assert orjson.loads(body) == {"p": {"x": 1}}


def test_unserializable_data_is_a_serialization_error() -> None:
    with pytest.raises(CloudEventSerializationError, match="JSON"):
        to_binary(CloudEvent(id="1", source="/s", type="t", data={"x": object()}))


def test_text_data_must_be_a_string_in_binary_mode() -> None:
    event = CloudEvent(id="1", source="/s", type="t", datacontenttype="text/plain", data=[1])
    with pytest.raises(CloudEventSerializationError, match="must be a string"):
        to_binary(event)


def test_reads_what_the_sdk_writes() -> None:
    """The official SDK's binary and structured output decodes to the same event."""
    sdk_event = SdkEvent(
        attributes={
            "id": "sdk-1",
            "source": "/sdk",
            "type": "com.example.sdk",
            "subject": 'caf\u00e9 "quoted"',
            "time": datetime(2024, 3, 4, 5, 6, 7, tzinfo=UTC),
            "datacontenttype": "application/json",
            "myext": "v",
        },
        data={"hello": "world"},
    )
    for message in (
        sdk_http.to_binary(sdk_event, JSONFormat()),
        sdk_http.to_structured(sdk_event, JSONFormat()),
    ):
        event = from_http(message.headers, message.body)
        assert event.id == "sdk-1"
        assert event.subject == 'caf\u00e9 "quoted"'
        assert event.time == datetime(2024, 3, 4, 5, 6, 7, tzinfo=UTC)
        assert event.extensions == {"myext": "v"}
        assert event.data == {"hello": "world"}


def test_the_sdk_reads_what_we_write() -> None:
    event = CloudEvent(
        id="ours-1",
        source="https://example.com/x",
        type="com.example.ours",
        subject="a b%c",
        time=datetime(2024, 3, 4, 5, 6, 7, 890000, tzinfo=UTC),
        extensions={"myext": "v"},
        data={"n": [1, 2]},
    )
    for headers, body in (to_binary(event), to_structured(event)):
        sdk_event = sdk_http.from_http_event(sdk_http.HTTPMessage(headers=headers, body=body))
        assert sdk_event.get_id() == "ours-1"
        assert sdk_event.get_subject() == "a b%c"
        assert sdk_event.get_time() == event.time
        assert sdk_event.get_extension("myext") == "v"
        assert sdk_event.get_data() == {"n": [1, 2]}
