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

With the pytest plugin (``knative_events.pytest_plugin``, loaded through the ``pytest11``
entry point) a service defines one fixture, ``knative_app``, and gets ``event_client``
(this client around that app) and ``event_factory`` (valid events of each registered type,
their data built from the handler's model, see ``examples.py``)::

    async def test_orders(event_client, event_factory):
        result = await event_client.send_event(event_factory("com.example.order.created"))
        result.expect_accepted()
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
from .cloudevents.parser import BATCH_CONTENT_TYPE, STRUCTURED_CONTENT_TYPE, from_http, parse_batch
from .cloudevents.registry import HandlerRegistry
from .cloudevents.serializer import to_batch, to_binary, to_structured

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
    """The reply event (binary or structured mode; a batch's first), else None."""
    replies: tuple[CloudEvent, ...] = ()
    """Every reply event: one for binary or structured mode, all of a batch answer."""

    def expect_accepted(self) -> Self:
        """Fail unless the event was handled (2xx, no problem document); returns self."""
        if not 200 <= self.status < 300 or self.problem is not None:
            raise AssertionError(f"expected a 2xx, got {self.status}: {self.problem}")
        return self

    def expect_problem(self, status: int, problem_type: str | None = None) -> dict[str, Any]:
        """Fail unless the answer is ``status`` with a problem document (of ``problem_type``,
        e.g. ``"/problems/unhandled-event-type"``); returns the document."""
        if self.status != status or self.problem is None:
            raise AssertionError(f"expected a {status} problem, got {self.status}: {self.problem}")
        if problem_type is not None and self.problem.get("type") != problem_type:
            raise AssertionError(f"expected problem {problem_type}, got {self.problem}")
        return self.problem

    def expect_reply(self, event_type: str | None = None) -> CloudEvent:
        """Fail unless the handler replied (with an event of ``event_type``); returns it."""
        self.expect_accepted()
        if self.reply is None:
            raise AssertionError(f"expected a reply event, got none (status {self.status})")
        if event_type is not None and self.reply.type != event_type:
            raise AssertionError(f"expected a reply of type {event_type}, got {self.reply.type}")
        return self.reply


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

    async def send_event(
        self, event: CloudEvent, *, mode: Literal["binary", "structured"] = "binary"
    ) -> EventResult:
        """Send a built event (from ``event_factory``) as is, in binary or structured mode."""
        if mode not in ("binary", "structured"):
            raise ValueError(f"mode must be 'binary' or 'structured', not {mode!r}")
        headers, body = to_binary(event) if mode == "binary" else to_structured(event)
        return await self.post(body, headers)

    async def send_batch(self, events: list[CloudEvent]) -> EventResult:
        """Send ``events`` in one batch-mode request (``application/cloudevents-batch+json``)."""
        headers, body = to_batch(events)
        return await self.post(body, headers)

    async def post(self, body: bytes, headers: Mapping[str, str]) -> EventResult:
        """POST ``body`` with exactly ``headers`` to the event path and read the answer."""
        if self._client is None:
            raise RuntimeError("use EventClient in 'async with' (it runs the app's lifespan)")
        response = await self._client.post("/", content=body, headers=dict(headers))
        return _result(response)


def _result(response: httpx.Response) -> EventResult:
    return read_answer(response.status_code, response.headers, response.content)


def read_answer(status: int, headers: httpx.Headers, content: bytes) -> EventResult:
    """An HTTP answer of an event endpoint as an :class:`EventResult`."""
    content_type = headers.get("content-type", "").partition(";")[0].strip().lower()
    problem: dict[str, Any] | None = None
    replies: list[CloudEvent] = []
    if content_type == PROBLEM_CONTENT_TYPE:
        document = orjson.loads(content)
        problem = document if isinstance(document, dict) else {"detail": document}
    elif content_type == BATCH_CONTENT_TYPE:
        replies = parse_batch(content)
    elif content_type == STRUCTURED_CONTENT_TYPE or "ce-specversion" in headers:
        replies = [from_http(headers.multi_items(), content)]
    return EventResult(
        status=status,
        headers=headers,
        problem=problem,
        reply=replies[0] if replies else None,
        replies=tuple(replies),
    )


class EventFactory:
    """Builds valid events of a registry's types: ``factory(type)``, or with overrides.

    Data defaults to an example the handler's model accepts (``examples.example_for_model``;
    ``{}`` for a handler without a model), so a test keeps passing when the owner gives a
    handler a model. An unregistered type is refused: a test that sends one means it.
    """

    def __init__(self, registry: HandlerRegistry, *, source: str = "/tests") -> None:
        self.registry = registry
        self.source = source

    def data(self, event_type: str) -> Any:
        """The example data of ``event_type``'s handler (or emitted type's model)."""
        registration = self.registry.get(event_type)
        model = registration.model if registration is not None else None
        if registration is None:
            emitted = {e.event_type: e for e in self.registry.emitted}.get(event_type)
            if emitted is None:
                raise KeyError(
                    f"{event_type!r} has no handler and is not declared emitted "
                    f"(registered: {', '.join(self.registry.types) or 'none'})"
                )
            model = emitted.model
        if model is None:
            return {}
        from .examples import example_for_model  # noqa: PLC0415 - only with models

        return example_for_model(model)

    def __call__(self, event_type: str, data: Any = ..., **attributes: Any) -> CloudEvent:
        """A valid event of ``event_type``; ``attributes`` override id, source, subject..."""
        fields: dict[str, Any] = {"id": str(uuid.uuid4()), "source": self.source}
        registration = self.registry.get(event_type)
        if registration is not None:
            # The Trigger's extra filter attributes, so the event is one the broker delivers.
            fields.update(registration.attributes)
        fields.update(attributes)
        return CloudEvent(
            type=event_type, data=self.data(event_type) if data is ... else data, **fields
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
