"""The guard the endpoint consults for opted-in handlers: claim, run once, keep or release.

:func:`install` sets an :class:`IdempotentRun` as ``EventEndpoint.guard``, which ``run``
calls inline (no wrapper coroutine per event; see ``cloudevents/guard.py``). Without the
feature the guard is None, nothing here is imported, and ``run`` pays one attribute check.
For an opted-in handler, per delivery of (source, id):

* first delivery: the claim succeeds, the handler runs; a success keeps its outcome (the
  reply event, or none) for the TTL, a failure of any kind releases the claim so the
  broker's retry runs the handler again;
* a repeat within the TTL: the kept outcome, same status and same reply, without running
  the handler; counted in ``cloudevents_received`` with outcome ``duplicate``;
* a repeat while the first is still running: 409 with Retry-After. The data-plane contract
  names 409 "processing in progress" and brokers retry it; answering at once (rather than
  waiting here for the first) holds no concurrency slot and no connection for as long as
  the handler runs, and it works the same whether the first runs in this pod or another;
* the store unreachable: 503 with Retry-After, logged, and the handler does not run (fail
  closed: the event may have run already, and the broker retries it later).
"""

from __future__ import annotations

import logging
from typing import Final

from ..cloudevents.endpoint import EventEndpoint
from ..cloudevents.errors import EventInProgressError, IdempotencyUnavailableError
from ..cloudevents.guard import Kept
from ..cloudevents.models import CloudEvent
from ..cloudevents.registry import Registration
from ..event_log import EventLog
from ..metrics import EventMetrics
from .memory import RUNNING, MemoryStore, memory_key
from .store import (
    CLAIMED,
    IN_FLIGHT,
    MAX_PLAIN_KEY_CHARS,
    Claim,
    Done,
    IdempotencyStore,
    StoreUnavailableError,
)

DUPLICATE: Final = "duplicate"
"""The ``outcome`` label of a repeat answered from the store."""

logger = logging.getLogger(__name__)


class IdempotentRun:
    """The endpoint's :class:`~knative_events.cloudevents.guard.Guard`: one store, claims kept."""

    def __init__(
        self,
        *,
        store: IdempotencyStore,
        metrics: EventMetrics,
        retry_after_seconds: int,
        event_log: EventLog | None = None,
    ) -> None:
        self.store = store
        self._memory = store if isinstance(store, MemoryStore) else None
        self.synchronous = self._memory is not None
        if self._memory is not None:
            self._entries = self._memory.entries
            self._claim_key = self._memory.claim_key
            self.complete_now = self._memory.complete_key
            self.release_now = self._memory.release_key
        self.metrics = metrics
        self.event_log = event_log if event_log is not None else EventLog()
        self._retry_after = {"Retry-After": str(max(1, retry_after_seconds))}

    # The memory store's forms: plain calls, no coroutine (most of this guard's cost).
    # ``complete_now`` and ``release_now`` are the store's own methods (set in __init__).

    def claim_now(self, event: CloudEvent) -> object:
        """The claim in the memory store: its key, or a :class:`Kept` outcome."""
        source, event_id = event.source, event.id
        key = (
            (source, event_id)
            if len(source) + len(event_id) <= MAX_PLAIN_KEY_CHARS
            else memory_key(source, event_id)
        )
        if key not in self._entries:  # the common case, inline: a key never seen (or swept)
            self._entries[key] = RUNNING
            return key
        claim = self._claim_key(key)  # running, kept, or expired: the store decides
        if claim is CLAIMED:
            return key
        return self._repeat(event, claim)

    # Any store's forms (Redis: one round trip each).

    async def claim(self, event: CloudEvent, registration: Registration) -> object:
        """The claim in the store: ``(source, id)``, or a :class:`Kept` outcome."""
        try:
            claim = await self.store.claim(event.source, event.id)
        except StoreUnavailableError as exc:
            raise self._unavailable(event, registration.name, exc) from None
        if claim is CLAIMED:
            return (event.source, event.id)
        return self._repeat(event, claim)

    async def complete(
        self, hold: object, event: CloudEvent, registration: Registration, reply: CloudEvent | None
    ) -> None:
        """Keep the outcome; a store failure is logged (the handler ran: answer its outcome)."""
        try:
            await self.store.complete(event.source, event.id, reply)
        except StoreUnavailableError as exc:
            # A redelivery gets 409 until the claim expires, then runs the handler again
            # (the store has no record of this run).
            logger.error(
                "handler %s handled event %r from %r but its outcome could not be kept (%s)",
                registration.name,
                event.id,
                event.source,
                exc,
            )

    async def release(self, hold: object, event: CloudEvent, registration: Registration) -> None:
        """Give the claim back; a store failure is logged (redeliveries get 409 meanwhile)."""
        try:
            await self.store.release(event.source, event.id)
        except StoreUnavailableError as exc:
            logger.error(
                "handler %s failed and its claim on event %r from %r could not be released "
                "(%s): redeliveries get 409 until the claim expires",
                registration.name,
                event.id,
                event.source,
                exc,
            )

    def _repeat(self, event: CloudEvent, claim: Claim) -> Kept:
        """A repeat: 409 while the first delivery runs, else its kept outcome (counted)."""
        if claim is IN_FLIGHT:
            self.metrics.count(event.type, EventInProgressError.slug)
            self.event_log.failure(event, EventInProgressError.slug, 409, 0.0)
            raise EventInProgressError(
                f"event {event.id!r} from {event.source!r} is being handled now; retry later",
                headers=self._retry_after,
            )
        assert isinstance(claim, Done)  # noqa: S101 - the protocol's third answer
        self.metrics.count(event.type, DUPLICATE)
        if self.event_log.successes:
            status = 202 if claim.reply is None else 200
            self.event_log.success(event, DUPLICATE, status, 0.0)
        return Kept(claim.reply)

    def _unavailable(
        self, event: CloudEvent, handler: str, exc: StoreUnavailableError
    ) -> IdempotencyUnavailableError:
        logger.error(
            "idempotency store unavailable, handler %s not run for event %r from %r "
            "(answered 503; the sender retries): %s",
            handler,
            event.id,
            event.source,
            exc,
        )
        self.metrics.count(event.type, IdempotencyUnavailableError.slug)
        self.event_log.failure(event, IdempotencyUnavailableError.slug, 503, 0.0)
        error = IdempotencyUnavailableError(
            f"the idempotency store is unavailable, so event {event.id!r} was not handled; "
            "retry later"
        )
        error.headers = dict(self._retry_after)
        return error

    async def close(self) -> None:
        """Close the store (lifespan shutdown)."""
        await self.store.close()


def install(endpoint: EventEndpoint, store: IdempotencyStore) -> IdempotentRun:
    """Make an :class:`IdempotentRun` on ``store`` the endpoint's guard, and return it."""
    guard = IdempotentRun(
        store=store,
        metrics=endpoint.metrics,
        retry_after_seconds=endpoint.retry_after_seconds,
        event_log=endpoint.event_log,
    )
    endpoint.guard = guard
    return guard
