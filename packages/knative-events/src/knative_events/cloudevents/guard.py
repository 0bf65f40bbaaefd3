"""What the endpoint asks of a guard in front of opted-in handlers (idempotency).

``EventEndpoint.guard`` is None unless IDEMPOTENCY is on; then ``knative_events.idempotency``
sets it. The endpoint calls the guard from inside ``run`` rather than being wrapped by it:
a wrapper adds a coroutine layer to every event, while these calls add plain method calls,
and none at all for a handler that has not opted in. This module only describes the calls,
so the endpoint imports nothing of idempotency.

A claim answers with a *hold* (an opaque key: run the handler, then complete or release it)
or a :class:`Kept` outcome (a repeat: answer its reply without running the handler), or
raises a ProblemError (409 while the first delivery runs, 503 when the store is down).
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

from .models import CloudEvent
from .registry import Registration


class Kept(NamedTuple):
    """The outcome of an earlier delivery of the same event: its reply (None: 202)."""

    reply: CloudEvent | None


class Guard(Protocol):
    """Claim, complete, release; the ``_now`` forms when ``synchronous`` (no coroutine)."""

    synchronous: bool
    """True when the store answers without I/O: the endpoint then calls the ``_now`` forms."""

    def claim_now(self, event: CloudEvent) -> object:
        """:meth:`claim` without a coroutine (only when ``synchronous``)."""
        ...

    def complete_now(self, hold: Any, reply: CloudEvent | None) -> None:
        """:meth:`complete` without a coroutine (only when ``synchronous``)."""
        ...

    def release_now(self, hold: Any) -> None:
        """:meth:`release` without a coroutine (only when ``synchronous``)."""
        ...

    async def claim(self, event: CloudEvent, registration: Registration) -> object:
        """A hold, or a :class:`Kept` outcome; ProblemError for 409/503."""
        ...

    async def complete(
        self, hold: object, event: CloudEvent, registration: Registration, reply: CloudEvent | None
    ) -> None:
        """Keep the handler's outcome (the endpoint has checked that a reply is valid)."""
        ...

    async def release(self, hold: object, event: CloudEvent, registration: Registration) -> None:
        """Give the claim back: the handler failed, and the retry must run it."""
        ...
