"""Names and label values of managed services: valid, bounded, deterministic, distinct."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from knative_manifests import constants as c
from knative_manifests.formats import is_dns1035_label

from knative_events.service_manager import (
    DEFAULT_NAME_PREFIX,
    HASH_LENGTH,
    check_name_prefix,
    generate_service_name,
    label_value,
)

LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
ids = st.text(min_size=0, max_size=300)
prefixes = st.from_regex(r"\A[a-z]([a-z0-9-]{0,18}[a-z0-9])?\Z").filter(lambda p: "--" not in p)


@settings(max_examples=100, deadline=None)
@given(third_party_id=ids, parser_id=ids, prefix=prefixes)
def test_generated_names_are_bounded_dns1035_labels(
    third_party_id: str, parser_id: str, prefix: str
) -> None:
    """**Feature: knative-service-management, Property: generated names are valid labels**"""
    name = generate_service_name(third_party_id, parser_id, prefix=prefix)

    assert is_dns1035_label(name)
    assert len(name) <= c.SERVICE_NAME_MAX_LENGTH <= c.DNS_LABEL_MAX_LENGTH
    assert name.startswith(prefix + "-")
    assert "--" not in name.removeprefix(prefix)
    assert not name.endswith("-")
    assert name == generate_service_name(third_party_id, parser_id, prefix=prefix)


@settings(max_examples=100, deadline=None)
@given(first=st.tuples(ids, ids), second=st.tuples(ids, ids))
def test_distinct_ids_get_distinct_names(first: tuple[str, str], second: tuple[str, str]) -> None:
    """**Feature: knative-service-management, Property: names are injective (via the hash)**"""
    if first != second:
        assert generate_service_name(*first) != generate_service_name(*second)


@settings(max_examples=100, deadline=None)
@given(
    third_party_id=st.from_regex(r"\A[a-z][a-z0-9]{0,10}\Z"),
    parser_id=st.from_regex(r"\A[a-z][a-z0-9]{0,10}\Z"),
)
def test_short_clean_ids_stay_readable(third_party_id: str, parser_id: str) -> None:
    """**Feature: knative-service-management, Property: short ids are kept whole**"""
    name = generate_service_name(third_party_id, parser_id)

    assert name.startswith(f"{DEFAULT_NAME_PREFIX}-{third_party_id}-{parser_id}-")
    assert len(name.rsplit("-", 1)[1]) == HASH_LENGTH


@settings(max_examples=100, deadline=None)
@given(raw=st.text(min_size=0, max_size=300))
def test_label_values_are_valid_and_keep_valid_input(raw: str) -> None:
    """**Feature: knative-service-management, Property: label values are always valid**"""
    value = label_value(raw)

    assert len(value) <= c.DNS_LABEL_MAX_LENGTH
    assert LABEL_VALUE.fullmatch(value)
    if len(raw) <= c.DNS_LABEL_MAX_LENGTH and LABEL_VALUE.fullmatch(raw):
        assert value == raw
    else:
        assert value != raw


def test_examples_from_the_user_story() -> None:
    name = generate_service_name("customer-123", "test-parser")
    assert re.fullmatch(r"lambda-customer-123-test-parser-[0-9a-f]{10}", name)
    # The readable parts collide; the hash keeps the services apart.
    assert generate_service_name("a-b", "c") != generate_service_name("a", "b-c")
    assert generate_service_name("Customer_1", "p") != generate_service_name("customer-1", "p")
    # Digits first, symbols only, or very long: still a valid name.
    assert is_dns1035_label(generate_service_name("123", "456"))
    assert re.fullmatch(r"lambda-[0-9a-f]{10}", generate_service_name("___", "..."))
    long_name = generate_service_name("x" * 200, "y" * 200)
    assert len(long_name) == c.SERVICE_NAME_MAX_LENGTH


@pytest.mark.parametrize("prefix", ["", "1abc", "Abc", "a_b", "ends-", "x" * 21])
def test_bad_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="name prefix"):
        check_name_prefix(prefix)
    with pytest.raises(ValueError, match="name prefix"):
        generate_service_name("a", "b", prefix=prefix)
