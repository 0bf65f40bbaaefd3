"""The in-memory idempotency store: bounded, with a TTL, and per pod.

It deduplicates only deliveries that reach the same pod. A broker retry may land on any
pod of the revision (and a scale-down loses the memory), so with more than one pod use the
Redis store when duplicates must never run twice.

One dict from key to expiry time (``inf`` while the handler runs), a deque of completed keys
(completion order is expiry order: every outcome is kept ``ttl_seconds``), and the replies of
the outcomes that have one; no lock (the event loop is one thread). A first delivery costs
one lookup and one insert to claim, one assignment and one append to complete; the values
are floats, which the garbage collector does not track. Expired outcomes are dropped from
the front of the deque (checked at most once a second); past ``max_keys`` the oldest go
first (their duplicates would then run again: size the bound to the event rate times the
TTL). Keys released or claimed again since they entered the deque are skipped there.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import deque
from collections.abc import Callable
from typing import Final

from ..cloudevents.models import CloudEvent
from .store import CLAIMED, IN_FLIGHT, MAX_PLAIN_KEY_CHARS, Claim, Done

Key = tuple[str, str] | str
RUNNING: Final = math.inf
"""The expiry time of a key whose handler is running (claimed, not completed)."""


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
        # A plain dict for lookups and a deque of completed keys for the order of expiry
        # (completion order: every kept outcome lives exactly ttl_seconds). Dropping from the
        # front of a dict itself would leave holes that every later look at its first entry
        # walks over (seconds per event once full); an OrderedDict costs more per claim.
        self._expires: dict[Key, float] = {}
        self.entries = self._expires
        """Key -> expiry time (RUNNING while claimed): the guard claims a new key in it inline."""
        self._order: deque[Key] = deque()
        self._append = self._order.append
        self._replies: dict[Key, CloudEvent] = {}
        self._next_sweep = 0.0

    def __len__(self) -> int:
        return len(self._expires)

    async def claim(self, source: str, event_id: str) -> Claim:
        return self.claim_key(memory_key(source, event_id))

    async def complete(self, source: str, event_id: str, reply: CloudEvent | None) -> None:
        self.complete_key(memory_key(source, event_id), reply)

    async def release(self, source: str, event_id: str) -> None:
        self.release_key(memory_key(source, event_id))

    # The same by key, without a coroutine per call: the guard calls these directly.

    def claim_key(self, key: Key) -> Claim:
        """:meth:`claim` for a :func:`memory_key`, synchronously."""
        expires = self._expires.get(key)
        if expires is not None:
            if expires == RUNNING:
                return IN_FLIGHT
            if expires > self._clock():
                return Done(expires, self._replies.get(key))
            del self._expires[key]  # expired: claimed anew below, at the back
            self._replies.pop(key, None)
        self._expires[key] = RUNNING
        return CLAIMED

    def complete_key(self, key: Key, reply: CloudEvent | None) -> None:
        """:meth:`complete` for a :func:`memory_key`, synchronously."""
        now = self._clock()
        expires = self._expires
        expires[key] = now + self.ttl_seconds
        self._append(key)
        if reply is not None:
            self._replies[key] = reply
        if now >= self._next_sweep or len(expires) > self.max_keys:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        """Drop expired outcomes from the front, and the oldest while past ``max_keys``."""
        self._next_sweep = now + 1.0
        expires, order, replies = self._expires, self._order, self._replies
        while order:
            oldest = order[0]
            expiry = expires.get(oldest)
            if expiry is None or expiry == RUNNING:
                order.popleft()  # released or dropped, or claimed again: not this outcome
                continue
            if expiry > now and len(expires) <= self.max_keys:
                break  # the oldest outcome is alive: so is the rest
            order.popleft()
            del expires[oldest]
            if replies:
                replies.pop(oldest, None)

    def release_key(self, key: Key) -> None:
        """:meth:`release` for a :func:`memory_key`, synchronously."""
        self._expires.pop(key, None)

    async def close(self) -> None:
        self._expires.clear()
        self._replies.clear()
