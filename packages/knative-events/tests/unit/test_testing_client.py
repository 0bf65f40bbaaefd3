"""knative_events.testing: the in-process client a service's handler tests use."""

from __future__ import annotations

import base64

import httpx
import pytest
from pydantic import BaseModel

from knative_events import CloudEvent, HandlerRegistry, ServiceApp, create_app
from knative_events.settings import Settings
from knative_events.testing import EventClient, EventResult


class Order(BaseModel):
    order_id: str


def build_app(**settings: object) -> tuple[ServiceApp, list[CloudEvent]]:
    registry = HandlerRegistry()
    received: list[CloudEvent] = []

    @registry.on("com.example.accept")
    async def accept(event: CloudEvent, data: object) -> CloudEvent | None:
        received.append(event)
        return None

    @registry.on("com.example.order", data=Order)
    async def order(event: CloudEvent, data: Order) -> CloudEvent | None:
        received.append(event)
        return CloudEvent(
            id=f"reply-{event.id}",
            source="/orders",
            type="com.example.order.accepted",
            subject=data.order_id,
            data={"order_id": data.order_id},
        )

    @registry.on("com.example.fail")
    async def fail(event: CloudEvent, data: object) -> CloudEvent | None:
        raise RuntimeError("on purpose")

    app = create_app(Settings(environ={}, log_level="WARNING", **settings), registry=registry)
    return app, received


async def test_send_delivers_a_binary_event_and_reads_no_reply() -> None:
    app, received = build_app()
    async with EventClient(app) as client:
        result = await client.send(
            "com.example.accept",
            {"n": 1},
            source="/here",
            subject="s-1",
            extensions={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
        )
    assert isinstance(result, EventResult)
    assert result.status == 202
    assert isinstance(result.headers, httpx.Headers)
    assert (result.problem, result.reply) == (None, None)
    (event,) = received
    assert (event.type, event.source, event.subject, event.data) == (
        "com.example.accept",
        "/here",
        "s-1",
        {"n": 1},
    )
    assert event.extensions["traceparent"].startswith("00-0af7")
    assert len(event.id) == 36  # a fresh uuid4 by default


@pytest.mark.parametrize("mode", ["binary", "structured"])
async def test_a_reply_is_decoded_as_an_event(mode: str) -> None:
    app, received = build_app()
    async with EventClient(app) as client:
        result = await client.send(
            "com.example.order",
            {"order_id": "o-7"},
            id="evt-7",
            mode=mode,  # type: ignore[arg-type]
        )
    assert result.status == 200
    assert result.problem is None
    assert result.reply is not None
    assert (result.reply.id, result.reply.type) == ("reply-evt-7", "com.example.order.accepted")
    assert result.reply.data == {"order_id": "o-7"}
    assert received[0].id == "evt-7"


async def test_problems_are_parsed() -> None:
    app, _ = build_app()
    async with EventClient(app) as client:
        invalid = await client.send("com.example.order", {"order": 1})
        unknown = await client.send("com.example.nobody")
        failed = await client.send("com.example.fail")
    assert invalid.status == 422
    assert invalid.problem is not None
    assert invalid.problem["type"] == "/problems/invalid-data"
    assert unknown.status == 400
    assert unknown.problem is not None
    assert unknown.problem["type"] == "/problems/unhandled-event-type"
    assert failed.status == 500
    assert failed.problem is not None
    assert failed.reply is None


async def test_bytes_travel_as_binary_data() -> None:
    app, received = build_app()
    async with EventClient(app) as client:
        result = await client.send("com.example.accept", b"\x00\x01raw")
    assert result.status == 202
    assert received[0].data_bytes == b"\x00\x01raw"
    assert received[0].data_base64 == base64.b64encode(b"\x00\x01raw").decode()


async def test_post_sends_raw_input() -> None:
    app, received = build_app(max_body_bytes=64)
    headers = {
        "ce-specversion": "1.0",
        "ce-source": "/tests",
        "ce-type": "com.example.accept",
        "content-type": "application/json",
    }
    async with EventClient(app) as client:
        missing_id = await client.post(b"{}", headers)
        too_large = await client.post(b"[" + b"1," * 100 + b"1]", {**headers, "ce-id": "big"})
        bad_json = await client.post(b"{nope", {**headers, "ce-id": "bad"})
    assert missing_id.status == 400
    assert missing_id.problem is not None
    assert missing_id.problem.get("attribute") == "id"
    assert too_large.status == 413
    assert bad_json.status == 400
    assert received == []


async def test_the_lifespan_runs_around_the_client() -> None:
    app, _ = build_app()
    client = EventClient(app)
    with pytest.raises(RuntimeError, match="async with"):
        await client.post(b"{}", {})
    async with client:
        ready = await client._client.get("/health/ready")  # type: ignore[union-attr]
        assert ready.status_code == 200
        assert app.state.health.phase.name == "READY"
    assert app.state.health.phase.name == "DRAINING"
    with pytest.raises(RuntimeError, match="async with"):
        await client.send("com.example.accept")


async def test_an_unknown_mode_is_refused() -> None:
    app, _ = build_app()
    async with EventClient(app) as client:
        with pytest.raises(ValueError, match="mode"):
            await client.send("com.example.accept", mode="batch")  # type: ignore[arg-type]
