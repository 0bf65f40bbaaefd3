"""Prometheus metrics: events received by type and outcome, handler latency, in-flight handlers.

Each app owns a ``CollectorRegistry`` (not the process-global one) so several apps in one
process (tests, workers) never collide. Label children are looked up once per
(type, outcome) and cached: ``labels()`` costs a lock and a tuple hash, the cache a
dict hit. The ``type`` label only takes registered types plus ``_invalid`` and
``_unhandled``, so a sender cannot grow the series without bound.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

INVALID_TYPE: Final = "_invalid"
UNHANDLED_TYPE: Final = "_unhandled"
#: Collectors that every app's registry serves too, e.g. the service manager's counters.
#: Append before ``create_app()`` (a handler module does it when it is imported).
SHARED_COLLECTORS: Final[list[Collector]] = []
LATENCY_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip


class EventMetrics:
    """The service's metrics, on a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        for collector in SHARED_COLLECTORS:
            self.registry.register(collector)
        self.received = Counter(
            "cloudevents_received",
            "CloudEvents received, by type and outcome (accepted, replied or a problem slug).",
            ["type", "outcome"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "cloudevents_handler_duration_seconds",
            "Time spent in event handlers, by event type.",
            ["type"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "cloudevents_handlers_in_flight",
            "Event handlers running now.",
            registry=self.registry,
        )
        self._counters: dict[str, dict[str, Counter]] = {}
        self._histograms: dict[str, Histogram] = {}

    def prepare(self, event_type: str, outcomes: tuple[str, ...]) -> None:
        """Create the series of a type up front, so dashboards see zeros, not gaps."""
        by_outcome = self._counters.setdefault(event_type, {})
        for outcome in outcomes:
            if outcome not in by_outcome:
                by_outcome[outcome] = self.received.labels(event_type, outcome)
        if event_type not in self._histograms:
            self._histograms[event_type] = self.latency.labels(event_type)

    def count(self, event_type: str, outcome: str) -> None:
        """Count one event of ``event_type`` that ended with ``outcome``."""
        by_outcome = self._counters.get(event_type)
        if by_outcome is None:
            by_outcome = self._counters[event_type] = {}
        child = by_outcome.get(outcome)
        if child is None:
            child = by_outcome[outcome] = self.received.labels(event_type, outcome)
        child.inc()

    def observe(self, event_type: str, seconds: float) -> None:
        """Record one handler run of ``event_type`` that took ``seconds``."""
        child = self._histograms.get(event_type)
        if child is None:
            child = self._histograms[event_type] = self.latency.labels(event_type)
        child.observe(seconds)

    def track_in_flight(self, read: Callable[[], float]) -> None:
        """Report in-flight handlers by reading a counter at scrape time (no per-event cost)."""
        self.in_flight.set_function(read)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
