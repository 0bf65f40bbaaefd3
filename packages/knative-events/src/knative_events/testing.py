"""Test a service's handlers in-process: the whole app, no server, no port.

``EventClient`` sends events through the real ASGI app (endpoint, registry, handler,
problem documents, reply encoding) with ``httpx.ASGITransport``, and runs the app's
lifespan around the tests as uvicorn would, so start-up work (warm-up, health) happens as
in production::

    async with EventClient(create_app(Settings(environ={}), registry=registry)) as client:
        result = await client.send("com.example.order.created", {"order_id": "1"})
        assert result.status == 202
        assert result.reply is None

``post`` sends raw bytes and headers, for tests of malformed input.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self

import httpx
import orjson

from .app import ServiceApp
from .cloudevents.models import CloudEvent
from .cloudevents.parser import STRUCTURED_CONTENT_TYPE, from_http
from .cloudevents.serializer import to_binary, to_structured

PROBLEM_CONTENT_TYPE = "application/problem+json"
BASE_URL = "http://testserver"
OCTET_STREAM = "application/octet-stream"


@dataclass(frozen=True)
class EventResult:
    """What the app answered to one request."""

    status: int
    headers: httpx.Headers
    problem: dict[str, Any] | None
    """The RFC 9457 document when the answer is ``application/problem+json``, else None."""
    reply: CloudEvent | None
    """The reply event (binary or structured mode), else None."""


class EventClient:
    """Sends CloudEvents to a :class:`ServiceApp` in-process, inside its lifespan."""

    def __init__(self, app: ServiceApp) -> None:
        self.app = app
        self._stack: AsyncExitStack | None = None
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Self:
        async with AsyncExitStack() as stack:
            await stack.enter_async_context(self.app.lifespan())
            self._client = await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url=BASE_URL)
            )
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.__aexit__(exc_type, exc, tb)

    async def send(
        self,
        event_type: str,
        data: Any = None,
        *,
        source: str = "/tests",
        id: str | None = None,
        subject: str | None = None,
        mode: Literal["binary", "structured"] = "binary",
        extensions: Mapping[str, str] | None = None,
    ) -> EventResult:
        """Send one event: JSON ``data``, or ``bytes`` as ``application/octet-stream``."""
        opaque = isinstance(data, bytes | bytearray)
        event = CloudEvent(
            id=id if id is not None else str(uuid.uuid4()),
            source=source,
            type=event_type,
            subject=subject,
            datacontenttype=OCTET_STREAM if opaque else None,
            data=bytes(data) if opaque else data,
            extensions=dict(extensions) if extensions else None,
        )
        if mode == "binary":
            headers, body = to_binary(event)
        elif mode == "structured":
            headers, body = to_structured(event)
        else:
            raise ValueError(f"mode must be 'binary' or 'structured', not {mode!r}")
        return await self.post(body, headers)

    async def post(self, body: bytes, headers: Mapping[str, str]) -> EventResult:
        """POST ``body`` with exactly ``headers`` to the event path and read the answer."""
        if self._client is None:
            raise RuntimeError("use EventClient in 'async with' (it runs the app's lifespan)")
        response = await self._client.post("/", content=body, headers=dict(headers))
        return _result(response)


def _result(response: httpx.Response) -> EventResult:
    content_type = response.headers.get("content-type", "").partition(";")[0].strip().lower()
    problem: dict[str, Any] | None = None
    reply: CloudEvent | None = None
    if content_type == PROBLEM_CONTENT_TYPE:
        document = orjson.loads(response.content)
        problem = document if isinstance(document, dict) else {"detail": document}
    elif content_type == STRUCTURED_CONTENT_TYPE or "ce-specversion" in response.headers:
        reply = from_http(response.headers.multi_items(), response.content)
    return EventResult(
        status=response.status_code, headers=response.headers, problem=problem, reply=reply
    )


def wait_until_ready(
    url: str, *, process: subprocess.Popen[Any] | None = None, timeout: float = 30.0
) -> None:
    """Poll ``<url>/health/ready`` until it answers 200, for tests that start a real server.

    Fails (AssertionError) after ``timeout`` seconds, or at once when ``process`` (the
    server, if the test started one) has exited: a crash at start-up is reported as such
    instead of as a slow start.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process is not None and process.poll() is not None:
            raise AssertionError("the server exited during start-up")
        if time.monotonic() >= deadline:
            raise AssertionError(f"{url} did not become ready in {timeout:g} s")
        time.sleep(0.05)
