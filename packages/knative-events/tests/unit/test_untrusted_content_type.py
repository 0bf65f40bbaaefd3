"""Trust no sender: ``datacontenttype`` is an RFC 9110 media type and its charset is honoured.

Binary mode carries it in the Content-Type header, structured mode as an attribute; both
go through the same check, and a bad value is a 4xx problem naming ``datacontenttype``.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from pydantic import BaseModel

from knative_events import CloudEvent, HandlerRegistry, create_app
from knative_events.cloudevents.endpoint import EventEndpoint
from knative_events.cloudevents.errors import (
    CloudEventSerializationError,
    CloudEventValidationError,
    UnsupportedCharsetError,
    UnsupportedContentTypeError,
)
from knative_events.cloudevents.models import DataKind, media_type
from knative_events.cloudevents.parser import from_http
from knative_events.cloudevents.serializer import to_binary
from knative_events.settings import Settings
from knative_events.testing import EventClient

ATTRIBUTES = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t.record"}
STRUCTURED = {"content-type": "application/cloudevents+json"}

BAD_MEDIA_TYPES = [
    "text/plain; a=\r\nX-Evil: 1",  # header injection
    "text/plain\n",  # a trailing line end ($ would have let it through)
    "text/plain\r",
    "text/plain\x00",
    "text/plain; a=b\x00",
    'text/plain; a="\x7f"',  # DEL
    'text/plain; a="\x85"',  # a C1 control (NEL)
    "text/plain; a=\u20ac",  # not Latin-1, unquoted
    'text/plain; a="\u20ac"',  # not Latin-1, quoted
    "text/pl\u0101in",
    "text",
    "text/",
    "/plain",
    "text/plain/x",
    " text/plain",
    "text /plain",
    "text/plain; a",
    "text/plain; a=",
    "text/plain; =b",
    "text/plain; a=b c",
    'text/plain; a="unterminated',
    'text/plain; a="x"y',
    "text/plain, text/html",
    "text/plain; a=\tb",
]
GOOD_MEDIA_TYPES = [
    "text/plain",
    "TEXT/Plain",
    "application/json;charset=UTF-8",
    'text/plain; charset="utf-8"',
    'text/plain; a="x;y \\"z\\""; b=c',
    'application/vnd.example+json; profile="https://example.com/v1"',
    "text/plain ; a=b ;c=d",
    "text/plain;",
    'text/plain; a="caf\u00e9"',  # obs-text (Latin-1) inside a quoted string
]


def make_registry(received: list[tuple[CloudEvent, Any]]) -> HandlerRegistry:
    registry = HandlerRegistry()

    class Item(BaseModel):
        name: str

    @registry.on("t.record")
    async def record(event: CloudEvent, data: object) -> None:
        received.append((event, data))

    @registry.on("t.model", data=Item)
    async def model(event: CloudEvent, data: Item) -> None:
        received.append((event, data))

    return registry


@pytest.fixture
def received() -> list[tuple[CloudEvent, Any]]:
    return []


@pytest.fixture
async def client(received: list[tuple[CloudEvent, Any]]) -> AsyncIterator[EventClient]:
    app = create_app(Settings(environ={}, log_level="WARNING"), registry=make_registry(received))
    async with EventClient(app) as client:
        yield client


async def post_binary(
    received: list[tuple[CloudEvent, Any]], content_type: bytes, body: bytes
) -> tuple[int, dict[str, Any]]:
    """Drive the endpoint with raw header bytes, as a server passes them (CR, LF, NUL...)."""
    endpoint = EventEndpoint(
        make_registry(received),
        max_body_bytes=10_000,
        handler_timeout_seconds=5.0,
        max_concurrent_handlers=10,
    )
    headers = [(f"ce-{k}".encode(), v.encode()) for k, v in ATTRIBUTES.items()]
    headers.append((b"content-type", content_type))
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await endpoint(
        {"type": "http", "method": "POST", "path": "/", "headers": headers}, receive, send
    )
    document = orjson.loads(sent[1]["body"]) if sent[1]["body"] else {}
    return sent[0]["status"], document


@pytest.mark.parametrize("value", BAD_MEDIA_TYPES)
async def test_structured_mode_refuses_a_bad_datacontenttype(
    client: EventClient, received: list[Any], value: str
) -> None:
    body = orjson.dumps({**ATTRIBUTES, "datacontenttype": value, "data": "x"})
    result = await client.post(body, STRUCTURED)
    assert result.status == 400
    assert result.problem is not None
    assert result.problem["attribute"] == "datacontenttype"
    assert received == []


@pytest.mark.parametrize("value", [v for v in BAD_MEDIA_TYPES if v.isascii() or max(v) <= "\xff"])
async def test_binary_mode_refuses_a_bad_content_type(received: list[Any], value: str) -> None:
    status, problem = await post_binary(received, value.encode("latin-1"), b"x")
    assert status == 400
    assert problem["attribute"] == "datacontenttype"
    assert received == []


async def test_binary_mode_refuses_a_bad_content_type_even_without_a_body(
    received: list[Any],
) -> None:
    status, problem = await post_binary(received, b"text/plain; a=\r\nX-Evil: 1", b"")
    assert (status, problem["attribute"]) == (400, "datacontenttype")


@pytest.mark.parametrize("value", GOOD_MEDIA_TYPES)
async def test_valid_media_types_are_accepted_in_both_modes(
    client: EventClient, received: list[tuple[CloudEvent, Any]], value: str
) -> None:
    body = orjson.dumps({**ATTRIBUTES, "datacontenttype": value, "data": "x"})
    assert (await client.post(body, STRUCTURED)).status == 202
    status, _ = await post_binary(received, value.encode("latin-1"), b'"x"')
    assert status == 202
    assert [event.datacontenttype for event, _ in received] == [value, value]


def test_the_model_constructor_applies_the_same_media_type_rule() -> None:
    with pytest.raises(CloudEventValidationError) as caught:
        CloudEvent(id="1", source="/s", type="t", datacontenttype="text/plain\r\nX: 1")
    assert caught.value.attribute == "datacontenttype"
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("value", "codec"),
    [
        ("text/plain", "utf-8"),
        ("text/plain; charset=UTF-8", "utf-8"),
        ("text/plain; charset=us-ascii", "ascii"),
        ('text/plain; charset="US-ASCII"', "ascii"),
        ("text/plain; charset=iso-8859-1", "latin-1"),
        ("application/json; charset=latin1", "latin-1"),
        ("text/plain; charset=latin-1", "latin-1"),
        ("text/plain; format=flowed; charset=ISO_8859-1", "latin-1"),
        ('text/plain; a="charset=us-ascii"', "utf-8"),  # inside a quoted value: no parameter
    ],
)
def test_the_charset_parameter_selects_the_codec(value: str, codec: str) -> None:
    assert media_type(value)[1] == codec


def test_opaque_data_has_no_codec_whatever_its_charset() -> None:
    assert media_type("application/octet-stream; charset=klingon") == (DataKind.BINARY, None)


async def test_latin1_text_is_decoded_as_latin1(
    received: list[tuple[CloudEvent, Any]],
) -> None:
    body = "caf\u00e9 cr\u00e8me".encode("latin-1")
    status, _ = await post_binary(received, b"text/plain; charset=iso-8859-1", body)
    assert status == 202
    assert received[0][1] == "caf\u00e9 cr\u00e8me"


async def test_latin1_json_is_decoded_as_latin1(
    received: list[tuple[CloudEvent, Any]],
) -> None:
    body = '{"name": "caf\u00e9"}'.encode("latin-1")
    status, _ = await post_binary(received, b"application/json; charset=ISO-8859-1", body)
    assert status == 202
    assert received[0][1] == {"name": "caf\u00e9"}


async def test_latin1_bytes_without_a_charset_are_not_read_as_utf8(
    received: list[Any],
) -> None:
    status, problem = await post_binary(received, b"text/plain", "caf\u00e9".encode("latin-1"))
    assert (status, problem["attribute"]) == (400, "data")
    assert received == []


@pytest.mark.parametrize(
    "content_type", [b"text/plain; charset=us-ascii", b"application/json; charset=ascii"]
)
async def test_us_ascii_data_with_other_bytes_is_refused(
    received: list[Any], content_type: bytes
) -> None:
    status, problem = await post_binary(received, content_type, '"caf\u00e9"'.encode())
    assert (status, problem["attribute"]) == (400, "data")
    assert "ascii" in problem["detail"]


@pytest.mark.parametrize("charset", ["utf-16", "klingon", "rot13", "zlib", '"utf-8 "'])
async def test_an_unsupported_charset_is_a_415_naming_it(
    client: EventClient, received: list[Any], charset: str
) -> None:
    value = f"text/plain; charset={charset}"
    status, problem = await post_binary(received, value.encode(), b"x")
    assert (status, problem["attribute"]) == (415, "datacontenttype")
    assert charset.strip('"') in problem["detail"]
    body = orjson.dumps({**ATTRIBUTES, "datacontenttype": value, "data": "x"})
    result = await client.post(body, STRUCTURED)
    assert result.status == 415
    assert result.problem is not None
    assert result.problem["attribute"] == "datacontenttype"
    assert received == []


def test_an_unsupported_charset_is_a_validation_error_of_the_constructor() -> None:
    with pytest.raises(UnsupportedCharsetError) as caught:
        CloudEvent(id="1", source="/s", type="t", datacontenttype="text/plain; charset=utf-7")
    assert isinstance(caught.value, CloudEventValidationError)
    assert isinstance(caught.value, UnsupportedContentTypeError)
    assert caught.value.status == 415


async def test_a_model_handler_reads_latin1_json() -> None:
    endpoint_received: list[tuple[CloudEvent, Any]] = []
    endpoint = EventEndpoint(
        make_registry(endpoint_received),
        max_body_bytes=10_000,
        handler_timeout_seconds=5.0,
        max_concurrent_handlers=10,
    )
    event = from_http(
        {
            **{f"ce-{k}": v for k, v in ATTRIBUTES.items()},
            "ce-type": "t.model",
            "content-type": "application/json; charset=latin1",
        },
        '{"name": "\u00e9"}'.encode("latin-1"),
    )
    assert await endpoint.run(event) is None
    assert endpoint_received[0][1].name == "\u00e9"


def test_replies_are_written_in_their_charset_and_read_back() -> None:
    for content_type, data in [
        ("text/plain; charset=iso-8859-1", "caf\u00e9"),
        ("application/json; charset=latin1", {"name": "caf\u00e9"}),
        ("application/json; charset=us-ascii", {"name": "cafe"}),
    ]:
        event = CloudEvent(id="1", source="/s", type="t", datacontenttype=content_type, data=data)
        headers, body = to_binary(event)
        if "charset=iso" in content_type or "latin1" in content_type:
            assert "\u00e9".encode("latin-1") in body
        assert from_http(headers, body) == event


@pytest.mark.parametrize(
    ("content_type", "data"),
    [("text/plain; charset=iso-8859-1", "\u20ac"), ("application/json; charset=ascii", ["\u00e9"])],
)
def test_data_the_charset_cannot_hold_is_a_serialization_error(
    content_type: str, data: Any
) -> None:
    event = CloudEvent(id="1", source="/s", type="t", datacontenttype=content_type, data=data)
    with pytest.raises(CloudEventSerializationError) as caught:
        to_binary(event)
    assert caught.value.attribute == "data"


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("application/cloudevents+json; a=\r\nX-Evil: 1", 400),
        ("application/cloudevents+json; charset", 400),
        ("application/cloudevents+json; charset=iso-8859-1", 415),
        ("application/cloudevents+json; charset=klingon", 415),
        ("application/cloudevents-batch+json; a=\x00", 400),
        ("application/cloudevents-batch+json; charset=us-ascii", 415),
    ],
)
async def test_the_structured_and_batch_content_type_is_checked_in_full(
    content_type: str, status: int
) -> None:
    endpoint = EventEndpoint(
        make_registry([]),
        max_body_bytes=10_000,
        handler_timeout_seconds=5.0,
        max_concurrent_handlers=10,
    )
    with pytest.raises(CloudEventValidationError) as caught:
        endpoint.parse(content_type, {}, orjson.dumps(ATTRIBUTES))
    assert (caught.value.status, caught.value.attribute) == (status, "datacontenttype")


@pytest.mark.parametrize(
    "content_type",
    [
        "application/cloudevents+json",
        "Application/CloudEvents+JSON; charset=UTF-8",
        'application/cloudevents+json;charset="utf-8"',
    ],
)
def test_utf8_structured_content_types_are_read(content_type: str) -> None:
    event = from_http({"content-type": content_type}, orjson.dumps(ATTRIBUTES))
    assert event.type == "t.record"


@pytest.mark.parametrize(
    "value",
    [
        "a/b;" + " " * 65_536 + "\x00",
        "a/b" + "; " * 32_768 + "\x00",
        "a/b" + ";a=b " * 16_384 + "\x00",
        'a/b; a="' + "\\a" * 32_768 + "\x00",
    ],
)
def test_a_long_hostile_media_type_is_refused_in_linear_time(value: str) -> None:
    started = time.perf_counter()
    with pytest.raises(CloudEventValidationError):
        media_type(value)
    assert time.perf_counter() - started < 0.5
