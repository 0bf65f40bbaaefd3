"""The in-memory idempotency store: bounded, with a TTL, and per pod.

It deduplicates only deliveries that reach the same pod. A broker retry may land on any
pod of the revision (and a scale-down loses the memory), so with more than one pod use the
Redis store when duplicates must never run twice.

Two plain dicts, no lock (the event loop is one thread). Outcomes are kept in insertion
order, which is expiry order because every outcome gets the same TTL, so expired ones are
dropped from the front as new ones come in; past ``max_keys`` the oldest go first (its
duplicates would then run again: size the bound to the event rate times the TTL).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from ..cloudevents.models import CloudEvent
from .store import CLAIMED, IN_FLIGHT, MAX_PLAIN_KEY_CHARS, Claim, Done

Key = tuple[str, str] | str


def memory_key(source: str, event_id: str) -> Key:
    """The pair itself, or its digest when long (bounds each key's memory)."""
    if len(source) + len(event_id) <= MAX_PLAIN_KEY_CHARS:
        return (source, event_id)
    digest = hashlib.sha256(f"{len(source)}:{source}{event_id}".encode())
    return digest.hexdigest()


class MemoryStore:
    """Outcomes of the last ``ttl_seconds`` (at most ``max_keys``), in this process."""

    def __init__(
        self,
        *,
        ttl_seconds: float,
        max_keys: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_seconds <= 0 or max_keys < 1:
            raise ValueError("ttl_seconds must be > 0 and max_keys >= 1")
        self.ttl_seconds = ttl_seconds
        self.max_keys = max_keys
        self._clock = clock
        self._in_flight: set[Key] = set()
        self._done: dict[Key, Done] = {}

    def __len__(self) -> int:
        return len(self._done)

    async def claim(self, source: str, event_id: str) -> Claim:
        key = memory_key(source, event_id)
        done = self._done.get(key)
        if done is not None:
            if done.expires > self._clock():
                return done
            del self._done[key]
        if key in self._in_flight:
            return IN_FLIGHT
        self._in_flight.add(key)
        return CLAIMED

    async def complete(self, source: str, event_id: str, reply: CloudEvent | None) -> None:
        key = memory_key(source, event_id)
        self._in_flight.discard(key)
        now = self._clock()
        done = self._done
        done[key] = Done(now + self.ttl_seconds, reply)
        # Drop from the oldest end: expired outcomes, then any beyond the bound.
        while done:
            oldest = next(iter(done))
            if done[oldest].expires > now and len(done) <= self.max_keys:
                break
            del done[oldest]

    async def release(self, source: str, event_id: str) -> None:
        self._in_flight.discard(memory_key(source, event_id))

    async def close(self) -> None:
        self._in_flight.clear()
        self._done.clear()
