"""The event metrics: Prometheus semantics from plain counters."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from knative_events.metrics import LATENCY_BUCKETS, EventMetrics


def samples(metrics: EventMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = metrics.render()[0].decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_latency_buckets_are_cumulative_and_inclusive() -> None:
    metrics = EventMetrics()
    for seconds in (LATENCY_BUCKETS[0], LATENCY_BUCKETS[0] * 1.01, 99.0):
        metrics.record("t", None, seconds)
    values = samples(metrics)

    def bucket(le: str) -> float:
        return values[("cloudevents_handler_duration_seconds_bucket", (("le", le), ("type", "t")))]

    assert bucket(str(LATENCY_BUCKETS[0])) == 1  # a value on the bound counts in it
    assert bucket(str(LATENCY_BUCKETS[1])) == 2
    assert bucket(str(LATENCY_BUCKETS[-1])) == 2
    assert bucket("+Inf") == 3
    assert values[("cloudevents_handler_duration_seconds_count", (("type", "t"),))] == 3
    total = values[("cloudevents_handler_duration_seconds_sum", (("type", "t"),))]
    assert abs(total - (LATENCY_BUCKETS[0] * 2.01 + 99.0)) < 1e-9


def test_counts_by_type_and_outcome_and_prepared_zeros() -> None:
    metrics = EventMetrics()
    metrics.prepare("a", ("accepted", "replied"))
    metrics.count("a", "accepted")
    metrics.count("a", "accepted")
    metrics.count("_invalid", "malformed-cloudevent")
    values = samples(metrics)
    assert values[("cloudevents_received_total", (("outcome", "accepted"), ("type", "a")))] == 2
    assert values[("cloudevents_received_total", (("outcome", "replied"), ("type", "a")))] == 0
    key = (
        "cloudevents_received_total",
        (("outcome", "malformed-cloudevent"), ("type", "_invalid")),
    )
    assert values[key] == 1


def test_in_flight_is_read_at_scrape_time() -> None:
    metrics = EventMetrics()
    busy = [3]
    metrics.track_in_flight(lambda: busy[0])
    assert samples(metrics)[("cloudevents_handlers_in_flight", ())] == 3
    busy[0] = 0
    assert samples(metrics)[("cloudevents_handlers_in_flight", ())] == 0


def test_record_counts_the_outcome_and_observes_the_duration_in_one_call() -> None:
    metrics = EventMetrics()
    metrics.record("t", "accepted", 0.002)
    metrics.record("t", None, 0.003)  # a run cancelled from outside: its duration only
    values = samples(metrics)
    counted = {
        dict(labels)["outcome"]: value
        for (name, labels), value in values.items()
        if name == "cloudevents_received_total"
    }
    assert counted == {"accepted": 1}
    assert values[("cloudevents_handler_duration_seconds_count", (("type", "t"),))] == 2
    total = values[("cloudevents_handler_duration_seconds_sum", (("type", "t"),))]
    assert abs(total - 0.005) < 1e-9
