"""Partial failures leave no orphans; delete runs in order and is idempotent."""

from __future__ import annotations

import asyncio

import kmock
import pytest
from kube_support import KnativeApiEmulator, make_build
from prometheus_client import CollectorRegistry

from knative_events.service_manager import (
    KubernetesApiError,
    ServiceCreationError,
    ServiceManager,
)

NAME = "lambda-failing"
KINDS = ("ServiceAccount", "ConfigMap", "Service", "Trigger")


async def test_a_failed_trigger_leaves_no_orphans(
    manager: ServiceManager, k8s: KnativeApiEmulator, registry: CollectorRegistry
) -> None:
    k8s.inject("POST", "Trigger", 500)

    with pytest.raises(ServiceCreationError) as caught:
        await manager.create_service(NAME, make_build())

    assert set(caught.value.errors) == {"Trigger"}
    trigger_error = caught.value.errors["Trigger"]
    assert isinstance(trigger_error, KubernetesApiError)
    assert trigger_error.status == 500
    assert trigger_error.resource == f"Trigger runtime/{NAME}"
    assert caught.value.removed == ["Service", "ConfigMap", "ServiceAccount"]
    assert all(k8s.stored(kind, NAME) is None for kind in KINDS)
    assert registry.get_sample_value("knative_service_creation_total", {"status": "failure"}) == 1
    assert registry.get_sample_value("knative_service_creation_total", {"status": "success"}) == 0


async def test_when_service_and_trigger_both_fail_both_errors_are_reported(
    manager: ServiceManager, k8s: KnativeApiEmulator
) -> None:
    k8s.inject("POST", "Service", 500)
    k8s.inject("POST", "Trigger", 403)

    with pytest.raises(ServiceCreationError) as caught:
        await manager.create_service(NAME, make_build())

    error = caught.value
    assert {kind: e.status for kind, e in error.errors.items()} == {  # type: ignore[attr-defined]
        "Service": 500,
        "Trigger": 403,
    }
    assert len(error.exceptions) == 2
    assert "Service: create Service" in str(error)
    assert "Trigger: create Trigger" in str(error)
    assert all(k8s.stored(kind, NAME) is None for kind in KINDS)


async def test_a_cancelled_creation_removes_what_its_sent_creates_made(
    manager: ServiceManager, k8s: KnativeApiEmulator
) -> None:
    k8s.latency = 0.05
    trigger_sent = asyncio.Event()

    def on_arrival(request: kmock.Request) -> None:
        plural = request.resource.plural if request.resource is not None else None
        if request.method.value == "POST" and plural == "triggers":
            trigger_sent.set()

    k8s.before.append(on_arrival)
    task = asyncio.create_task(manager.create_service(NAME, make_build()))
    await asyncio.wait_for(trigger_sent.wait(), timeout=10)
    task.cancel()  # the Service and Trigger creates are on the server, unanswered

    with pytest.raises(asyncio.CancelledError):
        await task

    assert len(k8s.api_calls("POST")) == 4  # all four creates reached the server ...
    assert all(k8s.stored(kind, NAME) is None for kind in KINDS)  # ... and were removed


async def test_a_failure_in_the_first_phase_stops_before_the_service(
    manager: ServiceManager, k8s: KnativeApiEmulator
) -> None:
    k8s.inject("POST", "ConfigMap", 422)

    with pytest.raises(ServiceCreationError) as caught:
        await manager.create_service(NAME, make_build())

    assert set(caught.value.errors) == {"ConfigMap"}
    assert k8s.api_calls("POST", "Service") == []
    assert k8s.api_calls("POST", "Trigger") == []
    assert all(k8s.stored(kind, NAME) is None for kind in KINDS)


async def test_a_failed_update_keeps_what_existed(
    manager: ServiceManager, k8s: KnativeApiEmulator
) -> None:
    await manager.create_service(NAME, make_build(version=1))
    k8s.inject("PATCH", "Trigger", 500)

    with pytest.raises(ServiceCreationError) as caught:
        await manager.create_service(NAME, make_build(version=2))

    assert set(caught.value.errors) == {"Trigger"}
    assert caught.value.removed == []
    assert all(k8s.stored(kind, NAME) is not None for kind in KINDS)
    # A retry of the same event (what the broker does after the 5xx) converges.
    result = await manager.create_service(NAME, make_build(version=2))
    assert result.outcomes["Trigger"].value == "updated"


async def test_delete_runs_trigger_service_configmap_serviceaccount(
    manager: ServiceManager, k8s: KnativeApiEmulator, registry: CollectorRegistry
) -> None:
    await manager.create_service(NAME, make_build())
    k8s.calls.clear()

    deleted = await manager.delete_service(NAME)

    assert deleted == ["Trigger", "Service", "ConfigMap", "ServiceAccount"]
    assert [call.plural for call in k8s.api_calls("DELETE")] == [
        "triggers",
        "services",
        "configmaps",
        "serviceaccounts",
    ]
    assert all(k8s.stored(kind, NAME) is None for kind in KINDS)
    assert registry.get_sample_value("knative_service_deletion_total", {"status": "success"}) == 1
    assert registry.get_sample_value("knative_service_deletion_duration_seconds_count") == 1


async def test_delete_is_idempotent(
    manager: ServiceManager, k8s: KnativeApiEmulator, registry: CollectorRegistry
) -> None:
    await manager.create_service(NAME, make_build())
    await manager.delete_service(NAME)
    k8s.calls.clear()

    assert await manager.delete_service(NAME) == []
    assert [call.status for call in k8s.api_calls("DELETE")] == [404] * 4
    assert registry.get_sample_value("knative_service_deletion_total", {"status": "success"}) == 2


async def test_a_half_deleted_service_is_finished_by_the_next_delete(
    manager: ServiceManager, k8s: KnativeApiEmulator, registry: CollectorRegistry
) -> None:
    await manager.create_service(NAME, make_build())
    k8s.inject("DELETE", "ConfigMap", 500)

    with pytest.raises(KubernetesApiError) as caught:
        await manager.delete_service(NAME)

    assert caught.value.resource == f"ConfigMap runtime/{NAME}"
    assert k8s.stored("Trigger", NAME) is None
    assert k8s.stored("Service", NAME) is None
    assert registry.get_sample_value("knative_service_deletion_total", {"status": "failure"}) == 1

    assert await manager.delete_service(NAME) == ["ConfigMap", "ServiceAccount"]
    assert all(k8s.stored(kind, NAME) is None for kind in KINDS)
