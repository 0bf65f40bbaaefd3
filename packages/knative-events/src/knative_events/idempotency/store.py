"""What an idempotency store does: claim a key, keep an outcome, release a failed claim.

A claim answers one of three ways: :data:`CLAIMED` (first delivery: run the handler),
:data:`IN_FLIGHT` (another delivery of the same event is running now), or :class:`Done`
(handled within the TTL: here is its reply, or None for "accepted"). Only successful
outcomes are kept; a handler that fails releases its claim, so the broker's retry runs it.
"""

from __future__ import annotations

from typing import Final, NamedTuple, Protocol

from ..cloudevents.models import CloudEvent

MAX_PLAIN_KEY_CHARS: Final = 256
"""A (source, id) longer than this is keyed by its digest, so a key's size is bounded."""


class Done(NamedTuple):
    """A kept outcome: the reply the first delivery sent (None: accepted, 202)."""

    expires: float
    reply: CloudEvent | None


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


CLAIMED: Final = _Marker("CLAIMED")
"""The caller holds the key: run the handler, then complete or release."""
IN_FLIGHT: Final = _Marker("IN_FLIGHT")
"""Another delivery of the same event holds the key now."""

Claim = _Marker | Done


class StoreUnavailableError(Exception):
    """The store cannot be reached: the event must not run (it might have run already)."""


class IdempotencyStore(Protocol):
    """Keys are ``(source, id)`` pairs; ``complete`` keeps the outcome for the store's TTL."""

    async def claim(self, source: str, event_id: str) -> Claim:
        """Take the key if nobody holds it; else say who does (IN_FLIGHT or Done)."""
        ...

    async def complete(self, source: str, event_id: str, reply: CloudEvent | None) -> None:
        """Keep the outcome of a claimed key for the TTL."""
        ...

    async def release(self, source: str, event_id: str) -> None:
        """Give a claimed key back (the handler failed): the next delivery runs it."""
        ...

    async def close(self) -> None:
        """Release connections (lifespan shutdown)."""
        ...
