"""Traces across a hop, checked against a real OTLP/HTTP receiver on 127.0.0.1.

The app runs under uvicorn with TRACING on; the handler emits an event (to the receiver's
sink) and replies. The inbound ``traceparent`` must become the span's parent, and the
reply and the emitted event must carry the same trace id, as extension and header.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import orjson
import pytest
import uvicorn

from knative_events.app import ServiceApp, create_app
from knative_events.cloudevents.models import CloudEvent
from knative_events.cloudevents.registry import HandlerRegistry
from knative_events.emitter import EventEmitter
from knative_events.settings import Settings
from knative_events.testing import wait_until_ready
from otlp_receiver import Receiver, otlp_receiver
from redis_server import free_port

pytestmark = pytest.mark.integration

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
EXTENSION_TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
EXTENSION_PARENT_ID = "b7ad6b7169203331"


@dataclass
class Traced:
    url: str
    app: ServiceApp
    receiver: Receiver

    def flush(self) -> None:
        assert self.app.state.tracer_provider.force_flush(10_000)


def build_registry(sink: str) -> HandlerRegistry:
    registry = HandlerRegistry()

    @registry.on("test.traced")
    async def traced(event: CloudEvent, data: object) -> CloudEvent:
        async with EventEmitter(sink, retries=0) as emitter:
            await emitter.emit(CloudEvent(id=f"emitted-{event.id}", source="/t", type="t.emitted"))
        return CloudEvent(id=f"reply-{event.id}", source="/t", type="t.reply")

    @registry.on("test.refused")
    async def refused(event: CloudEvent, data: object) -> None:
        raise RuntimeError("fails on purpose")

    return registry


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch) -> Iterator[Traced]:
    with otlp_receiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
        monkeypatch.setenv("OTEL_SERVICE_NAME", "traced-test")
        settings = Settings(environ={}, tracing=True, log_level="WARNING", k_service="traced")
        app = create_app(settings, registry=build_registry(f"{receiver.url}/sink"))
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_ready(url, timeout=20)
            yield Traced(url, app, receiver)
        finally:
            server.should_exit = True
            thread.join(timeout=10)


def trace_id_of(traceparent: str) -> str:
    return traceparent.split("-")[1]


def test_inbound_traceparent_is_the_parent_and_travels_on(traced: Traced) -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "e-1",
        "ce-source": "/tests",
        "ce-type": "test.traced",
        "ce-subject": "order-7",
        "content-type": "application/json",
        "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01",
        "tracestate": "vendor=1",
    }
    response = httpx.post(traced.url, headers=headers, content=b"{}", timeout=10)
    assert response.status_code == 200, response.text
    traced.flush()

    [span] = traced.receiver.spans_named("CloudEvents Process test.traced")
    assert span.trace_id.hex() == TRACE_ID
    assert span.parent_span_id.hex() == PARENT_ID
    assert span.kind == span.SPAN_KIND_SERVER
    attributes = {a.key: a.value for a in span.attributes}
    assert attributes["cloudevents.event_id"].string_value == "e-1"
    assert attributes["cloudevents.event_source"].string_value == "/tests"
    assert attributes["cloudevents.event_type"].string_value == "test.traced"
    assert attributes["cloudevents.event_spec_version"].string_value == "1.0"
    assert attributes["cloudevents.event_subject"].string_value == "order-7"
    assert attributes["http.response.status_code"].int_value == 200
    [resource] = traced.receiver.received.resources[:1]
    names = {a.key: a.value.string_value for a in resource.attributes}
    assert names["service.name"] == "traced-test"

    own_span = span.span_id.hex()
    # The reply: the tracing extension names this span.
    assert response.headers["ce-traceparent"] == f"00-{TRACE_ID}-{own_span}-01"
    # The emitted event: extension and W3C header, both this span.
    [sent] = traced.receiver.received.sink
    assert sent["ce-traceparent"] == f"00-{TRACE_ID}-{own_span}-01"
    assert sent["traceparent"] == f"00-{TRACE_ID}-{own_span}-01"
    assert sent["tracestate"] == "vendor=1"


def test_the_extension_is_the_parent_when_no_header_is_sent(traced: Traced) -> None:
    event = {
        "specversion": "1.0",
        "id": "e-2",
        "source": "/tests",
        "type": "test.traced",
        "traceparent": f"00-{EXTENSION_TRACE_ID}-{EXTENSION_PARENT_ID}-01",
    }
    response = httpx.post(
        traced.url,
        headers={"content-type": "application/cloudevents+json"},
        content=orjson.dumps(event),
        timeout=10,
    )
    assert response.status_code == 200
    traced.flush()
    [span] = traced.receiver.spans_named("CloudEvents Process test.traced")
    assert span.trace_id.hex() == EXTENSION_TRACE_ID
    assert span.parent_span_id.hex() == EXTENSION_PARENT_ID
    assert trace_id_of(response.headers["ce-traceparent"]) == EXTENSION_TRACE_ID


def test_a_failing_handler_span_is_an_error_with_its_status(
    traced: Traced, caplog: pytest.LogCaptureFixture
) -> None:
    headers = {
        "ce-specversion": "1.0",
        "ce-id": "e-3",
        "ce-source": "/tests",
        "ce-type": "test.refused",
        "content-type": "application/json",
        "traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01",
    }
    with caplog.at_level(logging.INFO, logger="knative_events.events"):
        response = httpx.post(traced.url, headers=headers, content=b"{}", timeout=10)
    assert response.status_code == 500
    # The outcome's log line carries the trace id.
    [line] = [r for r in caplog.records if r.name == "knative_events.events"]
    assert (line.__dict__["trace_id"], line.__dict__["status"]) == (TRACE_ID, 500)
    traced.flush()
    [span] = traced.receiver.spans_named("CloudEvents Process test.refused")
    assert span.status.code == span.status.STATUS_CODE_ERROR
    attributes = {a.key: a.value for a in span.attributes}
    assert attributes["http.response.status_code"].int_value == 500
    assert attributes["error.type"].string_value == "handler-failed"


def test_with_tracing_off_opentelemetry_is_never_imported() -> None:
    code = """
import asyncio, sys
import httpx
from knative_events import CloudEvent, EventEmitter, HandlerRegistry, Settings, create_app
registry = HandlerRegistry()

@registry.on("t")
async def handle(event, data):
    return CloudEvent(id="r", source="/r", type="r")

app = create_app(Settings(environ={}), registry=registry)

async def main():
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
            headers = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/s", "ce-type": "t"}
            assert (await client.post("/", headers=headers, content=b"{}")).status_code == 200
    EventEmitter("http://127.0.0.1:9")
asyncio.run(main())
print([m for m in sys.modules if m.startswith(("opentelemetry", "knative_events.tracing.otel"))])
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
