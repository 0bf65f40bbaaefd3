"""The build-complete payload: what it accepts and how it says what is wrong."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from knative_events.service_manager import BuildCompletion, ServiceRef

GOOD: dict[str, Any] = {
    "third_party_id": "customer-123",
    "parser_id": "test-parser",
    "content_hash": "sha256:" + "ab" * 32,
    "image_uri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/parsers/test-parser:build-7",
}


def test_a_good_payload_is_accepted_and_extra_fields_are_ignored() -> None:
    build = BuildCompletion.model_validate(GOOD | {"duration_seconds": 12})
    assert build.image_uri == GOOD["image_uri"]
    assert not hasattr(build, "duration_seconds")


@pytest.mark.parametrize(
    "image",
    [
        "registry.example.com/parsers/p:1.0",
        "localhost:5000/p/q@sha256:" + "0" * 64,
        "ghcr.io/acme/p:v1@sha256:" + "f" * 64,
    ],
)
def test_pinned_images_are_accepted(image: str) -> None:
    assert BuildCompletion.model_validate(GOOD | {"image_uri": image}).image_uri == image


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("image_uri", "registry.example.com/parsers/p", "pinned with a tag or a digest"),
        ("image_uri", "attacker.example.com:5000/miner/xmrig:latest", "the tag 'latest'"),
        ("image_uri", "r.io/p:latest@sha256:" + "a" * 64, "the tag 'latest'"),
        ("image_uri", "Registry.example.com/p:1", "lowercase image reference"),
        ("image_uri", "p:1", "lowercase image reference"),
        ("image_uri", "r.io/p@sha256:abc", "lowercase image reference"),
        ("content_hash", "xyz", "content_hash must be 8 to 128 lowercase hex"),
        ("third_party_id", "", "third_party_id must be 1 to 253"),
        ("third_party_id", "has space", "third_party_id must be 1 to 253"),
        ("parser_id", "-leading-dash", "parser_id must be 1 to 253"),
        ("parser_id", "p" * 254, "parser_id must be 1 to 253"),
    ],
)
def test_bad_fields_are_named_with_the_rule(field: str, value: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        BuildCompletion.model_validate(GOOD | {field: value})
    (error,) = caught.value.errors()
    assert error["loc"] == (field,)
    assert message in error["msg"]


def test_missing_fields_are_reported() -> None:
    with pytest.raises(ValidationError) as caught:
        BuildCompletion.model_validate({"third_party_id": "a"})
    missing = {error["loc"][0] for error in caught.value.errors()}
    assert missing == {"parser_id", "content_hash", "image_uri"}


def test_a_service_ref_needs_only_the_ids() -> None:
    ref = ServiceRef.model_validate({"third_party_id": "a", "parser_id": "b"})
    assert (ref.third_party_id, ref.parser_id) == ("a", "b")
