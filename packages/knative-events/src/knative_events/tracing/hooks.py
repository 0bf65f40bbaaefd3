"""The two places outside the event path that tracing reaches, as plain module slots.

Both stay None unless tracing is installed (``otel.install``), so the emitter and the
outcome logs check one global and import nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from ..cloudevents.models import CloudEvent

outgoing: Callable[[CloudEvent], tuple[CloudEvent, dict[str, str]]] | None = None
"""Adds the current trace context to an event about to be sent: the event with the
``traceparent``/``tracestate`` extension, and the same as HTTP headers."""

current_trace_id: Callable[[], str | None] | None = None
"""The trace id (32 hex digits) of the span in progress, for log lines."""
