"""The rendered service cut short at each stage of its event path, to see where its CPU goes.

Not peers: two variants of ours, built from the rendered package named by
``BENCH_PACKAGE`` (its settings and handlers) on the ``knative_events`` runtime, and
served with the same uvicorn command as every target.

* ``read_only_app`` routes ``POST /``, scans the headers and reads the body, then answers
  202 without parsing (what ours costs before any CloudEvents work);
* ``parsed_app`` also parses and checks the event, then answers 202 without dispatching
  it (no handler, deadline, concurrency limit, metrics or logging context).

The difference between consecutive stages is what each stage costs. Each variant is
the real app with its endpoint's class swapped for a subclass that stops early, so
everything before the stop is the shipped code. Both variants still call a ``run`` that
returns at once, so the cost of awaiting it shows in the first stage, not the last.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

from knative_events.app import create_app
from knative_events.cloudevents.endpoint import EventEndpoint
from knative_events.cloudevents.models import CloudEvent

_PACKAGE = os.environ["BENCH_PACKAGE"]
_handlers = importlib.import_module(f"{_PACKAGE}.handlers")
_settings = importlib.import_module(f"{_PACKAGE}.settings")

# What the read-only stage passes on instead of parsing: an event built once.
_UNPARSED = CloudEvent(id="0", source="/benchmarks", type="com.example.unparsed")


class _Parsed(EventEndpoint):
    async def run(self, event: Any) -> None:
        return None


class _ReadOnly(_Parsed):
    def parse(self, content_type: str | None, ce: dict[str, str], body: bytes) -> Any:
        return _UNPARSED


def _app_with(endpoint_class: type) -> Any:
    app = create_app(_settings.Settings(), registry=_handlers.registry)
    app.event_endpoint.__class__ = endpoint_class  # same state, stops early
    return app


read_only_app = _app_with(_ReadOnly)
parsed_app = _app_with(_Parsed)
