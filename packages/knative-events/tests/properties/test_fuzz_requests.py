"""Fuzz: whatever a sender puts in a request, the service answers below 500 and never raises.

Hypothesis builds requests to ``POST /`` of a service module app (``example_service``, made
the way a rendered service's ``main.py`` makes it): binary events with any ``ce-*`` and
Content-Type headers (duplicates, CR/LF, bytes above 0x7F), structured events and batches
whose members are any JSON (wrong types, repeats, deep nesting), and random bytes in any
content mode. 5xx means "retry me" to a broker, so for input that can never succeed it is
a bug; so is an exception that leaves the ASGI app. Driven in-process through ASGI (no
sockets), so 1,000 examples take seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from example_service import EVENT_TYPES, app

#: 1,000 in CI; FUZZ_EXAMPLES=20000 for a longer hunt.
FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1000"))

ATTRIBUTES = ["specversion", "id", "source", "type", "time", "subject", "datacontenttype"]
ATTRIBUTES += ["dataschema", "traceparent", "x", "Type", "ext1", "data", "data_base64"]
CONTENT_TYPES = [
    "application/json",
    "application/json; charset=utf-8",
    "application/json; charset=latin-1",
    "application/json; charset=ebcdic",
    'text/plain; charset="us-ascii"',
    "text/plain; a=\r\nX-Evil: 1",
    "application/cloudevents+json",
    "application/cloudevents+json; charset=iso-8859-1",
    "application/cloudevents-batch+json",
    "application/cloudevents+xml",
    "application/octet-stream",
    "",
    ";",
    "a/b; c",
    "application/json;" + " " * 300 + ";",
]

header_bytes = st.binary(max_size=40)
text_values = st.one_of(
    st.sampled_from(["1.0", "0.3", "/s", "2024-01-01T00:00:00Z", "2016-12-31T23:59:60Z"]),
    st.sampled_from(EVENT_TYPES),
    st.text(max_size=20),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | text_values,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(ATTRIBUTES) | st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=10,
)


@st.composite
def event_members(draw: st.DrawFn) -> dict[str, Any]:
    """A structured event: the required attributes mostly valid, any member any JSON."""
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": "f-1",
        "source": "/fuzz",
        "type": draw(st.sampled_from(EVENT_TYPES)),
    }
    for name in draw(st.lists(st.sampled_from(ATTRIBUTES), max_size=4)):
        event[name] = draw(json_values)
    if draw(st.booleans()):
        event.pop(draw(st.sampled_from(list(event))), None)
    return event


def encoded(document: Any, draw: st.DrawFn) -> bytes:
    """JSON as a sender might write it, sometimes with a member repeated or cut short."""
    body = json.dumps(document, allow_nan=True).encode()
    trick = draw(st.sampled_from(["none", "repeat", "truncate", "nest"]))
    if trick == "repeat" and body.startswith(b"{") and len(body) > 2:
        body = body[:-1] + b', "type": "x"}'
    elif trick == "truncate":
        body = body[: draw(st.integers(0, len(body)))]
    elif trick == "nest":
        depth = draw(st.integers(1, 3000))
        body = b'{"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "data": '
        body += b"[" * depth + b"]" * depth + b"}"
    return body


@st.composite
def requests(draw: st.DrawFn) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Headers and body of one POST / in any content mode."""
    mode = draw(st.sampled_from(["binary", "structured", "batch", "bytes"]))
    headers: list[tuple[bytes, bytes]] = []
    if mode == "binary":
        for name in ("specversion", "id", "source", "type"):
            if draw(st.integers(0, 9)):
                value = b"1.0" if name == "specversion" else draw(text_values).encode()
                headers.append((b"ce-" + name.encode(), value))
        for _ in range(draw(st.integers(0, 3))):  # extra, repeated or malformed ce-* headers
            name = draw(st.sampled_from(ATTRIBUTES) | st.text("abcXYZ-_%\r", max_size=6))
            headers.append((b"ce-" + name.encode("utf-8", "replace"), draw(header_bytes)))
        body = encoded(draw(json_values), draw) if draw(st.booleans()) else draw(st.binary())
    elif mode == "structured":
        body = encoded(draw(event_members()), draw)
    elif mode == "batch":
        items = st.one_of(event_members(), json_values)
        body = encoded(draw(st.lists(items, max_size=4)), draw)
    else:
        body = draw(st.binary(max_size=200))
    content_type = draw(st.sampled_from(CONTENT_TYPES) | st.text(max_size=20))
    if mode == "structured" and draw(st.booleans()):
        content_type = "application/cloudevents+json"
    elif mode == "batch" and draw(st.booleans()):
        content_type = "application/cloudevents-batch+json"
    for _ in range(draw(st.integers(0, 2))):  # none, one or a repeated Content-Type
        headers.append((b"content-type", content_type.encode("utf-8", "replace")))
    if draw(st.booleans()):
        length = draw(st.sampled_from([str(len(body)), "0", "-1", "²", "9" * 30, "abc"]))
        headers.append((b"content-length", length.encode()))
    draw(st.randoms()).shuffle(headers)
    return headers, body


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop with the app started (lifespan) for every example."""
    event_loop = asyncio.new_event_loop()
    lifespan = app.lifespan()
    event_loop.run_until_complete(lifespan.__aenter__())
    yield event_loop
    event_loop.run_until_complete(lifespan.__aexit__(None, None, None))
    event_loop.close()


async def answer(headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    """The status ``app`` answers (exceptions propagate: they fail the property)."""
    chunks = [body[: len(body) // 2], body[len(body) // 2 :]]
    messages = [
        {"type": "http.request", "body": chunk, "more_body": i == 0}
        for i, chunk in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "raw_path": b"/",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "http_version": "1.1",
        "scheme": "http",
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 50000),
    }
    await app(scope, receive, send)
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, sent
    status: int = starts[0]["status"]
    return status


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(request=requests())
def test_no_request_gets_a_5xx_or_an_exception(
    loop: asyncio.AbstractEventLoop, request: tuple[list[tuple[bytes, bytes]], bytes]
) -> None:
    headers, body = request
    status = loop.run_until_complete(answer(headers, body))
    assert 200 <= status < 500, (status, headers, body[:200])
