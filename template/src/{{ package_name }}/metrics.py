"""Prometheus metrics: events received by type and outcome, handler latency, in-flight handlers.

The two per-event metrics are kept in plain dicts and lists by collectors of our own,
exposed through prometheus-client's registry and text format. prometheus-client's
``Counter``/``Histogram`` take a lock and (for the histogram) scan the buckets linearly on
every observation: about 2 µs per event, a sixth of the event path. The event loop is
one thread and ``/metrics`` is served on it too, so plain integers need no lock here.

Each app owns a ``CollectorRegistry`` (not the process-global one) so several apps in one
process (tests, workers) never collide. The ``type`` label only takes registered types
plus ``_invalid`` and ``_unhandled``, so a sender cannot grow the series without bound.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import Final

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge, generate_latest
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

METRICS_PATH: Final = "/metrics"
"""Where the exposition is served (by ``main.ServiceApp``, documented in ``api.py``)."""
INVALID_TYPE: Final = "_invalid"
UNHANDLED_TYPE: Final = "_unhandled"
LATENCY_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
#: Collectors every app's registry serves too, e.g. the service manager's counters.
#: Append before ``create_app()`` (the builds handler module does it on import).
SHARED_COLLECTORS: Final[list[Collector]] = []
_BOUND_LABELS: Final = (*(str(bound) for bound in LATENCY_BUCKETS), "+Inf")


class _Latency:
    """One type's histogram: a count per bucket (the last is +Inf) and the sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0


class _EventCollector(Collector):
    """Exposes the received counter and the latency histogram from plain containers."""

    def __init__(self) -> None:
        self.received: dict[tuple[str, str], int] = {}
        self.latency: dict[str, _Latency] = {}

    def collect(self) -> Iterator[Metric]:
        received = CounterMetricFamily(
            "cloudevents_received",
            "CloudEvents received, by type and outcome (accepted, replied or a problem slug).",
            labels=["type", "outcome"],
        )
        for (event_type, outcome), count in self.received.items():
            received.add_metric([event_type, outcome], count)
        yield received
        latency = HistogramMetricFamily(
            "cloudevents_handler_duration_seconds",
            "Time spent in event handlers, by event type.",
            labels=["type"],
        )
        for event_type, histogram in self.latency.items():
            cumulative = 0
            buckets: list[tuple[str, float]] = []
            for bound, count in zip(_BOUND_LABELS, histogram.counts, strict=True):
                cumulative += count
                buckets.append((bound, cumulative))
            latency.add_metric([event_type], buckets, histogram.total)
        yield latency


class EventMetrics:
    """The service's metrics, on a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        for collector in SHARED_COLLECTORS:
            self.registry.register(collector)
        self._events = _EventCollector()
        self.registry.register(self._events)
        self.in_flight = Gauge(
            "cloudevents_handlers_in_flight",
            "Event handlers running now.",
            registry=self.registry,
        )

    def prepare(self, event_type: str, outcomes: tuple[str, ...]) -> None:
        """Create the series of a type up front, so dashboards see zeros, not gaps."""
        for outcome in outcomes:
            self._events.received.setdefault((event_type, outcome), 0)
        self._events.latency.setdefault(event_type, _Latency())

    def count(self, event_type: str, outcome: str) -> None:
        """Count one event of ``event_type`` that ended with ``outcome``."""
        received = self._events.received
        key = (event_type, outcome)
        received[key] = received.get(key, 0) + 1

    def observe(self, event_type: str, seconds: float) -> None:
        """Record one handler run of ``event_type`` that took ``seconds``."""
        histogram = self._events.latency.get(event_type)
        if histogram is None:
            histogram = self._events.latency[event_type] = _Latency()
        histogram.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        histogram.total += seconds

    def track_in_flight(self, read: Callable[[], float]) -> None:
        """Report in-flight handlers by reading a counter at scrape time (no per-event cost)."""
        self.in_flight.set_function(read)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
