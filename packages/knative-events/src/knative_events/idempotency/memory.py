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
        # Expiry times, and the replies of those that sent one: floats and tuples of strings
        # only, which the garbage collector stops tracking, so a full store costs no GC time.
        self._done: dict[Key, float] = {}
        self._replies: dict[Key, CloudEvent] = {}
        self._next_sweep = 0.0

    def __len__(self) -> int:
        return len(self._done)

    async def claim(self, source: str, event_id: str) -> Claim:
        return self.claim_now(source, event_id)

    async def complete(self, source: str, event_id: str, reply: CloudEvent | None) -> None:
        self.complete_now(source, event_id, reply)

    async def release(self, source: str, event_id: str) -> None:
        self.release_now(source, event_id)

    # The same, without a coroutine per call: the guard calls these directly (see guard.py).

    def claim_now(self, source: str, event_id: str) -> Claim:
        """:meth:`claim`, synchronously."""
        key: Key = (
            (source, event_id)
            if len(source) + len(event_id) <= MAX_PLAIN_KEY_CHARS
            else memory_key(source, event_id)
        )
        expires = self._done.get(key)
        if expires is not None:
            if expires > self._clock():
                return Done(expires, self._replies.get(key))
            del self._done[key]
            self._replies.pop(key, None)
        if key in self._in_flight:
            return IN_FLIGHT
        self._in_flight.add(key)
        return CLAIMED

    def complete_now(self, source: str, event_id: str, reply: CloudEvent | None) -> None:
        """:meth:`complete`, synchronously."""
        key: Key = (
            (source, event_id)
            if len(source) + len(event_id) <= MAX_PLAIN_KEY_CHARS
            else memory_key(source, event_id)
        )
        self._in_flight.discard(key)
        now = self._clock()
        done = self._done
        done[key] = now + self.ttl_seconds
        if reply is not None:
            self._replies[key] = reply
        # Drop from the oldest end: expired outcomes, then any beyond the bound. The check
        # looks at the oldest only when it may have expired (at most once per second).
        if now >= self._next_sweep or len(done) > self.max_keys:
            self._next_sweep = now + 1.0
            while done:
                oldest = next(iter(done))
                if done[oldest] > now and len(done) <= self.max_keys:
                    break
                del done[oldest]
                self._replies.pop(oldest, None)

    def release_now(self, source: str, event_id: str) -> None:
        """:meth:`release`, synchronously."""
        self._in_flight.discard(memory_key(source, event_id))

    async def close(self) -> None:
        self._in_flight.clear()
        self._done.clear()
        self._replies.clear()
