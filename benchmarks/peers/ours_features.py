"""The rendered service with every handler opted in to idempotency (for ``features.py``).

What a service rendered with ``idempotency=memory`` runs: the same handlers on a registry
whose default is ``idempotent=True``, and IDEMPOTENCY from the environment (the benchmark
sets ``memory``). Built from the rendered package named by ``BENCH_PACKAGE``.
"""

from __future__ import annotations

import importlib
import os

from knative_events.app import create_app

_PACKAGE = os.environ["BENCH_PACKAGE"]
_handlers = importlib.import_module(f"{_PACKAGE}.handlers")
_settings = importlib.import_module(f"{_PACKAGE}.settings")

_handlers.registry.idempotent = True
app = create_app(_settings.Settings(), registry=_handlers.registry)
