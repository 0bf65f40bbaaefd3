"""Prometheus metrics: events received by type and outcome, handler latency, in-flight handlers.

The per-event metrics are plain dicts and lists, exposed through prometheus-client's
registry and text format by a collector of our own. prometheus-client's
``Counter``/``Histogram`` take a lock and (for the histogram) scan the buckets linearly on
every observation, a noticeable share of the event path. The event loop is one thread and
``/metrics`` is served on it too, so plain integers need no lock here.

prometheus-client itself is loaded by the first scrape, not at start-up: a pod scaled
from zero answers its first event sooner, and the scrape that pays for it comes seconds
later.

Each app owns a ``CollectorRegistry`` (not the process-global one) so several apps in one
process (tests, workers) never collide. The ``type`` label only takes registered types
plus ``_invalid`` and ``_unhandled``, so a sender cannot grow the series without bound.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.core import Metric
    from prometheus_client.registry import Collector

METRICS_PATH: Final = "/metrics"
"""Where the exposition is served (by ``app.ServiceApp``, documented in ``api.py``)."""
INVALID_TYPE: Final = "_invalid"
UNHANDLED_TYPE: Final = "_unhandled"
LATENCY_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
#: Collectors every app's registry serves too, e.g. the service manager's counters.
#: Append before the first scrape (the builds handler module does it on import).
SHARED_COLLECTORS: Final[list[Collector]] = []
_BOUND_LABELS: Final = (*(str(bound) for bound in LATENCY_BUCKETS), "+Inf")


class _Latency:
    """One type's histogram: a count per bucket (the last is +Inf) and the sum."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self.total = 0.0


class _EventCollector:
    """Exposes the event metrics from plain containers (a prometheus-client collector)."""

    def __init__(self) -> None:
        self.received: dict[tuple[str, str], int] = {}
        self.latency: dict[str, _Latency] = {}
        self.in_flight: Callable[[], float] = lambda: 0.0

    def collect(self) -> Iterator[Metric]:
        """Called by the registry at each scrape (prometheus-client is loaded by then)."""
        from prometheus_client.core import (  # noqa: PLC0415 - loaded by the first scrape
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

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
        yield GaugeMetricFamily(
            "cloudevents_handlers_in_flight", "Event handlers running now.", self.in_flight()
        )


class EventMetrics:
    """The service's metrics; their registry is built by the first scrape."""

    def __init__(self) -> None:
        self._events = _EventCollector()
        self._registry: CollectorRegistry | None = None

    @property
    def registry(self) -> CollectorRegistry:
        """This app's registry: process, platform and GC collectors, shared ones, events."""
        if self._registry is None:
            from prometheus_client import CollectorRegistry  # noqa: PLC0415 - see module doc
            from prometheus_client.gc_collector import GCCollector  # noqa: PLC0415
            from prometheus_client.platform_collector import PlatformCollector  # noqa: PLC0415
            from prometheus_client.process_collector import ProcessCollector  # noqa: PLC0415

            registry = CollectorRegistry()
            ProcessCollector(registry=registry)
            PlatformCollector(registry=registry)
            GCCollector(registry=registry)
            for collector in SHARED_COLLECTORS:
                registry.register(collector)
            registry.register(self._events)  # duck-typed: prometheus-client only calls collect()
            self._registry = registry
        return self._registry

    def prepare(self, event_type: str, outcomes: tuple[str, ...]) -> None:
        """Create the series of a type up front, so dashboards see zeros, not gaps."""
        for outcome in outcomes:
            self._events.received.setdefault((event_type, outcome), 0)
        self._events.latency.setdefault(event_type, _Latency())

    def count(self, event_type: str, outcome: str) -> None:
        """Count one event of ``event_type`` that ended with ``outcome``."""
        self.record(event_type, outcome)

    def record(self, event_type: str, outcome: str | None, seconds: float | None = None) -> None:
        """Count ``outcome`` (if given) and observe ``seconds`` (if given) for ``event_type``.

        A handled event needs both, and the endpoint records them in this single call;
        :meth:`count` is the outcome alone, and a run cancelled from outside passes ``None``.
        """
        events = self._events
        if outcome is not None:
            received = events.received
            key = (event_type, outcome)
            received[key] = received.get(key, 0) + 1
        if seconds is not None:
            histogram = events.latency.get(event_type)
            if histogram is None:
                histogram = events.latency[event_type] = _Latency()
            histogram.counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
            histogram.total += seconds

    def track_in_flight(self, read: Callable[[], float]) -> None:
        """Report in-flight handlers by reading a counter at scrape time (no per-event cost)."""
        self._events.in_flight = read

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest  # noqa: PLC0415

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
