"""The ASGI event endpoint, driven directly: limits, timeouts, overload, odd clients."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from pydantic import BaseModel, model_validator

from knative_events.cloudevents import endpoint as endpoint_module
from knative_events.cloudevents.endpoint import EventEndpoint
from knative_events.cloudevents.models import CloudEvent
from knative_events.cloudevents.registry import HandlerRegistry

Message = dict[str, Any]
HEADERS = [
    (b"ce-specversion", b"1.0"),
    (b"ce-id", b"1"),
    (b"ce-source", b"/s"),
    (b"ce-type", b"t"),
    (b"content-type", b"application/json"),
]


def make_endpoint(handler: Any = None, **limits: Any) -> EventEndpoint:
    registry = HandlerRegistry()

    async def accept(event: CloudEvent, data: object) -> None:
        return None

    registry.add("t", handler or accept)
    options: dict[str, Any] = {
        "max_body_bytes": 100,
        "handler_timeout_seconds": 5.0,
        "max_concurrent_handlers": 10,
    }
    options.update(limits)
    return EventEndpoint(registry, **options)


async def call(
    endpoint: EventEndpoint,
    chunks: list[bytes],
    headers: list[tuple[bytes, bytes]] | None = None,
    method: str = "POST",
) -> tuple[int, dict[bytes, bytes], bytes]:
    """Drive the endpoint like a server would; return status, headers and body."""
    messages: list[Message] = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": method, "path": "/", "headers": headers or HEADERS}
    await endpoint(scope, receive, send)
    if not sent:
        return 0, {}, b""
    return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]


async def test_accepts_an_event_with_202() -> None:
    status, headers, body = await call(make_endpoint(), [b'{"a": 1}'])
    assert (status, body) == (202, b"")
    assert headers[b"content-length"] == b"0"


async def test_a_chunked_body_is_counted_while_streaming() -> None:
    status, headers, body = await call(make_endpoint(), [b"[" + b"1," * 30, b"1," * 30 + b"1]"])
    assert status == 413
    assert headers[b"content-type"] == b"application/problem+json"
    assert orjson.loads(body)["type"] == "/problems/payload-too-large"


async def test_content_length_is_checked_before_reading() -> None:
    status, _, _ = await call(make_endpoint(), [b"{}"], [*HEADERS, (b"content-length", b"5000")])
    assert status == 413


async def test_an_absurd_content_length_is_a_413_not_a_crash() -> None:
    headers = [*HEADERS, (b"content-length", b"9" * 5000)]
    status, _, body = await call(make_endpoint(), [b"{}"], headers)
    assert status == 413
    assert orjson.loads(body)["type"] == "/problems/payload-too-large"


async def test_a_broken_content_length_is_a_400() -> None:
    status, _, _ = await call(make_endpoint(), [b"{}"], [*HEADERS, (b"content-length", b"x")])
    assert status == 400


async def test_a_non_utf8_ce_header_is_a_400() -> None:
    status, _, body = await call(make_endpoint(), [b"{}"], [*HEADERS, (b"ce-ext", b"\xff")])
    assert status == 400
    assert "percent-encode" in orjson.loads(body)["detail"]


async def test_percent_encoded_ce_headers_are_decoded() -> None:
    seen: list[CloudEvent] = []

    async def keep(event: CloudEvent, data: object) -> None:
        seen.append(event)

    headers = [*HEADERS, (b"ce-subject", b"caf%C3%A9 au%20lait"), (b"ce-note", b"100%25")]
    status, _, _ = await call(make_endpoint(keep), [b"{}"], headers)
    assert status == 202
    assert seen[0].subject == "caf\u00e9 au lait"
    assert seen[0].extensions == {"note": "100%"}


async def test_a_broken_percent_escape_is_a_400_naming_the_header() -> None:
    headers = [*HEADERS, (b"ce-subject", b"%FF")]
    status, _, body = await call(make_endpoint(), [b"{}"], headers)
    assert status == 400
    assert "ce-subject" in orjson.loads(body)["detail"]


async def test_many_distinct_header_names_do_not_grow_the_name_table() -> None:
    headers = [*HEADERS, *((f"x-junk-{i}".encode(), b"1") for i in range(400))]
    status, _, _ = await call(make_endpoint(), [b"{}"], headers)
    assert status == 202
    assert len(endpoint_module._header_names) <= endpoint_module._MAX_HEADER_NAMES


async def test_a_client_that_disconnects_gets_no_response() -> None:
    status, _, _ = await call(make_endpoint(), [])
    assert status == 0


async def test_options_answers_allow_and_the_webhook_handshake() -> None:
    headers = [(b"webhook-request-origin", b"eventemitter.example.com")]
    status, answer, _ = await call(make_endpoint(), [], headers, method="OPTIONS")
    assert status == 200
    assert answer[b"allow"] == b"POST, OPTIONS"
    assert answer[b"webhook-allowed-origin"] == b"eventemitter.example.com"


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "HEAD"])
async def test_other_methods_are_405(method: str) -> None:
    status, headers, body = await call(make_endpoint(), [], method=method)
    assert status == 405
    assert headers[b"allow"] == b"POST, OPTIONS"
    assert orjson.loads(body)["status"] == 405


async def test_a_slow_handler_times_out_with_504_and_is_cancelled() -> None:
    cancelled = asyncio.Event()

    async def slow(event: CloudEvent, data: object) -> None:
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    endpoint = make_endpoint(slow, handler_timeout_seconds=0.1)
    status, _, body = await call(endpoint, [b"{}"])
    assert status == 504
    assert "HANDLER_TIMEOUT_SECONDS" in orjson.loads(body)["detail"]
    assert cancelled.is_set()
    assert endpoint.busy == 0
    task = asyncio.current_task()
    assert task is not None
    assert task.cancelling() == 0  # the sweeper's cancellation was taken back
    await endpoint.close()


def test_timeouts_hold_on_every_event_loop_the_endpoint_serves() -> None:
    """A loop closed with its deadline sweeper still pending must not disarm later loops."""

    async def slow(event: CloudEvent, data: object) -> None:
        await asyncio.sleep(10)

    endpoint = make_endpoint(slow, handler_timeout_seconds=0.1)
    for _ in range(2):
        loop = asyncio.new_event_loop()
        try:
            status, _, _ = loop.run_until_complete(call(endpoint, [b"{}"]))
        finally:
            loop.close()  # without cancelling the sweeper, as a careless test harness might
        assert status == 504


async def test_a_handler_raising_timeout_error_itself_is_a_500() -> None:
    async def raises(event: CloudEvent, data: object) -> None:
        raise TimeoutError("upstream")

    status, _, _ = await call(make_endpoint(raises), [b"{}"])
    assert status == 500


async def test_over_the_concurrency_limit_events_get_503_with_retry_after() -> None:
    release = asyncio.Event()
    both_running = asyncio.Event()
    running: list[str] = []

    async def wait(event: CloudEvent, data: object) -> None:
        running.append(event.id)
        if len(running) == 2:
            both_running.set()
        await release.wait()

    endpoint = make_endpoint(wait, max_concurrent_handlers=2, retry_after_seconds=7)
    first = [asyncio.create_task(call(endpoint, [b"{}"])) for _ in range(2)]
    await asyncio.wait_for(both_running.wait(), timeout=5)
    assert endpoint.busy == 2
    status, headers, body = await call(endpoint, [b"{}"])
    assert status == 503
    assert headers[b"retry-after"] == b"7"
    assert orjson.loads(body)["type"] == "/problems/overloaded"
    release.set()
    assert [(await task)[0] for task in first] == [202, 202]
    assert endpoint.busy == 0


async def test_a_reply_that_is_not_an_event_is_a_500() -> None:
    async def wrong(event: CloudEvent, data: object) -> Any:
        return {"not": "an event"}

    status, _, body = await call(make_endpoint(wrong), [b"{}"])
    assert status == 500
    assert "expected a CloudEvent" in orjson.loads(body)["detail"]


async def test_a_reply_that_cannot_be_encoded_is_a_500() -> None:
    async def unencodable(event: CloudEvent, data: object) -> CloudEvent:
        return CloudEvent(id="r", source="/r", type="r", data={"x": object()})

    status, _, _ = await call(make_endpoint(unencodable), [b"{}"])
    assert status == 500


async def test_a_data_model_that_crashes_is_a_500_not_a_crash() -> None:
    class Fragile(BaseModel):
        @model_validator(mode="before")
        @classmethod
        def explode(cls, value: object) -> object:
            raise RuntimeError("bug in the model")

    registry = HandlerRegistry()

    async def handler(event: CloudEvent, data: Fragile) -> None:
        return None

    registry.add("t", handler, Fragile)  # type: ignore[arg-type]
    endpoint = EventEndpoint(
        registry, max_body_bytes=100, handler_timeout_seconds=1, max_concurrent_handlers=1
    )
    status, headers, _ = await call(endpoint, [b"{}"])
    assert status == 500
    assert headers[b"content-type"] == b"application/problem+json"


async def test_metrics_count_by_type_and_outcome() -> None:
    endpoint = make_endpoint()
    endpoint.warm_up()
    await call(endpoint, [b"{}"])
    await call(endpoint, [b"{"])
    text = endpoint.metrics.render()[0].decode()
    assert 'cloudevents_received_total{outcome="accepted",type="t"} 1.0' in text
    assert 'cloudevents_received_total{outcome="malformed-cloudevent",type="_invalid"} 1.0' in text
    assert 'cloudevents_handler_duration_seconds_count{type="t"} 1.0' in text


async def test_a_handler_may_answer_503_naming_a_dependency() -> None:
    """A ProblemError from the handler is its answer: status, Retry-After, detail, metric."""
    from knative_events import create_app
    from knative_events.cloudevents.errors import DependencyUnavailableError
    from knative_events.settings import Settings
    from knative_events.testing import EventClient

    registry = HandlerRegistry()

    @registry.on("test.database")
    async def needs_database(event: CloudEvent, data: object) -> CloudEvent | None:
        raise DependencyUnavailableError("the orders database refused the connection")

    app = create_app(Settings(environ={}), registry=registry)
    async with EventClient(app) as client:
        result = await client.send("test.database", {})
        body, _ = app.state.metrics.render()
    counted = (
        b'cloudevents_received_total{outcome="dependency-unavailable",type="test.database"} 1.0'
    )
    assert counted in body
    assert result.status == 503
    assert result.headers["retry-after"] == "5"
    assert result.problem is not None
    assert result.problem["type"] == "/problems/dependency-unavailable"
    assert result.problem["detail"] == "the orders database refused the connection"


async def test_a_reply_that_is_not_an_event_is_logged_with_the_handler_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def returns_a_dict(event: CloudEvent, data: object) -> Any:
        return {"not": "an event"}

    with caplog.at_level("ERROR"):
        status, headers, _ = await call(make_endpoint(returns_a_dict), [b"{}"])
    assert status == 500
    assert headers[b"content-type"] == b"application/problem+json"
    assert any("returns_a_dict" in r.getMessage() for r in caplog.records)


async def test_a_reply_changed_after_it_was_built_is_a_500_naming_the_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def breaks_its_reply(event: CloudEvent, data: object) -> CloudEvent:
        reply = CloudEvent(id="r", source="/r", type="r")
        reply.id = ""  # plain attributes: nothing stops this after construction
        return reply

    with caplog.at_level("ERROR"):
        status, headers, body = await call(make_endpoint(breaks_its_reply), [b"{}"])
    assert status == 500
    assert b"ce-id" not in headers
    problem = orjson.loads(body)
    assert problem["type"] == "/problems/handler-failed"
    assert "breaks_its_reply" in problem["detail"]
    assert any(
        "breaks_its_reply" in r.getMessage() and "not a valid CloudEvent" in r.getMessage()
        for r in caplog.records
    )


async def test_a_batch_reply_that_cannot_be_encoded_is_a_500_naming_the_handler(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def unencodable(event: CloudEvent, data: object) -> CloudEvent:
        return CloudEvent(id="r", source="/r", type="r", data={"x": object()})

    batch = orjson.dumps([{"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}])
    headers = [(b"content-type", b"application/cloudevents-batch+json")]
    with caplog.at_level("ERROR"):
        status, _, body = await call(
            make_endpoint(unencodable, max_body_bytes=1000), [batch], headers
        )
    assert status == 500
    assert "unencodable" in orjson.loads(body)["detail"]
    assert any("unencodable" in r.getMessage() for r in caplog.records)
