"""The guard in front of the endpoint's ``run``: claim, run once, keep or release.

:func:`install` replaces the endpoint's ``run`` with an :class:`IdempotentRun` that wraps
it, so the endpoint's own code has no idempotency branch and a service without the feature
pays nothing for it. For an opted-in handler, per delivery of (source, id):

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
from collections.abc import Awaitable, Callable
from typing import Final

from ..cloudevents.endpoint import EventEndpoint
from ..cloudevents.errors import EventInProgressError, IdempotencyUnavailableError
from ..cloudevents.models import CloudEvent
from ..cloudevents.registry import HandlerRegistry
from ..cloudevents.replies import binary_reply
from ..event_log import EventLog
from ..metrics import EventMetrics
from .memory import MemoryStore, memory_key
from .store import CLAIMED, IN_FLIGHT, Done, IdempotencyStore, StoreUnavailableError

DUPLICATE: Final = "duplicate"
"""The ``outcome`` label of a repeat answered from the store."""

logger = logging.getLogger(__name__)

Run = Callable[[CloudEvent], Awaitable[CloudEvent | None]]


class IdempotentRun:
    """``run(event)`` of the endpoint, once per (source, id) for opted-in handlers."""

    def __init__(
        self,
        run: Run,
        *,
        registry: HandlerRegistry,
        store: IdempotencyStore,
        metrics: EventMetrics,
        retry_after_seconds: int,
        event_log: EventLog | None = None,
    ) -> None:
        self._run = run
        self.registry = registry
        self.store = store
        self._memory = store if isinstance(store, MemoryStore) else None
        self.metrics = metrics
        self.event_log = event_log if event_log is not None else EventLog()
        self._retry_after = {"Retry-After": str(max(1, retry_after_seconds))}

    async def __call__(self, event: CloudEvent) -> CloudEvent | None:  # noqa: PLR0912 - one frame
        registration = self.registry.get(event.type)
        if registration is None:
            return await self._run(event)  # the endpoint refuses it
        opted_in = registration.idempotent
        if not (self.registry.idempotent if opted_in is None else opted_in):
            return await self._run(event)
        source, event_id = event.source, event.id
        memory = self._memory
        if memory is not None:  # no coroutine per store call: most of this guard's cost
            key = memory_key(source, event_id)
            claim = memory.claim_key(key)
        else:
            try:
                claim = await self.store.claim(source, event_id)
            except StoreUnavailableError as exc:
                raise self._unavailable(event, registration.name, exc) from None
        if claim is not CLAIMED:
            if claim is IN_FLIGHT:
                self.metrics.count(event.type, EventInProgressError.slug)
                self.event_log.failure(event, EventInProgressError.slug, 409, 0.0)
                raise EventInProgressError(
                    f"event {event_id!r} from {source!r} is being handled now; retry later",
                    headers=self._retry_after,
                )
            assert isinstance(claim, Done)  # noqa: S101 - the protocol's third answer
            self.metrics.count(event.type, DUPLICATE)
            if self.event_log.successes:
                status = 202 if claim.reply is None else 200
                self.event_log.success(event, DUPLICATE, status, 0.0)
            return claim.reply
        try:
            reply = await self._run(event)
            if reply is not None:
                binary_reply(reply, registration.name)  # an invalid reply must not be kept
        except BaseException:
            try:
                await self.store.release(source, event_id)
            except StoreUnavailableError as exc:
                logger.error(
                    "handler %s failed and its claim on event %r from %r could not be released "
                    "(%s): redeliveries get 409 until the claim expires",
                    registration.name,
                    event_id,
                    source,
                    exc,
                )
            raise
        if memory is not None:
            memory.complete_key(key, reply)
            return reply
        try:
            await self.store.complete(source, event_id, reply)
        except StoreUnavailableError as exc:
            # The handler ran: answer its outcome. A redelivery gets 409 until the claim
            # expires, then runs the handler again (the store has no record of this run).
            logger.error(
                "handler %s handled event %r from %r but its outcome could not be kept (%s)",
                registration.name,
                event_id,
                source,
                exc,
            )
        return reply

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
    """Put an :class:`IdempotentRun` around ``endpoint.run`` and return it."""
    guard = IdempotentRun(
        endpoint.run,
        registry=endpoint.registry,
        store=store,
        metrics=endpoint.metrics,
        retry_after_seconds=endpoint.retry_after_seconds,
        event_log=endpoint.event_log,
    )
    endpoint.run = guard  # type: ignore[method-assign]
    return guard
