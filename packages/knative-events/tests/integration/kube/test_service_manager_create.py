"""ServiceManager.create_service against the emulated API: content, order, concurrency."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from knative_manifests import constants as c
from kube_support import DEFAULTS, NAMESPACE, KnativeApiEmulator, make_build
from prometheus_client import CollectorRegistry

from knative_events.service_manager import (
    LABEL_MANAGED_BY,
    ApplyOutcome,
    ServiceManager,
    ServiceManagerMetrics,
    ServiceManagerSettings,
    label_value,
)

KINDS = ("ServiceAccount", "ConfigMap", "Service", "Trigger")


async def test_creates_the_four_resources_with_their_content(
    manager: ServiceManager, k8s: KnativeApiEmulator, registry: CollectorRegistry
) -> None:
    build = make_build()
    name = manager.generate_service_name(build.third_party_id, build.parser_id)

    result = await manager.create_service(name, build)

    assert result.outcomes == dict.fromkeys(KINDS, ApplyOutcome.CREATED)
    for kind in KINDS:
        obj = k8s.stored(kind, name)
        assert obj is not None, kind
        labels = obj["metadata"]["labels"]
        assert labels[LABEL_MANAGED_BY] == DEFAULTS.manager_name
        assert labels[DEFAULTS.label_third_party_id] == "customer-123"
        assert labels[DEFAULTS.label_parser_id] == "test-parser"
        assert labels[DEFAULTS.label_content_hash] == label_value(build.content_hash)
        assert obj["metadata"]["namespace"] == NAMESPACE

    account = k8s.stored("ServiceAccount", name)
    assert account is not None
    assert account["automountServiceAccountToken"] is False

    config_map = k8s.stored("ConfigMap", name)
    assert config_map is not None
    assert config_map["data"] == {
        "THIRD_PARTY_ID": "customer-123",
        "PARSER_ID": "test-parser",
        "CONTENT_HASH": build.content_hash,
        "IMAGE_URI": build.image_uri,
    }

    service = k8s.stored("Service", name)
    assert service is not None
    assert service["metadata"]["annotations"][DEFAULTS.label_content_hash] == build.content_hash
    pod = service["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == name
    (container,) = pod["containers"]
    assert container["image"] == build.image_uri
    assert container["envFrom"] == [{"configMapRef": {"name": name}}]
    template = service["spec"]["template"]["metadata"]
    assert template["labels"][DEFAULTS.label_content_hash] == label_value(build.content_hash)
    assert c.ANNOTATION_CLASS in template["annotations"]
    # The service's own revision settings (DEFAULTS.service_settings) reach the Service.
    assert template["annotations"][c.ANNOTATION_MAX_SCALE] == "3"
    assert pod["containerConcurrency"] == 10
    assert not any(
        key.startswith(c.AUTOSCALING_PREFIX) for key in service["metadata"]["annotations"]
    )

    trigger = k8s.stored("Trigger", name)
    assert trigger is not None
    spec = trigger["spec"]
    assert spec["broker"] == manager.settings.broker
    assert manager.settings.event_type == DEFAULTS.event_type == "com.example.parser.start"
    assert manager.settings.source_prefix == DEFAULTS.source_prefix == "com.example"
    assert spec["filter"]["attributes"] == {
        "type": manager.settings.event_type,
        "source": f"{manager.settings.source_prefix}.customer-123",
        "subject": "test-parser",
    }
    assert spec["subscriber"]["ref"] == {
        "apiVersion": c.SERVING_API_VERSION,
        "kind": "Service",
        "name": name,
    }
    assert spec["delivery"]["retry"] == manager.settings.delivery_retry
    assert spec["delivery"]["backoffPolicy"] == manager.settings.delivery_backoff_policy
    assert spec["delivery"]["backoffDelay"] == manager.settings.delivery_backoff_delay
    assert "deadLetterSink" not in spec["delivery"]
    assert c.RABBITMQ_PARALLELISM_ANNOTATION not in trigger["metadata"].get("annotations", {})

    sample = registry.get_sample_value("knative_service_creation_total", {"status": "success"})
    assert sample == 1.0
    assert registry.get_sample_value("knative_service_creation_duration_seconds_count") == 1.0


async def test_a_new_service_costs_one_post_per_resource(
    manager: ServiceManager, k8s: KnativeApiEmulator
) -> None:
    await manager.create_service("lambda-a", make_build())

    calls = k8s.api_calls()
    assert [call.method for call in calls] == ["POST"] * 4
    assert all(200 <= call.status < 300 for call in calls)


async def test_service_and_trigger_are_created_at_the_same_time(
    manager: ServiceManager, k8s: KnativeApiEmulator
) -> None:
    k8s.latency = 0.05
    await manager.create_service("lambda-parallel", make_build())

    (account,) = k8s.api_calls("POST", "ServiceAccount")
    (config_map,) = k8s.api_calls("POST", "ConfigMap")
    (service,) = k8s.api_calls("POST", "Service")
    (trigger,) = k8s.api_calls("POST", "Trigger")
    assert service.overlaps(trigger)
    assert account.overlaps(config_map)
    first_phase_done = max(account.finished, config_map.finished)
    assert service.started >= first_phase_done
    assert trigger.started >= first_phase_done


async def test_sequential_mode_creates_one_after_the_other(
    kubeconfig: Path, k8s: KnativeApiEmulator, settings: ServiceManagerSettings
) -> None:
    k8s.latency = 0.02
    async with ServiceManager.from_environment(
        DEFAULTS, settings=settings, metrics=ServiceManagerMetrics(CollectorRegistry())
    ) as manager:
        manager.parallel = False
        await manager.create_service("lambda-sequential", make_build())

    posts = k8s.api_calls("POST")
    assert [call.plural for call in posts] == [
        "serviceaccounts",
        "configmaps",
        "services",
        "triggers",
    ]
    assert all(not a.overlaps(b) for a, b in itertools.pairwise(posts))


async def test_rabbitmq_broker_adds_the_parallelism_annotation(
    kubeconfig: Path, k8s: KnativeApiEmulator
) -> None:
    settings = ServiceManagerSettings(broker_class="RabbitMQBroker", rabbitmq_parallelism=7)
    async with ServiceManager.from_environment(
        DEFAULTS, settings=settings, metrics=ServiceManagerMetrics(CollectorRegistry())
    ) as manager:
        await manager.create_service("lambda-rabbit", make_build())

    trigger = k8s.stored("Trigger", "lambda-rabbit")
    assert trigger is not None
    assert trigger["metadata"]["annotations"][c.RABBITMQ_PARALLELISM_ANNOTATION] == "7"


@pytest.mark.parametrize(
    ("sink", "expected"),
    [
        (
            "dead-letters",
            {
                "ref": {
                    "apiVersion": c.SERVING_API_VERSION,
                    "kind": "Service",
                    "name": "dead-letters",
                }
            },
        ),
        ("https://dlq.example.com/events", {"uri": "https://dlq.example.com/events"}),
    ],
)
async def test_dead_letter_sink_is_a_ref_or_a_uri(
    kubeconfig: Path, k8s: KnativeApiEmulator, sink: str, expected: dict[str, object]
) -> None:
    settings = ServiceManagerSettings(dead_letter_sink=sink)
    async with ServiceManager.from_environment(
        DEFAULTS, settings=settings, metrics=ServiceManagerMetrics(CollectorRegistry())
    ) as manager:
        await manager.create_service("lambda-dlq", make_build())

    trigger = k8s.stored("Trigger", "lambda-dlq")
    assert trigger is not None
    assert trigger["spec"]["delivery"]["deadLetterSink"] == expected


async def test_service_exists(manager: ServiceManager) -> None:
    assert await manager.service_exists("lambda-x") is False
    await manager.create_service("lambda-x", make_build())
    assert await manager.service_exists("lambda-x") is True


async def test_bad_service_name_is_refused_before_any_call(
    manager: ServiceManager, k8s: KnativeApiEmulator
) -> None:
    with pytest.raises(ValueError, match="DNS-1035"):
        await manager.create_service("1-starts-with-a-digit", make_build())
    assert k8s.api_calls() == []
