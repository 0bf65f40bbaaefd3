"""Shared fixtures: an app on a registry of test handlers, and a real uvicorn server.

The tests never rely on the event types the service was rendered with: they register
their own handlers (``test.*`` types) on a fresh registry and build an app around it.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import BaseModel

from knative_events.app import ServiceApp, create_app
from knative_events.cloudevents.models import CloudEvent
from knative_events.cloudevents.registry import HandlerRegistry
from knative_events.settings import Settings
from knative_events.testing import wait_until_ready

BINARY_HEADERS = {
    "ce-specversion": "1.0",
    "ce-id": "evt-1",
    "ce-source": "/tests",
    "ce-type": "test.accept",
    "content-type": "application/json",
}


class Order(BaseModel):
    """The data model of the ``test.order`` handler."""

    order_id: str
    quantity: int


@dataclass
class Gate:
    """Lets a test hold ``test.block`` handlers open until it releases them."""

    entered: threading.Event
    release: threading.Event


def build_registry(gate: Gate | None = None) -> HandlerRegistry:
    """A registry with one handler per behaviour the tests need."""
    registry = HandlerRegistry()
    gate = gate or Gate(threading.Event(), threading.Event())

    @registry.on("test.accept")
    async def accept(event: CloudEvent, data: object) -> CloudEvent | None:
        return None

    @registry.on("test.echo")
    async def echo(event: CloudEvent, data: object) -> CloudEvent | None:
        return CloudEvent(
            id=f"reply-{event.id}",
            source="/tests/echo",
            type="test.echo.reply",
            subject=event.subject,
            data={"echo": data},
        )

    @registry.on("test.order", data=Order)
    async def order(event: CloudEvent, data: Order) -> CloudEvent | None:
        assert isinstance(data, Order)
        return None

    @registry.on("test.fail")
    async def fail(event: CloudEvent, data: object) -> CloudEvent | None:
        raise RuntimeError("the handler failed on purpose")

    @registry.on("test.slow")
    async def slow(event: CloudEvent, data: object) -> CloudEvent | None:
        await asyncio.sleep(30)
        return None

    @registry.on("test.block")
    async def block(event: CloudEvent, data: object) -> CloudEvent | None:
        gate.entered.set()
        await asyncio.to_thread(gate.release.wait, 10)
        return None

    return registry


def build_settings(**overrides: Any) -> Settings:
    """Settings with small limits so the limit tests run fast (the environment is not read)."""
    values: dict[str, Any] = {
        "max_body_bytes": 4096,
        "handler_timeout_seconds": 0.3,
        "max_concurrent_handlers": 2,
        "retry_after_seconds": 3,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(environ={}, **values)


def find_free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def make_settings() -> Callable[..., Settings]:
    """Build test settings with overrides: ``make_settings(max_body_bytes=10)``."""
    return build_settings


@pytest.fixture
def binary_headers() -> dict[str, str]:
    """Headers of a valid binary-mode event for the ``test.accept`` handler."""
    return dict(BINARY_HEADERS)


@pytest.fixture
def gate() -> Gate:
    return Gate(threading.Event(), threading.Event())


@pytest.fixture
def registry(gate: Gate) -> HandlerRegistry:
    return build_registry(gate)


@pytest.fixture
def app(registry: HandlerRegistry) -> ServiceApp:
    return create_app(build_settings(), registry=registry)


@pytest.fixture
async def client(app: ServiceApp) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client; the app's lifespan runs around it."""
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield client


@pytest.fixture
def free_port() -> int:
    return find_free_port()


@dataclass
class LiveServer:
    """A uvicorn server on 127.0.0.1 serving the test app from a thread."""

    url: str
    app: ServiceApp
    gate: Gate


@pytest.fixture(scope="module")
def live_server() -> Iterator[LiveServer]:
    """The real app under uvicorn (httptools, uvloop when installed), ready before use."""
    gate = Gate(threading.Event(), threading.Event())
    app = create_app(build_settings(), registry=build_registry(gate))
    port = find_free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_until_ready(url, timeout=20)
    yield LiveServer(url=url, app=app, gate=gate)
    gate.release.set()
    server.should_exit = True
    thread.join(timeout=10)
