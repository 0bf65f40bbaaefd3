"""One structured log line per event outcome: type, source, id, status, duration, trace id.

Failures are always written: at WARNING for a 5xx (the broker retries it) and INFO for a
refusal (4xx, and the 409 of an event in progress). Successes are written only when the
owner asks, because at thousands of events a second one line each is most of the log
volume: LOG_SUCCESS_LEVEL says at which level (DEBUG by default, so nothing with the usual
LOG_LEVEL=INFO), LOG_SUCCESS_SAMPLE_RATE which share (0 to 1). Whether successes are
written at all is worked out once, so the usual success path pays one attribute read.

The line goes to the ``knative_events.events`` logger; ``logs.JsonFormatter`` turns its
fields into JSON members. ``trace_id`` is added when tracing is on (the current span's).
"""

from __future__ import annotations

import logging
import random
from typing import Final

from .cloudevents.models import CloudEvent
from .tracing import hooks as tracing_hooks

logger = logging.getLogger("knative_events.events")

ACCEPTED_STATUS: Final = 202
REPLIED_STATUS: Final = 200


class EventLog:
    """Writes the outcome lines; ``successes`` says whether successes are written at all."""

    def __init__(self, *, success_level: str = "DEBUG", success_sample_rate: float = 1.0) -> None:
        level = logging.getLevelName(success_level.upper())
        self.success_level: int = level if isinstance(level, int) else logging.DEBUG
        self.success_sample_rate = success_sample_rate
        self.successes = success_sample_rate > 0 and logger.isEnabledFor(self.success_level)

    def success(self, event: CloudEvent, outcome: str, status: int, seconds: float) -> None:
        """A 2xx (call only when :attr:`successes`); sampled at the configured rate."""
        rate = self.success_sample_rate
        if rate < 1 and random.random() >= rate:  # noqa: S311 - sampling, not security
            return
        self._write(self.success_level, event, outcome, status, seconds)

    def failure(self, event: CloudEvent, outcome: str, status: int, seconds: float) -> None:
        """A refusal or a failure: INFO for 4xx, WARNING for 5xx."""
        self._write(
            logging.WARNING if status >= 500 else logging.INFO, event, outcome, status, seconds
        )

    def _write(
        self, level: int, event: CloudEvent, outcome: str, status: int, seconds: float
    ) -> None:
        fields: dict[str, object] = {
            "event_type": event.type,
            "event_source": event.source,
            "event_id": event.id,
            "status": status,
            "outcome": outcome,
            "duration_ms": round(seconds * 1000, 3),
        }
        trace_id = tracing_hooks.current_trace_id
        if trace_id is not None:
            found = trace_id()
            if found is not None:
                fields["trace_id"] = found
        logger.log(
            level,
            "event %s from %s (%s): %s %s",
            event.type,
            event.source,
            event.id,
            status,
            outcome,
            extra=fields,
        )
