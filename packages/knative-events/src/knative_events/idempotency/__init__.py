"""Idempotent handlers: each (source, id) runs its handler once while its outcome is kept.

Knative delivers at least once (a broker retries whatever it did not see acknowledged), and
the data-plane contract asks a receiver that detects duplicates to key them by the event's
``source`` and ``id``. A handler opts in with ``registry.on(..., idempotent=True)`` or a
registry-wide ``HandlerRegistry(idempotent=True)``; ``IDEMPOTENCY`` picks the store
(``memory``: this pod only; ``redis``: every pod). The endpoint is unchanged when the
setting is ``none``: :func:`install` is not called and nothing here is imported.
"""

from __future__ import annotations

from .guard import DUPLICATE, IdempotentRun, install
from .memory import MemoryStore
from .store import CLAIMED, IN_FLIGHT, Claim, Done, IdempotencyStore, StoreUnavailableError

__all__ = [
    "CLAIMED",
    "DUPLICATE",
    "IN_FLIGHT",
    "Claim",
    "Done",
    "IdempotencyStore",
    "IdempotentRun",
    "MemoryStore",
    "StoreUnavailableError",
    "install",
]
