"""The store that IDEMPOTENCY names, built from the settings and put in front of the endpoint."""

from __future__ import annotations

from ..cloudevents.endpoint import EventEndpoint
from ..settings import Settings
from .guard import IdempotentRun, install
from .memory import MemoryStore
from .store import IdempotencyStore

CLAIM_MARGIN_SECONDS = 5.0
"""A claim outlives HANDLER_TIMEOUT_SECONDS by this much (the endpoint answers 504 first)."""


def store_from_settings(settings: Settings) -> IdempotencyStore:
    """A MemoryStore or a RedisStore (ValueError for ``none``)."""
    if settings.idempotency == "memory":
        return MemoryStore(
            ttl_seconds=settings.idempotency_ttl_seconds, max_keys=settings.idempotency_max_keys
        )
    if settings.idempotency == "redis" and settings.redis_url:
        from .redis_store import RedisStore  # noqa: PLC0415 - imports redis.asyncio

        return RedisStore(
            settings.redis_url,
            ttl_seconds=settings.idempotency_ttl_seconds,
            claim_ttl_seconds=settings.handler_timeout_seconds + CLAIM_MARGIN_SECONDS,
            prefix=f"knative-events:{settings.k_service or 'service'}:",
        )
    raise ValueError(f"no idempotency store for IDEMPOTENCY={settings.idempotency!r}")


def install_from_settings(endpoint: EventEndpoint, settings: Settings) -> IdempotentRun:
    """Make the store the settings name the endpoint's guard."""
    return install(endpoint, store_from_settings(settings))
