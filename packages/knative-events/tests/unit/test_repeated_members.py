"""Trust no sender: an attribute sent twice is refused, never "the last one wins".

Binary mode: a ``ce-*`` header (or Content-Type) twice, names compared case-insensitively.
Structured and batch mode: a member twice in an event object, however it is escaped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from knative_events.cloudevents import parser
from knative_events.cloudevents.endpoint import EventEndpoint
from knative_events.cloudevents.errors import CloudEventValidationError
from knative_events.cloudevents.models import CloudEvent
from knative_events.cloudevents.parser import from_http, from_http_batch
from knative_events.cloudevents.registry import HandlerRegistry

HEADERS = [
    (b"ce-specversion", b"1.0"),
    (b"ce-id", b"1"),
    (b"ce-source", b"/s"),
    (b"ce-type", b"t"),
    (b"content-type", b"application/json"),
]
EVENT = '"specversion": "1.0", "id": "1", "source": "/s", "type": "t"'


def obj(*members: str) -> str:
    """An event object: the four required attributes, then ``members``."""
    return "{" + ", ".join([EVENT, *members]) + "}"


STRUCTURED = [(b"content-type", b"application/cloudevents+json")]
BATCH = [(b"content-type", b"application/cloudevents-batch+json")]


async def call(headers: list[tuple[bytes, bytes]], body: bytes) -> tuple[int, dict[str, Any]]:
    """POST through the real endpoint; the status and the problem document (or {})."""
    registry = HandlerRegistry()
    received: list[CloudEvent] = []

    async def record(event: CloudEvent, data: object) -> None:
        received.append(event)

    registry.add("t", record)
    endpoint = EventEndpoint(
        registry, max_body_bytes=100_000, handler_timeout_seconds=5.0, max_concurrent_handlers=5
    )
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await endpoint(
        {"type": "http", "method": "POST", "path": "/", "headers": headers}, receive, send
    )
    status: int = sent[0]["status"]
    if status < 300:
        assert received
        return status, {}
    assert not received
    return status, orjson.loads(sent[1]["body"])


@pytest.mark.parametrize(
    ("extra", "attribute"),
    [
        ((b"ce-type", b"u"), "type"),
        ((b"ce-id", b"1"), "id"),  # even the same value twice
        ((b"CE-Source", b"/other"), "source"),  # a server that does not lowercase
        ((b"ce-traceparent", b"00-a"), "traceparent"),
        ((b"Content-Type", b"text/plain"), "datacontenttype"),
    ],
)
async def test_a_header_sent_twice_is_refused_by_name(
    extra: tuple[bytes, bytes], attribute: str
) -> None:
    headers = [*HEADERS, extra]
    if attribute == "traceparent":
        headers.insert(0, extra)
    status, problem = await call(headers, b"{}")
    assert status == 400
    assert problem["attribute"] == attribute
    assert "more than once" in problem["detail"]


async def test_headers_sent_once_are_accepted_whatever_their_case() -> None:
    headers = [(name.upper() if name != b"ce-id" else name, value) for name, value in HEADERS]
    assert (await call(headers, b"{}"))[0] == 202


@pytest.mark.parametrize(
    "headers",
    [
        {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t", "CE-TYPE": "u"},
        [
            ("ce-specversion", "1.0"),
            ("ce-id", "1"),
            ("ce-source", "/s"),
            ("ce-type", "t"),
            (b"Ce-Type", b"u"),
        ],
    ],
)
def test_from_http_refuses_a_header_sent_twice(headers: Any) -> None:
    with pytest.raises(CloudEventValidationError) as caught:
        from_http(headers, b"")
    assert caught.value.attribute == "type"


@pytest.mark.parametrize(
    ("body", "attribute"),
    [
        (obj('"type": "u"'), "type"),
        (obj('"id": "1"'), "id"),
        ('{"type": "u", ' + EVENT + "}", "type"),
        (obj('"x": 1, "x": 2'), "x"),
        (obj('"data": 1, "data": 2'), "data"),
        # written differently, equal once decoded: only an exact check can see these
        (obj('"\\u0074ype": "u"'), "type"),
        (obj('"i\\u0064": "2"'), "id"),
        # the name also occurs in the data, so the count alone cannot tell
        (obj('"data": {"type": "a", "id": ["id"]}, "type": "u"'), "type"),
        (obj('"time" : "2024-01-01T00:00:00Z", "time"\n:"2024-01-01T00:00:00Z"'), "time"),
    ],
)
async def test_a_structured_member_sent_twice_is_refused_by_name(body: str, attribute: str) -> None:
    status, problem = await call(STRUCTURED, body.encode())
    assert status == 400
    assert problem["attribute"] == attribute
    assert "more than once" in problem["detail"]


@pytest.mark.parametrize(
    "body",
    [
        obj(),
        # names that recur inside the data (or escaped) are no repeats of the event's
        obj('"data": {"type": "x", "id": 2, "source": {"id": "\\"id\\""}}'),
        obj('"data": ["type", "id", "\\u0074ype", {"type": {"type": 1}}]'),
        obj('"subject": "\\"type\\": 1, \\"type\\": 2", "data": "{\\"id\\": 1}"'),
    ],
)
async def test_names_that_recur_only_inside_values_are_no_repeats(body: str) -> None:
    assert (await call(STRUCTURED, body.encode()))[0] == 202


@pytest.fixture
def walks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The depths the exact (slow) check was asked about, in order."""
    calls: list[int] = []
    exact = parser._repeated_member

    def counted(body: bytes, depth: int) -> tuple[int, str] | None:
        calls.append(depth)
        return exact(body, depth)

    monkeypatch.setattr(parser, "_repeated_member", counted)
    return calls


@pytest.mark.parametrize(
    "body",
    [
        # compact, in orjson's own order: equal to its serialization
        orjson.dumps({"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "data": [1]}),
        # spaces, escapes and names that recur in the data: the comma count tells
        obj('"data": {"id": 1, "type": "a,b"}').encode(),
        obj('"data": ["\\u002c", "a\\u002cb", {"id": [1, 2]}]').encode(),
        obj('"subject": "\\u00e9,\\/"').encode(),
    ],
)
def test_an_event_without_repeats_never_needs_the_exact_check(
    walks: list[int], body: bytes
) -> None:
    assert parser.parse_structured(body).type == "t"
    assert walks == []


def test_a_repeat_inside_the_data_is_looked_at_once_and_accepted(walks: list[int]) -> None:
    event = parser.parse_structured(obj('"data": {"n": 1, "n": 2}').encode())
    assert event.data == {"n": 2}
    assert walks == [1]


def test_a_repeat_deeper_than_orjson_writes_is_still_found() -> None:
    deep = "[" * 400 + "1" + "]" * 400
    with pytest.raises(CloudEventValidationError) as caught:
        parser.parse_structured(obj(f'"data": {deep}', '"type": "u"').encode())
    assert caught.value.attribute == "type"


def test_the_exact_check_needs_no_recursion() -> None:
    deep = "[" * 900 + '{"id": 1}' + "]" * 900
    body = obj(f'"data": {deep}', '"id": "2"').encode()
    with pytest.raises(CloudEventValidationError) as caught:
        parser.parse_structured(body)
    assert caught.value.attribute == "id"


async def test_a_batch_item_with_a_member_sent_twice_is_refused_by_index() -> None:
    one = obj()
    twice = obj('"source": "/t"')
    body = f"[{one}, {one}, {twice}]"
    status, problem = await call(BATCH, body.encode())
    assert status == 400
    assert problem["attribute"] == "source"
    assert "batch item [2]" in problem["detail"]


def test_batches_without_repeats_pass_the_count_and_the_exact_check() -> None:
    one = obj()
    nested = obj('"data": {"id": 1}')
    for body in (f"[{one}, {one}, {one}]", f"[{one}, {nested}]", "[]"):
        events = from_http_batch(BATCH, body.encode())
        assert all(event.type == "t" for event in events)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["id", "type", "a,b", "data", "é"]), inner, max_size=4)
    ),
    max_leaves=12,
)
writers = st.sampled_from(
    [
        orjson.dumps,
        lambda doc: json.dumps(doc).encode(),
        lambda doc: json.dumps(doc, indent=2, ensure_ascii=False).encode(),
        lambda doc: json.dumps(doc, separators=(",", ":"), sort_keys=True).encode(),
    ]
)
REQUIRED = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}


@settings(max_examples=300, deadline=None)
@given(data=json_values, subject=st.text("abc ,é", min_size=1, max_size=8), write=writers)
def test_repeats_are_found_whatever_the_sender_writes(
    data: Any, subject: str, write: Callable[[Any], bytes]
) -> None:
    """No event without a repeat is refused; every repeated event member is, by name."""
    document = {**REQUIRED, "subject": subject, "data": data}
    assert parser.parse_structured(write(document)).data == data
    body = write(document)
    for name in ("type", "subject", "data"):
        repeated = body[:-1] + b', "' + name.encode() + b'": ' + orjson.dumps(data) + b"}"
        with pytest.raises(CloudEventValidationError) as caught:
            parser.parse_structured(repeated)
        assert caught.value.attribute == name
