"""JSON logs carry the id and type of the event being handled."""

from __future__ import annotations

import io
import logging

import httpx
import orjson

from knative_events.app import create_app
from knative_events.cloudevents.models import CloudEvent
from knative_events.cloudevents.registry import HandlerRegistry
from knative_events.logs import JsonFormatter, current_event
from knative_events.settings import Settings


def capture() -> tuple[io.StringIO, logging.Handler]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter({"service": "svc", "revision": ""}))
    return stream, handler


def test_records_are_one_json_object_with_static_fields() -> None:
    record = logging.makeLogRecord({"msg": "hello %s", "args": ("you",), "levelname": "INFO"})
    record.custom = "x"
    document = orjson.loads(JsonFormatter({"service": "svc", "revision": ""}).format(record))
    assert document["message"] == "hello you"
    assert document["service"] == "svc"
    assert "revision" not in document  # empty static fields are left out
    assert document["custom"] == "x"
    assert "event_id" not in document


def test_the_event_context_is_added() -> None:
    token = current_event.set(("evt-9", "com.example.t"))
    try:
        record = logging.makeLogRecord({"msg": "inside"})
        document = orjson.loads(JsonFormatter().format(record))
    finally:
        current_event.reset(token)
    assert (document["event_id"], document["event_type"]) == ("evt-9", "com.example.t")


async def test_logs_inside_a_handler_and_its_failure_carry_the_event_id() -> None:
    registry = HandlerRegistry()
    log = logging.getLogger("tests.handler")

    @registry.on("t")
    async def handler(event: CloudEvent, data: object) -> None:
        log.warning("working on it")
        raise ValueError("broken")

    stream, handler_ = capture()
    logging.getLogger().addHandler(handler_)
    try:
        app = create_app(Settings(log_level="WARNING"), registry=registry)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            headers = {"ce-specversion": "1.0", "ce-id": "e-42", "ce-source": "/s", "ce-type": "t"}
            assert (await client.post("/", headers=headers)).status_code == 500
    finally:
        logging.getLogger().removeHandler(handler_)
    lines = [orjson.loads(line) for line in stream.getvalue().splitlines()]
    working = next(line for line in lines if line["message"] == "working on it")
    failure = next(line for line in lines if "raised" in line["message"])
    assert working["event_id"] == failure["event_id"] == "e-42"
    assert "ValueError: broken" in failure["exc_info"]
    assert current_event.get() is None
