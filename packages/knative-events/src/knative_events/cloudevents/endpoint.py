"""The event endpoint: a plain ASGI callable for ``POST /``, the service's hot path.

The app sends every request for ``/`` here without importing or entering FastAPI
(see ``app.py``). Per request it does only what an event needs:

* scans the raw ASGI header pairs once (no Starlette ``Request``/``Headers`` objects),
* refuses a Content-Length over MAX_BODY_BYTES before reading, and counts while reading,
* parses with orjson and the shared attribute rules, building the model once,
* runs the handler under a dict-based deadline (see :class:`Deadlines`) and a plain counter,
* answers with precomputed header bytes and counts the outcome in plain dicts (``metrics.py``).

Every refusal is an RFC 9457 problem: 4xx for bad input, 500 when the handler raises
(Knative retries), 504 on timeout, 503 + Retry-After when MAX_CONCURRENT_HANDLERS are busy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from time import perf_counter
from typing import Any, Final

from ..event_log import EventLog
from ..logs import current_event
from ..metrics import INVALID_TYPE, UNHANDLED_TYPE, EventMetrics
from .errors import (
    CloudEventError,
    HandlerError,
    HandlerTimeoutError,
    MethodNotAllowedError,
    OverloadedError,
    PayloadTooLargeError,
    ProblemError,
    UnhandledEventTypeError,
)
from .guard import Guard, Kept
from .models import CloudEvent
from .parser import (
    ContentMode,
    binary_event,
    content_mode,
    parse_batch,
    parse_structured,
    percent_decoded,
    repeated_header,
)
from .problem import AsgiHeaders, problem_parts
from .registry import HandlerRegistry
from .replies import batch_reply, binary_reply

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Response = tuple[int, AsgiHeaders, bytes]

EVENT_PATH: Final = "/"
"""Where events are delivered (Knative posts to the service's root)."""
ACCEPTED: Final = "accepted"
REPLIED: Final = "replied"
_ALLOW: Final = b"POST, OPTIONS"
_EMPTY_202: Final[Response] = (202, [(b"content-length", b"0")], b"")
# Servers only read ASGI messages, so the accepted answer's two can be built once.
_START_202: Final = {"type": "http.response.start", "status": 202, "headers": _EMPTY_202[1]}
_EMPTY_BODY: Final = {"type": "http.response.body", "body": b""}

logger = logging.getLogger(__name__)

# Header name -> what it is: a ce-* attribute name, or one of the two markers below.
# Filled as ce-* headers are first seen (bounded), so each name is decoded only once.
_CONTENT_TYPE: Final = "\0content-type"
_CONTENT_LENGTH: Final = "\0content-length"
_MAX_HEADER_NAMES: Final = 256
_SWEEPER_IDLE_SECONDS: Final = 10.0
_OTHER: Final = "\0other"
_PERCENT: Final = ord("%")  # an int: ``bytes.__contains__`` of bytes is far slower
_header_names: dict[bytes, str] = {
    b"content-type": _CONTENT_TYPE,
    b"content-length": _CONTENT_LENGTH,
}


_MARKERS: Final = dict(_header_names)


def _learn_header_name(name: bytes) -> str:
    """What a header name not seen before is; remembered while the table has room.

    Names are compared lowercased: servers lowercase them (ASGI requires it), but one that
    does not must not let ``CE-ID`` slip past the duplicate check as a different header.
    """
    lowered = name.lower()
    known = lowered[3:].decode("ascii") if lowered[:3] == b"ce-" else _MARKERS.get(lowered, _OTHER)
    if len(_header_names) < _MAX_HEADER_NAMES:
        _header_names[name] = known
    return known


class _Disconnected(Exception):
    """The client went away before sending the whole body."""


class Deadlines:
    """Cancels handlers that outlive HANDLER_TIMEOUT_SECONDS, from one sweeper task.

    ``asyncio.timeout`` (or ``wait_for``) schedules and cancels a timer per request, and
    the cancelled timers pile up in the loop's heap for the whole timeout. Here a request
    only writes its task and deadline into a dict; a single sweeper task (started by the
    first event, gone after a quiet spell) wakes every ``timeout / 20`` (at most 0.5 s)
    and cancels overdue handlers. A timeout therefore fires up to one tick late, which is
    fine for a limit meant to answer 504 before Knative's own request timeout.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.tick = min(timeout / 20, 0.5)
        self._running: dict[asyncio.Task[Any], float] = {}
        self._cancelled: set[asyncio.Task[Any]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    def watch(self, task: asyncio.Task[Any], started: float) -> None:
        """Start the clock for ``task`` (the request's task) at ``started`` (``perf_counter``)."""
        self._running[task] = started + self.timeout
        sweeper = self._sweeper
        loop = task.get_loop()
        if sweeper is None or sweeper.get_loop() is not loop:  # none yet, or an old loop's
            self._sweeper = loop.create_task(self._sweep())

    def expired(self, task: asyncio.Task[Any]) -> bool:
        """True if the sweeper cancelled ``task``; takes that cancellation back."""
        if task in self._cancelled:
            self._cancelled.discard(task)
            task.uncancel()
            return True
        return False

    def forget(self, task: asyncio.Task[Any]) -> None:
        """Stop the clock for ``task``."""
        self._running.pop(task, None)
        if task in self._cancelled:  # it finished anyway, after the sweeper cancelled it
            self._cancelled.discard(task)
            task.uncancel()

    async def close(self) -> None:
        """Stop the sweeper (lifespan shutdown)."""
        sweeper = self._sweeper
        if sweeper is None or sweeper.get_loop() is not asyncio.get_running_loop():
            return  # none, or left behind by a loop that is gone
        if not sweeper.done():
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper

    async def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        busy_at = perf_counter()
        try:
            while True:
                await asyncio.sleep(self.tick)
                now = perf_counter()
                if not self._running:
                    # Most events finish within one loop step, so "nothing running" at a
                    # tick says little: stay up a while instead of being re-created per event.
                    if now - busy_at >= _SWEEPER_IDLE_SECONDS:
                        return
                    continue
                busy_at = now
                for task, deadline in list(self._running.items()):
                    if deadline <= now and task not in self._cancelled:
                        self._cancelled.add(task)
                        task.cancel()
        finally:  # idle, cancelled (close() or the loop's shutdown), or discarded with its loop
            sweeper = self._sweeper
            if sweeper is not None and sweeper.get_loop() is loop:
                self._sweeper = None


class EventEndpoint:
    """Receives CloudEvents over HTTP and dispatches them to the registry's handlers."""

    def __init__(
        self,
        registry: HandlerRegistry,
        *,
        max_body_bytes: int,
        handler_timeout_seconds: float,
        max_concurrent_handlers: int,
        retry_after_seconds: int = 1,
        metrics: EventMetrics | None = None,
        event_log: EventLog | None = None,
    ) -> None:
        self.registry = registry
        self.max_body_bytes = max_body_bytes
        self.handler_timeout_seconds = handler_timeout_seconds
        self.max_concurrent_handlers = max_concurrent_handlers
        self.retry_after_seconds = retry_after_seconds
        self.metrics = metrics if metrics is not None else EventMetrics()
        self.event_log = event_log if event_log is not None else EventLog()
        self.guard: Guard | None = None
        """Set by ``knative_events.idempotency.install`` when IDEMPOTENCY is on."""
        self.log_successes = self.event_log.successes
        self.busy = 0
        self._deadlines = Deadlines(handler_timeout_seconds)
        self.metrics.track_in_flight(lambda: self.busy)

    def warm_up(self) -> None:
        """Create each registered type's metric series before the first event arrives."""
        for registration in self.registry:
            self.metrics.prepare(
                registration.event_type,
                (ACCEPTED, REPLIED, HandlerError.slug, HandlerTimeoutError.slug),
            )

    async def close(self) -> None:
        """Release the endpoint's background task (called at lifespan shutdown)."""
        await self._deadlines.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: PLR0912
        """ASGI entry point (http scopes only).

        A POST is read, parsed and dispatched right here rather than in helper coroutines:
        every coroutine layer adds measurable work to each event. The synchronous steps are
        plain methods.
        """
        method = scope["method"]
        if method != "POST":
            response = self._options(scope) if method == "OPTIONS" else self._not_allowed(method)
        else:
            try:
                try:
                    content_type, ce = self._scan_headers(scope["headers"])
                    message = await receive()
                    body: bytes = message.get("body", b"")
                    # The common case, inline: the whole body in one message, within the limit.
                    if message.get("more_body", False) or len(body) > self.max_body_bytes:
                        body = await self._read_body(message, receive)
                    elif message["type"] == "http.disconnect":
                        return
                    event = self.parse(content_type, ce, body)
                except CloudEventError as exc:
                    response = self._refuse(exc, INVALID_TYPE)
                else:
                    if isinstance(event, list):
                        response = await self._dispatch_batch(event)
                    else:
                        try:
                            reply = await self.run(event)
                        except ProblemError as exc:
                            response = problem_parts(exc)
                        else:
                            response = _EMPTY_202 if reply is None else self._reply(event, reply)
            except _Disconnected:
                return
            except Exception:  # a bug here must still answer with a problem, not a bare 500
                logger.exception("the event endpoint failed")
                response = problem_parts(ProblemError("the event endpoint failed"))
        if response is _EMPTY_202:  # the common answer, from messages built once
            await send(_START_202)
            await send(_EMPTY_BODY)
            return
        status, headers, body = response
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def _options(self, scope: Scope) -> Response:
        """Answer OPTIONS: senders may probe with it (Knative, CloudEvents webhooks)."""
        headers: AsgiHeaders = [(b"allow", _ALLOW), (b"content-length", b"0")]
        for name, value in scope["headers"]:
            if name == b"webhook-request-origin":
                headers.append((b"webhook-allowed-origin", value))
                headers.append((b"webhook-allowed-rate", b"*"))
        return 200, headers, b""

    def _not_allowed(self, method: str) -> Response:
        error = MethodNotAllowedError(
            f"{method} is not supported here; events are delivered with POST",
            headers={"Allow": _ALLOW.decode()},
        )
        return self._refuse(error, INVALID_TYPE)

    def _scan_headers(  # noqa: PLR0912 - one pass, each kind of header inline
        self, pairs: AsgiHeaders
    ) -> tuple[str | None, dict[str, str]]:
        """Content-Type and the decoded ``ce-*`` values, in one pass over the raw pairs.

        A ``ce-*`` header or Content-Type sent twice is a 400 naming the attribute.
        Also refuses a Content-Length over MAX_BODY_BYTES before the body is read.
        """
        content_type: str | None = None
        declared = b""
        ce: dict[str, str] = {}
        names = _header_names
        try:
            for name, value in pairs:
                known = names.get(name)
                if known is None:
                    known = _learn_header_name(name)
                if known is _OTHER:
                    continue
                if known is _CONTENT_TYPE:
                    if content_type is not None:
                        raise repeated_header("content-type", "datacontenttype")
                    content_type = value.decode("latin-1")
                elif known is _CONTENT_LENGTH:
                    declared = value
                elif known in ce:  # one dict lookup: a sender must not choose which value wins
                    raise repeated_header(f"ce-{known}", known)
                elif _PERCENT in value:
                    ce[known] = percent_decoded(known, value.decode())
                else:
                    ce[known] = value.decode()  # UTF-8, the default: no codec name to look up
        except UnicodeDecodeError:
            raise CloudEventError("a ce-* header is not valid UTF-8; percent-encode it") from None
        if declared:
            if not declared.isdigit():
                raise CloudEventError("Content-Length is not a number")
            # The length check comes first: int() of thousands of digits is slow or refused.
            if len(declared) > 15 or int(declared) > self.max_body_bytes:
                raise PayloadTooLargeError(
                    f"Content-Length {declared[:20].decode('ascii')} exceeds the limit of "
                    f"{self.max_body_bytes} bytes"
                )
        return content_type, ce

    async def _read_body(self, message: Message, receive: Receive) -> bytes:
        """The rest of a body sent in parts, refused as soon as it passes MAX_BODY_BYTES."""
        if message["type"] == "http.disconnect":
            raise _Disconnected
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):
            if len(body) > self.max_body_bytes:
                raise self._too_large()
            return body
        chunks = [body]
        size = len(body)
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _too_large(self) -> PayloadTooLargeError:
        return PayloadTooLargeError(f"the body exceeds the limit of {self.max_body_bytes} bytes")

    def parse(
        self, content_type: str | None, ce: dict[str, str], body: bytes
    ) -> CloudEvent | list[CloudEvent]:
        """The request's event (a list for a batch); ``ce`` becomes a binary event's fields."""
        mode = content_mode(content_type)
        if mode is ContentMode.BINARY:
            return binary_event(ce, content_type, body)
        if mode is ContentMode.STRUCTURED:
            return parse_structured(body)
        return parse_batch(body)

    async def _dispatch_batch(self, events: list[CloudEvent]) -> Response:
        """Run a batch's events in order; stop at the first failure (retries redeliver all)."""
        replies: list[tuple[CloudEvent, str]] = []
        for index, event in enumerate(events):
            try:
                reply = await self.run(event)
            except ProblemError as exc:
                exc.detail = f"batch item [{index}]: {exc.detail}"
                return problem_parts(exc)
            if reply is not None:
                replies.append((reply, self._handler_name(event)))
        if not replies:
            return _EMPTY_202
        try:
            headers, body = batch_reply(replies)
        except ProblemError as exc:
            return problem_parts(exc)
        return 200, headers, body

    def _reply(self, event: CloudEvent, reply: CloudEvent) -> Response:
        """The reply in binary mode, or the handler's 500 (see ``replies.py``)."""
        try:
            headers, body = binary_reply(reply, self._handler_name(event))
        except ProblemError as exc:
            return problem_parts(exc)
        return 200, headers, body

    def _handler_name(self, event: CloudEvent) -> str:
        registration = self.registry.get(event.type)
        return registration.name if registration is not None else repr(event.type)

    def _refuse(self, error: ProblemError, event_type: str) -> Response:
        self.metrics.count(event_type, error.slug)
        return problem_parts(error)

    async def run(self, event: CloudEvent) -> CloudEvent | None:  # noqa: PLR0912, PLR0915 - one frame
        """Dispatch one valid event to its handler; raise a ProblemError for any refusal.

        Kept in one function on purpose: this is the event path, and each helper call
        would cost every event.
        """
        registration = self.registry.get(event.type)
        if registration is None:
            self.metrics.count(UNHANDLED_TYPE, UnhandledEventTypeError.slug)
            self.event_log.failure(event, UnhandledEventTypeError.slug, 400, 0.0)
            raise UnhandledEventTypeError(
                f"no handler for event type {event.type!r}; "
                f"this service handles {', '.join(self.registry.types) or 'no types'}",
                attribute="type",
            )
        guard = self.guard  # None unless IDEMPOTENCY is on: the only cost when off
        if guard is not None:
            opted_in = registration.idempotent
            if self.registry.idempotent if opted_in is None else opted_in:
                hold = (
                    guard.claim_now(event)
                    if guard.synchronous
                    else await guard.claim(event, registration)
                )
                if isinstance(hold, Kept):
                    return hold.reply  # a repeat: counted and logged by the guard
            else:
                guard = None  # this handler has not opted in
        # Zero-cost unless something raises: a claim is released on any failure below.
        try:
            event_type = registration.event_type
            try:
                data = registration.decode(event)
            except CloudEventError as exc:
                self.metrics.count(event_type, exc.slug)
                self.event_log.failure(event, exc.slug, exc.status, 0.0)
                raise
            except Exception:  # the data model's own code failed, not the event
                logger.exception("the data model of handler %s raised", registration.name)
                self.metrics.count(event_type, HandlerError.slug)
                self.event_log.failure(event, HandlerError.slug, 500, 0.0)
                raise _raised(event_type) from None
            if self.busy >= self.max_concurrent_handlers:
                self.metrics.count(event_type, OverloadedError.slug)
                self.event_log.failure(event, OverloadedError.slug, 503, 0.0)
                raise OverloadedError(
                    f"{self.busy} events are being handled (MAX_CONCURRENT_HANDLERS); retry later",
                    headers={"Retry-After": str(self.retry_after_seconds)},
                )
            self.busy += 1
            token = current_event.set((event.id, event_type))
            task = asyncio.current_task()
            started = perf_counter()
            if task is not None:
                self._deadlines.watch(task, started)
            # Counted with the latency in one call; a raise below leaves it a handler failure.
            outcome: str | None = HandlerError.slug
            try:
                reply = await registration.handler(event, data)
                # Anything but None or a CloudEvent is the handler's error, refused below
                # (after the finally, so the refusal is counted with the latency).
                outcome = (
                    ACCEPTED
                    if reply is None
                    else (REPLIED if isinstance(reply, CloudEvent) else HandlerError.slug)
                )
            except asyncio.CancelledError:
                if task is None or not self._deadlines.expired(task):
                    outcome = None  # cancelled from outside (shutdown): the latency only
                    raise
                outcome = HandlerTimeoutError.slug
                logger.error("handler %s timed out", registration.name)
                self.event_log.failure(event, outcome, 504, perf_counter() - started)
                raise HandlerTimeoutError(
                    f"the handler of {event_type!r} did not finish within "
                    f"{self.handler_timeout_seconds} s (HANDLER_TIMEOUT_SECONDS)"
                ) from None
            except ProblemError as exc:
                # The handler chose its answer (say, 503 while a dependency is down): the sender
                # gets that status and the problem's detail, which names the cause.
                outcome = exc.slug
                logger.warning("handler %s answered %s: %s", registration.name, exc.status, exc)
                self.event_log.failure(event, outcome, exc.status, perf_counter() - started)
                raise
            except Exception:
                logger.exception("handler %s raised", registration.name)
                self.event_log.failure(event, HandlerError.slug, 500, perf_counter() - started)
                raise _raised(event_type) from None
            finally:
                if task is not None:
                    self._deadlines.forget(task)
                self.busy -= 1
                current_event.reset(token)
                self.metrics.record(event_type, outcome, perf_counter() - started)
            if outcome == HandlerError.slug:  # it returned, but neither None nor a CloudEvent
                logger.error(
                    "handler %s returned %s, expected a CloudEvent or None",
                    registration.name,
                    type(reply).__name__,
                )
                self.event_log.failure(event, outcome, 500, perf_counter() - started)
                raise HandlerError(
                    f"the handler of {event_type!r} returned {type(reply).__name__}, "
                    "expected a CloudEvent or None"
                )
            if self.log_successes:  # worked out once (see event_log.py): usually False
                done = (ACCEPTED, 202) if reply is None else (REPLIED, 200)
                self.event_log.success(event, done[0], done[1], perf_counter() - started)
            if guard is not None:  # a success: kept
                if reply is not None:  # an invalid one is not: it raises, released below
                    binary_reply(reply, registration.name)
                if guard.synchronous:
                    guard.complete_now(hold, reply)
                else:
                    await guard.complete(hold, event, registration, reply)
            return reply
        except BaseException:
            if guard is not None:
                if guard.synchronous:
                    guard.release_now(hold)
                else:
                    await guard.release(hold, event, registration)
            raise


def _raised(event_type: str) -> HandlerError:
    """The 500 for a handler (or its data model) that raised: Knative retries it."""
    return HandlerError(f"the handler of {event_type!r} raised an error; the event can be retried")
