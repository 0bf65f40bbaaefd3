"""The Redis idempotency store: one key per (source, id), shared by every pod.

Needs the ``redis`` extra (``knative-events[redis]``); ``redis.asyncio`` is imported when
this store is built, never by a service that does not use it.

A claim is ``SET key <pending> NX PX <claim TTL>``: atomic, so of any number of pods and
concurrent deliveries exactly one gets it. The claim TTL outlives HANDLER_TIMEOUT_SECONDS,
so a pod that dies mid-handler frees the key for the broker's retry without anyone's help.
A success overwrites the key with the outcome for the idempotency TTL (``a`` for accepted,
``r`` + the reply in the JSON event format); a failure deletes it.

When Redis cannot be reached the store raises :class:`StoreUnavailableError` at once (no
client-side retries: the broker retries, with its own backoff), and the endpoint answers
503 without running the handler: fail closed, because "unknown" might mean "ran already".
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Final

from ..cloudevents.errors import CloudEventError
from ..cloudevents.models import CloudEvent
from ..cloudevents.parser import parse_structured
from ..cloudevents.serializer import dumps, structured_dict
from .store import CLAIMED, IN_FLIGHT, Claim, Done, StoreUnavailableError

if TYPE_CHECKING:
    from redis.asyncio import Redis

_PENDING: Final = b"p"
_ACCEPTED: Final = b"a"
_REPLIED: Final = b"r"


def redis_key(prefix: str, source: str, event_id: str) -> str:
    """``<prefix><sha256 of the pair>``: fixed length whatever the sender wrote."""
    digest = hashlib.sha256(f"{len(source)}:{source}{event_id}".encode()).hexdigest()
    return f"{prefix}{digest}"


def encode_outcome(reply: CloudEvent | None) -> bytes:
    """The stored form of an outcome."""
    return _ACCEPTED if reply is None else _REPLIED + dumps(structured_dict(reply))


def decode_outcome(value: bytes) -> CloudEvent | None:
    """The outcome a stored value holds; StoreUnavailableError for a value we never wrote."""
    if value == _ACCEPTED:
        return None
    if value[:1] == _REPLIED:
        try:
            reply = parse_structured(value[1:])
        except CloudEventError as exc:
            raise StoreUnavailableError(f"a stored reply cannot be read: {exc}") from None
        if isinstance(reply, CloudEvent):
            return reply
    raise StoreUnavailableError(f"unexpected value in the idempotency store: {value[:20]!r}")


class RedisStore:
    """Outcomes in Redis for ``ttl_seconds``; claims expire after ``claim_ttl_seconds``."""

    def __init__(
        self,
        url: str,
        *,
        ttl_seconds: float,
        claim_ttl_seconds: float,
        prefix: str,
        timeout_seconds: float = 1.0,
    ) -> None:
        from redis.asyncio import Redis  # noqa: PLC0415 - the optional extra, loaded when used
        from redis.asyncio.retry import Retry  # noqa: PLC0415
        from redis.backoff import NoBackoff  # noqa: PLC0415
        from redis.exceptions import RedisError  # noqa: PLC0415

        self.ttl_ms = max(1, int(ttl_seconds * 1000))
        self.claim_ttl_ms = max(1, int(claim_ttl_seconds * 1000))
        self.prefix = prefix
        self._errors: tuple[type[BaseException], ...] = (RedisError, OSError)
        self._client: Redis = Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 0),
            retry_on_timeout=False,
        )

    async def claim(self, source: str, event_id: str) -> Claim:
        key = redis_key(self.prefix, source, event_id)
        try:
            if await self._client.set(key, _PENDING, nx=True, px=self.claim_ttl_ms):
                return CLAIMED
            value = await self._client.get(key)
        except self._errors as exc:
            raise StoreUnavailableError(f"Redis cannot be reached: {exc!r}") from None
        if value is None or value == _PENDING:  # gone between the two calls: also "retry"
            return IN_FLIGHT
        return Done(0.0, decode_outcome(value if isinstance(value, bytes) else value.encode()))

    async def complete(self, source: str, event_id: str, reply: CloudEvent | None) -> None:
        key = redis_key(self.prefix, source, event_id)
        try:
            await self._client.set(key, encode_outcome(reply), px=self.ttl_ms)
        except self._errors as exc:
            raise StoreUnavailableError(f"Redis cannot be reached: {exc!r}") from None

    async def release(self, source: str, event_id: str) -> None:
        try:
            await self._client.delete(redis_key(self.prefix, source, event_id))
        except self._errors as exc:
            raise StoreUnavailableError(f"Redis cannot be reached: {exc!r}") from None

    async def close(self) -> None:
        await self._client.aclose()
