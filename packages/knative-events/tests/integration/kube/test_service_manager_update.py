"""Create on an existing service: rolling update, optimistic concurrency, immutable fields."""

from __future__ import annotations

from pathlib import Path

import kmock
import pytest
from kube_support import DEFAULTS, KnativeApiEmulator, make_build
from prometheus_client import CollectorRegistry

from knative_events.service_manager import (
    ApplyOutcome,
    ConflictRetriesExhaustedError,
    ServiceCreationError,
    ServiceManager,
    ServiceManagerMetrics,
    ServiceManagerSettings,
    label_value,
)

NAME = "lambda-update"


async def test_new_image_patches_the_template_with_the_version_just_read(
    manager: ServiceManager, k8s: KnativeApiEmulator
) -> None:
    await manager.create_service(NAME, make_build(version=1))
    before = k8s.stored("Service", NAME)
    assert before is not None
    version_read = before["metadata"]["resourceVersion"]
    k8s.calls.clear()

    result = await manager.create_service(NAME, make_build(version=2))

    assert result.outcomes["Service"] is ApplyOutcome.UPDATED
    assert result.outcomes["ConfigMap"] is ApplyOutcome.UPDATED
    after = k8s.stored("Service", NAME)
    assert after is not None
    (container,) = after["spec"]["template"]["spec"]["containers"]
    assert container["image"] == make_build(version=2).image_uri
    template_labels = after["spec"]["template"]["metadata"]["labels"]
    assert template_labels[DEFAULTS.label_content_hash] == label_value(
        make_build(version=2).content_hash
    )
    assert after["metadata"]["generation"] == before["metadata"]["generation"] + 1
    (patch,) = k8s.api_calls("PATCH", "Service")
    assert patch.body["metadata"]["resourceVersion"] == version_read
    assert k8s.api_calls("DELETE") == []  # a rolling update, never delete + create


async def test_the_same_build_twice_changes_nothing(
    manager: ServiceManager, k8s: KnativeApiEmulator
) -> None:
    await manager.create_service(NAME, make_build())
    k8s.calls.clear()

    result = await manager.create_service(NAME, make_build())

    assert set(result.outcomes.values()) == {ApplyOutcome.UNCHANGED}
    assert k8s.api_calls("PATCH") == []


async def test_an_injected_conflict_is_re_read_and_retried(
    manager: ServiceManager, k8s: KnativeApiEmulator
) -> None:
    await manager.create_service(NAME, make_build(version=1))
    k8s.calls.clear()
    k8s.inject("PATCH", "Service", 409)

    result = await manager.create_service(NAME, make_build(version=2))

    assert result.outcomes["Service"] is ApplyOutcome.UPDATED
    assert [call.status for call in k8s.api_calls("PATCH", "Service")] == [409, 200]
    assert len(k8s.api_calls("GET", "Service")) == 2  # a fresh read before each attempt
    stored = k8s.stored("Service", NAME)
    assert stored is not None
    (container,) = stored["spec"]["template"]["spec"]["containers"]
    assert container["image"] == make_build(version=2).image_uri


async def test_a_concurrent_writer_causes_a_real_conflict_and_its_change_survives(
    manager: ServiceManager, k8s: KnativeApiEmulator
) -> None:
    await manager.create_service(NAME, make_build(version=1))
    writes: list[str] = []

    def other_writer(request: kmock.Request) -> None:
        # Between our read and our patch, someone else updates the Service once.
        if request.method.value == "PATCH" and request.name == NAME and not writes:
            writes.append(request.resource.plural if request.resource else "")
            if writes == ["services"]:
                k8s.modify("Service", NAME, {"metadata": {"annotations": {"team": "other"}}})
            else:
                writes.clear()

    k8s.before.append(other_writer)
    k8s.calls.clear()

    await manager.create_service(NAME, make_build(version=2))

    assert [call.status for call in k8s.api_calls("PATCH", "Service")] == [409, 200]
    stored = k8s.stored("Service", NAME)
    assert stored is not None
    assert stored["metadata"]["annotations"]["team"] == "other"
    (container,) = stored["spec"]["template"]["spec"]["containers"]
    assert container["image"] == make_build(version=2).image_uri


async def test_conflict_retries_are_bounded(
    kubeconfig: Path, k8s: KnativeApiEmulator, registry: CollectorRegistry
) -> None:
    settings = ServiceManagerSettings(max_conflict_retries=2, conflict_backoff_seconds=0)
    async with ServiceManager.from_environment(
        DEFAULTS, settings=settings, metrics=ServiceManagerMetrics(registry)
    ) as manager:
        await manager.create_service(NAME, make_build(version=1))
        k8s.inject("PATCH", "Service", 409, times=100)
        k8s.calls.clear()

        with pytest.raises(ServiceCreationError) as caught:
            await manager.create_service(NAME, make_build(version=2))

    error = caught.value.errors["Service"]
    assert isinstance(error, ConflictRetriesExhaustedError)
    assert len(k8s.api_calls("PATCH", "Service")) == 3  # the first try and two retries
    assert caught.value.removed == []  # an update never deletes what existed before
    assert k8s.stored("Service", NAME) is not None
    assert registry.get_sample_value("knative_service_creation_total", {"status": "failure"}) == 1


async def test_a_new_broker_recreates_the_trigger(
    kubeconfig: Path, k8s: KnativeApiEmulator
) -> None:
    metrics = ServiceManagerMetrics(CollectorRegistry())
    async with ServiceManager.from_environment(
        DEFAULTS, broker="first", metrics=metrics
    ) as manager:
        await manager.create_service(NAME, make_build())
    k8s.calls.clear()

    async with ServiceManager.from_environment(
        DEFAULTS, broker="second", metrics=metrics
    ) as manager:
        result = await manager.create_service(NAME, make_build())

    assert result.outcomes["Trigger"] is ApplyOutcome.RECREATED
    assert result.outcomes["Service"] is ApplyOutcome.UNCHANGED
    trigger_calls = [call.method for call in k8s.api_calls(kind="Trigger")]
    assert trigger_calls == ["POST", "GET", "DELETE", "POST"]
    assert k8s.api_calls("PATCH", "Trigger") == []  # spec.broker is immutable: never patched
    stored = k8s.stored("Trigger", NAME)
    assert stored is not None
    assert stored["spec"]["broker"] == "second"


async def test_dropping_the_dead_letter_sink_removes_it(
    kubeconfig: Path, k8s: KnativeApiEmulator
) -> None:
    metrics = ServiceManagerMetrics(CollectorRegistry())
    with_sink = ServiceManagerSettings(dead_letter_sink="dead-letters")
    async with ServiceManager.from_environment(
        DEFAULTS, settings=with_sink, metrics=metrics
    ) as manager:
        await manager.create_service(NAME, make_build())
    without_sink = ServiceManagerSettings(dead_letter_sink="")
    async with ServiceManager.from_environment(
        DEFAULTS, settings=without_sink, metrics=metrics
    ) as manager:
        result = await manager.create_service(NAME, make_build())

    assert result.outcomes["Trigger"] is ApplyOutcome.UPDATED
    stored = k8s.stored("Trigger", NAME)
    assert stored is not None
    assert "deadLetterSink" not in stored["spec"]["delivery"]
