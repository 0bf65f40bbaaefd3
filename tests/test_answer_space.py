"""The answer space of copier.yml: what the tests draw from it, and what it refuses.

The first half checks the test helpers of tests/answers.py against copier.yml (every
question has a drawing rule, the pairwise set covers every feasible pair, drawn answer
sets pass every validator). The second half renders invalid answer combinations and
proves copier refuses them while asking, naming the rule, before writing any file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from answers import (
    DRAWERS,
    METRICS_FOR_CLASS,
    YAML_KEYWORDS,
    answers,
    bool_questions,
    choice_questions,
    choice_values,
    computed_questions,
    consistent,
    covered_pairs,
    dns1035_label,
    feasible_pairs,
    finite_questions,
    is_asked,
    load_questions,
    multiselect_questions,
    pairwise_answer_sets,
    pairwise_parameters,
    validator_for,
    validator_message,
    validator_messages,
)
from hypothesis import example, given, settings
from hypothesis import strategies as st
from renderer import copy_template


# ---------------------------------------------------------------------------
# The helpers follow copier.yml
# ---------------------------------------------------------------------------
def test_every_question_has_a_drawing_rule() -> None:
    """A question added to copier.yml without a drawer in answers.py fails here."""
    asked = [n for n in load_questions() if n not in computed_questions()]
    assert set(asked) - set(DRAWERS) == set(), "questions the strategy does not draw"
    assert set(DRAWERS) - set(asked) == set(), "drawers for questions copier.yml no longer has"


def test_finite_questions_are_read_from_copier_yml() -> None:
    """Every choice, multiselect and bool question reaches the pairwise parameters."""
    finite = set(choice_questions()) | set(multiselect_questions()) | set(bool_questions())
    assert finite, "copier.yml has no choice or bool question?"
    assert set(pairwise_parameters()) == finite
    for name in choice_questions():
        assert set(pairwise_parameters()[name]) == set(choice_values(name))
    for name in bool_questions():
        assert set(pairwise_parameters()[name]) == {True, False}
    # The metric/class constraint speaks only of values copier.yml offers.
    assert set(METRICS_FOR_CLASS) == set(choice_values("autoscaling_class"))
    offered = set(choice_values("autoscaling_metric"))
    assert {m for ms in METRICS_FOR_CLASS.values() for m in ms} == offered


def test_pairwise_set_covers_every_feasible_pair() -> None:
    sets = pairwise_answer_sets()
    uncovered = feasible_pairs() - covered_pairs(sets)
    assert not uncovered, (
        f"{len(uncovered)} feasible pairs uncovered, e.g. {sorted(uncovered, key=repr)[:5]}"
    )
    assert len(sets) < 60, f"pairwise set unexpectedly large: {len(sets)}"


def test_pairwise_rows_honour_the_constraints() -> None:
    for data in pairwise_answer_sets():
        assert consistent(data), data
        assert data["autoscaling_metric"] in METRICS_FOR_CLASS[data["autoscaling_class"]]
        assert data["environments"], data
        for name in multiselect_questions():
            assert set(data[name]) <= set(choice_values(name))
        for name in finite_questions():
            assert is_asked(name, data) is not None, f"`when` of {name} needs an unknown answer"
            message = validator_message(name, data[name], data)
            assert message == "", f"{name}={data[name]!r}: {message}"


def test_every_choice_value_is_rendered_where_it_is_asked() -> None:
    """Each value of each finite question appears in a row where copier asks the question."""
    sets = pairwise_answer_sets()
    for name, values in pairwise_parameters().items():
        seen = {
            tuple(d[name]) if isinstance(d[name], list) else d[name]
            for d in sets
            if is_asked(name, d)
        }
        assert seen == set(values), f"{name}: never asked with {set(values) - seen}"


@given(data=answers())
@settings(max_examples=100, deadline=None)
def test_drawn_answer_sets_pass_every_validator(data: dict[str, Any]) -> None:
    """Drawn answer sets are valid: every validator of copier.yml accepts every answer."""
    assert set(finite_questions()) <= set(data)
    for name in choice_questions():
        assert data[name] in choice_values(name)
    refused = {n: m for n, m in validator_messages(data).items() if m}
    assert not refused, refused


@given(name=dns1035_label(50).filter(lambda n: n not in YAML_KEYWORDS))
@example(name="my--service")
@example(name="a" * 50)
@settings(max_examples=100, deadline=None)
def test_defaults_derived_from_any_service_name_are_valid(name: str) -> None:
    """`copier copy --defaults -d service_name=X` never trips over its own derived defaults.

    image, namespace, kafka_topics, kafka_consumer_group, git_repo_url and argocd_project
    default to values built from service_name; every valid name must give valid defaults.
    """
    refused = {
        n: m
        for n, m in validator_messages({"service_name": name}, list(load_questions())).items()
        if m
    }
    assert not refused, refused


# ---------------------------------------------------------------------------
# Invalid answers: refused while asking, rule named, nothing written
# ---------------------------------------------------------------------------
RABBIT = {"eventing": True, "broker_class": "RabbitMQBroker"}
KAFKA_SOURCE = {"eventing": True, "kafka_source": True}

INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("service-name-yaml-boolean", {"service_name": "no"}, "YAML 1.1 reads as a boolean"),
    ("broker-name-yaml-boolean", {"broker_name": "y"}, "YAML 1.1 reads as a boolean"),
    ("trigger-source-not-uri", {"trigger_source": "orders \U0001f600"}, "source-uri-reference"),
    ("min-above-max", {"min_scale": 5, "max_scale": 2}, "min-not-above-max"),
    ("rps-with-hpa", {"autoscaling_class": "hpa", "autoscaling_metric": "rps"}, "metric-for-class"),
    (
        "concurrency-with-hpa",
        {"autoscaling_class": "hpa", "autoscaling_metric": "concurrency"},
        "metric-for-class",
    ),
    ("cpu-with-kpa", {"autoscaling_class": "kpa", "autoscaling_metric": "cpu"}, "metric-for-class"),
    (
        "memory-with-kpa",
        {"autoscaling_class": "kpa", "autoscaling_metric": "memory"},
        "metric-for-class",
    ),
    (
        "hpa-min-scale-0",
        {"autoscaling_class": "hpa", "autoscaling_metric": "cpu", "min_scale": 0},
        "hpa-no-scale-to-zero",
    ),
    ("negative-min-scale", {"min_scale": -1}, "min-scale-range"),
    ("max-scale-over-int32", {"max_scale": 2**31}, "max-scale-range"),
    ("target-too-small", {"autoscaling_target": 0.001}, "target-minimum"),
    (
        "cpu-target-over-100",
        {"autoscaling_class": "hpa", "autoscaling_metric": "cpu", "autoscaling_target": 150},
        "target-utilization",
    ),
    ("reserved-port-8012", {"port": 8012}, "reserved by Knative"),
    ("reserved-port-9091", {"port": 9091}, "reserved by Knative"),
    ("port-0", {"port": 0}, "port must be between 1 and 65535"),
    ("container-concurrency-1001", {"container_concurrency": 1001}, "container-concurrency-range"),
    (
        "container-concurrency-negative",
        {"container_concurrency": -1},
        "container-concurrency-range",
    ),
    ("timeout-0", {"timeout_seconds": 0}, "timeout-range"),
    ("timeout-601", {"timeout_seconds": 601}, "timeout-range"),
    ("canary-percent-0", {"canary": True, "canary_percent": 0}, "percent-range"),
    ("canary-percent-100", {"canary": True, "canary_percent": 100}, "percent-range"),
    ("backoff-delay-go-style", {"delivery_backoff_delay": "2s"}, "backoff-delay-iso8601"),
    ("backoff-delay-bare-PT", {"delivery_backoff_delay": "PT"}, "backoff-delay-iso8601"),
    ("scale-down-delay-2h", {"scale_down_delay": "2h"}, "scale-down-delay-range"),
    ("scale-down-delay-61m", {"scale_down_delay": "61m"}, "scale-down-delay-range"),
    ("scale-down-delay-iso", {"scale_down_delay": "PT30S"}, "scale-down-delay-format"),
    ("scale-down-delay-fraction", {"scale_down_delay": "1.5s"}, "scale-down-delay-format"),
    (
        "memory-request-above-limit",
        {"memory_request": "2Gi", "memory_limit": "1Gi"},
        "request-not-above-limit",
    ),
    (
        "memory-request-above-limit-units",
        {"memory_request": "1100M", "memory_limit": "1Gi"},
        "request-not-above-limit",
    ),
    (
        "cpu-request-above-limit",
        {"cpu_request": "2", "cpu_limit": "1000m"},
        "request-not-above-limit",
    ),
    ("cpu-not-a-quantity", {"cpu_request": "one"}, "cpu-quantity"),
    ("memory-not-a-quantity", {"memory_limit": "1GB"}, "memory-quantity"),
    ("dead-letter-sink-spaces", {"dead_letter_sink": "not a sink"}, "dead-letter-sink"),
    ("dead-letter-sink-ftp", {"dead_letter_sink": "ftp://dls.example.com"}, "dead-letter-sink"),
    ("dead-letter-sink-no-host", {"dead_letter_sink": "https://"}, "dead-letter-sink"),
    ("dead-letter-sink-uppercase", {"dead_letter_sink": "DeadLetters"}, "dead-letter-sink"),
    ("delivery-retry-101", {"delivery_retry": 101}, "retry-range"),
    ("rabbitmq-parallelism-0", {**RABBIT, "rabbitmq_parallelism": 0}, "parallelism-range"),
    ("rabbitmq-parallelism-1001", {**RABBIT, "rabbitmq_parallelism": 1001}, "parallelism-range"),
    ("service-name-uppercase", {"service_name": "Hello"}, "service_name must be a DNS-1035 label"),
    (
        "service-name-digit-first",
        {"service_name": "1hello"},
        "service_name must be a DNS-1035 label",
    ),
    (
        "service-name-underscore",
        {"service_name": "hello_events"},
        "service_name must be a DNS-1035 label",
    ),
    (
        "service-name-trailing-dash",
        {"service_name": "hello-"},
        "service_name must be a DNS-1035 label",
    ),
    ("service-name-51-chars", {"service_name": "a" * 51}, "service_name must be at most 50"),
    ("environments-empty", {"environments": []}, "environments must name at least one"),
    ("kafka-topics-empty", {**KAFKA_SOURCE, "kafka_topics": []}, "topics-required"),
    ("kafka-topics-not-a-list", {**KAFKA_SOURCE, "kafka_topics": "events"}, "topics-required"),
    ("kafka-topic-bad-name", {**KAFKA_SOURCE, "kafka_topics": ["a b"]}, "topic-name"),
    (
        "kafka-bootstrap-no-port",
        {**KAFKA_SOURCE, "kafka_bootstrap_servers": "kafka"},
        "bootstrap-servers",
    ),
    ("event-types-empty", {"event_types": []}, "event_types must be a non-empty YAML list"),
    ("event-types-repeated", {"event_types": ["a.b", "a.b"]}, "must not repeat a type"),
    ("namespace-too-long", {"namespace": "n" * 55}, "namespace must be a DNS-1123 label"),
    ("argocd-project-default", {"argocd_project": "default"}, "argocd_project must be"),
    (
        "backstage-owner-space",
        {"backstage": True, "backstage_owner": "group:a b"},
        "backstage rule owner-ref",
    ),
    (
        "backstage-owner-kind",
        {"backstage": True, "backstage_owner": "team:a"},
        "backstage rule owner-ref",
    ),
    (
        "backstage-system-slash",
        {"backstage": True, "backstage_system": "a/b/c"},
        "backstage rule system-ref",
    ),
    (
        "event-policy-on-1.15",
        {"knative_version": "1.15", "event_policy": True, "kafka_source": True},
        "event_policy is offered for Knative 1.23 only",
    ),
    (
        "event-policy-without-senders",
        {"event_policy": True, "event_policy_senders": []},
        "event_policy_senders must name at least one namespace/name",
    ),
    (
        "event-policy-bad-sender",
        {"event_policy": True, "kafka_source": True, "event_policy_senders": ["Team/app"]},
        "sender Team/app must be namespace/name",
    ),
]


@pytest.mark.parametrize(("data", "fragment"), [pytest.param(d, f, id=i) for i, d, f in INVALID])
def test_invalid_answers_are_refused_before_writing(
    data: dict[str, Any], fragment: str, template_snapshot: Path, tmp_path: Path
) -> None:
    """Copier raises while asking, the message names the rule, and no file is written."""
    dst = tmp_path / "service"
    with pytest.raises(ValueError, match=re.escape(fragment)) as caught:
        copy_template(template_snapshot, dst, data)
    assert "Validation error for question" in str(caught.value)
    assert not dst.exists() or not any(dst.iterdir()), f"files written: {list(dst.rglob('*'))}"


@pytest.mark.parametrize(("data", "fragment"), [pytest.param(d, f, id=i) for i, d, f in INVALID])
def test_invalid_answers_are_invalid_for_the_in_process_validators(
    data: dict[str, Any], fragment: str
) -> None:
    """The in-process evaluation the strategy is checked with agrees with copier on each case."""
    messages = [validator_message(name, value, data) for name, value in data.items()]
    assert any(fragment in m for m in messages), messages


# ---------------------------------------------------------------------------
# A pattern matches the whole answer: nothing may trail it
# ---------------------------------------------------------------------------
#: A valid answer per question whose validator matches a pattern (the default where it is
#: one; the defaults of trigger_source and dead_letter_sink are empty, which skips it).
PATTERN_SAMPLES: dict[str, Any] = {
    "service_name": "orders",
    "author_email": "team@example.com",
    "image": "ghcr.io/acme/orders",
    "event_types": ["com.acme.order.created"],
    "namespace": "orders",
    "scale_down_delay": "30s",
    "cpu_request": "100m",
    "cpu_limit": "1",
    "memory_request": "256Mi",
    "memory_limit": "1Gi",
    "broker_name": "default",
    "trigger_source": "/apis/orders",
    "delivery_backoff_delay": "PT1S",
    "dead_letter_sink": "orders-dlq",
    "rabbitmq_cluster": "rabbitmq",
    "kafka_bootstrap_servers": "kafka:9092",
    "kafka_topics": ["orders"],
    "kafka_consumer_group": "orders-source",
    "git_repo_url": "https://github.com/acme/orders.git",
    "argocd_project": "orders",
    "metrics_namespace": "monitoring",
    "backstage_owner": "group:platform-team",
    "backstage_system": "shop",
    "event_policy_senders": ["orders/checkout"],
    "service_manager_sources": ["/builds"],
    "service_manager_registries": ["ghcr.io/acme"],
    "service_manager_namespace": "orders-managed",
}
#: What a `$`-anchored pattern let through: line ends, NUL, Unicode line separators.
TRAILERS = ["\n", "\r\n", "\r", "\x00", "\u2028", "\u2029", "\x85", "\t", " "]


def _with_trailer(value: Any, trailer: str) -> Any:
    return [value[0] + trailer, *value[1:]] if isinstance(value, list) else value + trailer


def test_every_pattern_checked_question_has_a_sample() -> None:
    with_patterns = {
        name
        for name, spec in load_questions().items()
        if "regex_search" in str(spec.get("validator", ""))
        and name != "service_manager"  # checks the first event type's words, drawn above
    }
    assert with_patterns == set(PATTERN_SAMPLES)


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(sorted(PATTERN_SAMPLES)),
    trailer=st.sampled_from(TRAILERS),
)
def test_a_pattern_refuses_anything_after_a_valid_answer(name: str, trailer: str) -> None:
    """Each pattern matches the whole answer (\\Z): a valid answer plus a trailer is refused."""
    context = {"event_types": ["com.acme.order.created"], "min_scale": 0, "cpu_request": "100m"}
    context["memory_request"] = "256Mi"
    message = validator_for(name, context)  # the other answers valid, only this one varies
    valid = PATTERN_SAMPLES[name]
    assert message(valid) == "", name
    assert message(_with_trailer(valid, trailer)) != "", (name, trailer)
