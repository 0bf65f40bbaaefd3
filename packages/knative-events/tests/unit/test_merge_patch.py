"""The merge patches the manager sends on update, and what it refuses to patch."""

from __future__ import annotations

from typing import Any

from knative_events.service_manager import (
    SERVICE,
    TRIGGER,
    immutable_changes,
    merge_patch,
)

CURRENT: dict[str, Any] = {
    "metadata": {
        "name": "s",
        "resourceVersion": "7",
        "annotations": {"serving.knative.dev/creator": "system:admin"},
    },
    "spec": {
        "template": {
            "spec": {
                "containers": [
                    {"image": "r.io/p:1", "readinessProbe": {"successThreshold": 1}},
                ]
            }
        },
        "traffic": [{"latestRevision": True, "percent": 100}],
    },
    "status": {"url": "http://s"},
}


def test_nothing_to_change_gives_an_empty_patch() -> None:
    desired = {
        "metadata": {"name": "s"},
        "spec": {"template": {"spec": {"containers": [{"image": "r.io/p:1"}]}}},
    }
    assert merge_patch(CURRENT, desired, SERVICE) == {}


def test_a_new_image_replaces_the_container_list_and_keeps_other_fields() -> None:
    desired = {
        "metadata": {"name": "s"},
        "spec": {"template": {"spec": {"containers": [{"image": "r.io/p:2"}]}}},
    }
    patch = merge_patch(CURRENT, desired, SERVICE)
    assert patch == {"spec": {"template": {"spec": {"containers": [{"image": "r.io/p:2"}]}}}}


def test_owned_optional_fields_are_removed_with_null() -> None:
    current = {"spec": {"broker": "b", "delivery": {"retry": 5, "deadLetterSink": {"uri": "x"}}}}
    desired = {"spec": {"broker": "b", "delivery": {"retry": 5}}}
    assert merge_patch(current, desired, TRIGGER) == {
        "spec": {"delivery": {"deadLetterSink": None}}
    }


def test_a_broker_change_is_an_immutable_change() -> None:
    assert immutable_changes({"spec": {"broker": "a"}}, {"spec": {"broker": "b"}}, TRIGGER) == [
        "spec.broker"
    ]
    assert immutable_changes({"spec": {"broker": "a"}}, {"spec": {"broker": "a"}}, TRIGGER) == []
    assert immutable_changes({"spec": {}}, {"spec": {"broker": "a"}}, SERVICE) == []
