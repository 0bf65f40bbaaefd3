"""Trigger filter semantics agree with Knative's own filter tests, case by case."""

from __future__ import annotations

from typing import Any

import pytest
from knative_filter_cases import CASES, S_EVENT

from knative_manifests.filters import (
    FilterError,
    Result,
    delivers,
    parse_cesql,
    trigger_result,
)


@pytest.mark.parametrize(
    ("spec", "event", "expected"),
    [
        pytest.param(spec, event, want, id=f"{test}: {name}")
        for test, name, spec, event, want in CASES
    ],
)
def test_knative_case(spec: dict[str, Any], event: dict[str, Any], expected: str) -> None:
    assert trigger_result({"spec": spec}, event) is Result(expected)
    assert delivers({"spec": spec}, event) is (expected != "fail")


def test_the_table_covers_every_dialect_and_both_filter_kinds() -> None:
    text = repr([case[2] for case in CASES])
    for dialect in ("attributes", "exact", "prefix", "suffix", "all", "any", "not", "cesql"):
        assert f"'{dialect}'" in text
    assert len(CASES) >= 90


def test_filters_win_over_filter_attributes() -> None:
    # pkg/broker/filter: a non-empty spec.filters is used and spec.filter ignored.
    spec = {
        "filter": {"attributes": {"type": "x"}},
        "filters": [{"exact": {"source": S_EVENT["source"]}}],
    }
    assert delivers({"spec": spec}, S_EVENT)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("type LIKE 'dev.%.example'", Result.PASS),
        ("type NOT LIKE 'dev.%'", Result.FAIL),
        ("source IN ('a', 'knativesource')", Result.PASS),
        ("EXISTS knativebrokerttl AND NOT EXISTS myextension", Result.PASS),
        ("knativebrokerttl >= 20 XOR TRUE", Result.FAIL),
        ("id <> '1234'", Result.FAIL),
        ('subject = ""', Result.PASS),
    ],
)
def test_cesql_subset(expression: str, expected: Result) -> None:
    assert trigger_result({"spec": {"filters": [{"cesql": expression}]}}, S_EVENT) is expected


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ([{"exact": {"type": "a"}, "prefix": {"source": "b"}}], "multiple dialects"),
        ([{"exact": {"Type": "a"}}], "lowercase letters and digits"),
        ([{"exact": {"type": ""}}], "non-empty string"),
        ([{"regex": {"type": "a"}}], "unknown filter dialect"),
        ([{"cesql": "LENGTH(type) > 3"}], "the function LENGTH()"),
        ([{"cesql": "knativebrokerttl + 1 = 21"}], "arithmetic"),
        ([{"cesql": "type = "}], "ends too early"),
    ],
)
def test_filters_knative_or_this_checker_refuses_are_refused_by_name(
    filters: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(FilterError, match=message):
        trigger_result({"spec": {"filters": filters}}, S_EVENT)


def test_parse_cesql_is_a_tree_not_a_string_match() -> None:
    assert parse_cesql("a = 'x' OR b = 'y' AND c = 'z'")[0] == "or"
