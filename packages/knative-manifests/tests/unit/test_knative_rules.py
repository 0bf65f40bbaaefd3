"""Every admission rule catches the manifest it is about, and nothing else does.

Each rule in ``RULES`` has a mutation below: a small edit of a clean document that breaks
exactly that rule. The test asserts that exactly that rule fires. A new rule without a
mutation fails ``test_every_rule_has_a_mutation``, so no rule goes untested.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from knative_world import Doc, built_environments, clean_world, first

from knative_manifests import constants as c
from knative_manifests import versions
from knative_manifests.overlays import split_reference
from knative_manifests.rules import (
    RULES,
    VERSIONED_RULES,
    WARNING_RULES,
    Violation,
    check_documents,
    check_warnings,
    rules_for,
)

SCALING = "autoscaling.knative.dev/"
TEMPLATED = "{" + "{.env}" + "}"


def ksvc(world: list[Doc]) -> Doc:
    return first(world, "Service")


def template_annotations(world: list[Doc]) -> dict[str, Any]:
    meta = ksvc(world)["spec"]["template"].setdefault("metadata", {})
    annotations: dict[str, Any] = meta.setdefault("annotations", {})
    return annotations


def container(world: list[Doc]) -> dict[str, Any]:
    result: dict[str, Any] = ksvc(world)["spec"]["template"]["spec"]["containers"][0]
    return result


def pod(world: list[Doc]) -> dict[str, Any]:
    result: dict[str, Any] = ksvc(world)["spec"]["template"]["spec"]
    return result


def annotate(world: list[Doc], **values: str) -> None:
    for key, value in values.items():
        template_annotations(world)[SCALING + key.replace("_", "-")] = value


#: A revisionName of the mutated Service itself (``set_traffic`` puts in its name).
OWN_REVISION = "{service}-00001"


def set_traffic(entries: list[dict[str, Any]]) -> Callable[[list[Doc]], None]:
    def mutate(world: list[Doc]) -> None:
        name = ksvc(world)["metadata"]["name"]
        ksvc(world)["spec"]["traffic"] = [
            {
                k: v.replace("{service}", name) if k == "revisionName" else v
                for k, v in entry.items()
            }
            for entry in copy.deepcopy(entries)
        ]

    return mutate


def trigger(world: list[Doc], name: str | None = None) -> Doc:
    return first(world, "Trigger", name)


def delivery(world: list[Doc]) -> dict[str, Any]:
    result: dict[str, Any] = trigger(world)["spec"].setdefault("delivery", {})
    return result


def appset(world: list[Doc]) -> Doc:
    return first(world, "ApplicationSet")


def appset_template_spec(world: list[Doc]) -> dict[str, Any]:
    result: dict[str, Any] = appset(world)["spec"]["template"]["spec"]
    return result


def add_generator(generator: dict[str, Any]) -> Callable[[list[Doc]], None]:
    def mutate(world: list[Doc]) -> None:
        appset(world)["spec"]["generators"].append(generator)

    return mutate


def authz(world: list[Doc]) -> Doc:
    return first(world, "AuthorizationPolicy")


def add_volume(volume: dict[str, Any], mount: dict[str, Any] | None) -> Callable[[list[Doc]], None]:
    def mutate(world: list[Doc]) -> None:
        pod(world).setdefault("volumes", []).append(volume)
        if mount is not None:
            container(world).setdefault("volumeMounts", []).append(mount)

    return mutate


def _set_service_name(world: list[Doc]) -> None:
    ksvc(world)["metadata"]["name"] = "1service"
    ksvc(world)["spec"]["template"].get("metadata", {}).pop("name", None)


def _class(world: list[Doc]) -> None:
    annotate(world, **{"class": "custom.knative.dev", "metric": "concurrency"})


def _hpa_min_zero(world: list[Doc]) -> None:
    annotate(world, **{"class": c.HPA_CLASS, "metric": "cpu", "min_scale": "0"})


def _metric_for_class(world: list[Doc]) -> None:
    annotate(world, **{"class": c.KPA_CLASS, "metric": "cpu"})


def _duplicate_alias(world: list[Doc]) -> None:
    template_annotations(world)["autoscaling.knative.dev/minScale"] = template_annotations(world)[
        c.ANNOTATION_MIN_SCALE
    ]


def _rabbit_resources(world: list[Doc]) -> None:
    annotations = trigger(world, "rabbit-trigger")["metadata"]["annotations"]
    annotations["rabbitmq.eventing.knative.dev/cpu-request"] = "2"
    annotations["rabbitmq.eventing.knative.dev/cpu-limit"] = "1"


def _kafka_config_map(world: list[Doc]) -> None:
    first(world, "ConfigMap", "kafka-sample-config")["data"]["bootstrap.servers"] = ""


def _peer_auth_system(world: list[Doc]) -> None:
    doc = first(world, "PeerAuthentication")
    doc["metadata"]["namespace"] = c.KNATIVE_SERVING_NAMESPACE
    doc["spec"] = {"mtls": {"mode": "STRICT"}}


def _authz_empty_from(world: list[Doc]) -> None:
    authz(world)["spec"]["rules"] = [
        {"from": [{"source": {"namespaces": ["knative-serving"]}}]},
        {"from": []},
    ]


def set_image(tail: str) -> Callable[[list[Doc]], None]:
    """The Service's image becomes its repository followed by ``tail`` (``:1.4.0``, "")."""

    def mutate(world: list[Doc]) -> None:
        repository = split_reference(container(world)["image"]).repository
        container(world)["image"] = repository + tail

    return mutate


def _merge_without_keys(world: list[Doc]) -> None:
    empty: dict[str, Any] = {"list": {"elements": []}}
    appset(world)["spec"]["generators"].append({"merge": {"generators": [empty, empty]}})


M = Callable[[list[Doc]], None]


def _foreign_revision(world: list[Doc]) -> None:
    """The Service routes to a revision of Service '<name>-api' (another Service)."""
    service = ksvc(world)
    other = copy.deepcopy(service)
    other["metadata"]["name"] = service["metadata"]["name"] + "-api"
    other["spec"].pop("traffic", None)
    other["spec"]["template"]["metadata"].pop("name", None)
    world.append(other)
    service["spec"]["traffic"] = [
        {"revisionName": other["metadata"]["name"] + "-00001", "percent": 100}
    ]


def _filters_on_rabbitmq(world: list[Doc]) -> None:
    trigger(world, "rabbit-trigger")["spec"]["filters"] = [{"exact": {"type": "com.example.a"}}]


def _default_partitioner(world: list[Doc]) -> None:
    first(world, "ConfigMap", "kafka-sample-config")["data"][
        "config-kafka-broker-producer.properties"
    ] = f"acks=all\npartitioner.class={c.KAFKA_REMOVED_PARTITIONERS[0]}\n"


def event_policy() -> Doc:
    """A valid EventPolicy: only the sample KafkaSource may send to the sample broker."""
    return {
        "apiVersion": "eventing.knative.dev/v1alpha1",
        "kind": "EventPolicy",
        "metadata": {"name": "sample-policy", "namespace": "sample"},
        "spec": {
            "to": [
                {
                    "ref": {
                        "apiVersion": "eventing.knative.dev/v1",
                        "kind": "Broker",
                        "name": "sample-broker",
                    }
                }
            ],
            "from": [
                {
                    "ref": {
                        "apiVersion": "sources.knative.dev/v1beta1",
                        "kind": "KafkaSource",
                        "name": "sample-source",
                    }
                },
                {"sub": "system:serviceaccount:sample:*"},
            ],
        },
    }


def with_event_policy(change: Callable[[Doc], None]) -> M:
    def mutate(world: list[Doc]) -> None:
        policy = event_policy()
        change(policy)
        world.append(policy)

    return mutate


def observability(data: dict[str, str], name: str = "config-observability") -> M:
    def mutate(world: list[Doc]) -> None:
        world.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "knative-serving"},
                "data": data,
            }
        )

    return mutate


MUTATIONS: dict[str, M] = {
    # every kind
    "k8s/name": lambda w: first(w, "ConfigMap")["metadata"].update(name="Bad_Name"),
    "k8s/annotation-values-strings": lambda w: (
        first(w, "ConfigMap")["metadata"].setdefault("annotations", {}).update(replicas=5)
    ),
    "argocd/sync-wave-integer": lambda w: (
        first(w, "ConfigMap")["metadata"]
        .setdefault("annotations", {})
        .update({c.ARGOCD_SYNC_WAVE_ANNOTATION: "first"})
    ),
    # Knative Service metadata and autoscaling
    "serving/name-dns1035": _set_service_name,
    "serving/autoscaling-annotations-on-template": lambda w: (
        ksvc(w)["metadata"].setdefault("annotations", {}).update({c.ANNOTATION_MIN_SCALE: "1"})
    ),
    "autoscaling/duplicate-alias-keys": _duplicate_alias,
    "autoscaling/class": _class,
    "autoscaling/metric-for-class": _metric_for_class,
    "autoscaling/target-minimum": lambda w: annotate(w, target="0.001"),
    "autoscaling/target-utilization-range": lambda w: annotate(
        w, target_utilization_percentage="101"
    ),
    "autoscaling/target-burst-capacity": lambda w: annotate(w, target_burst_capacity="-2"),
    "autoscaling/panic-window-percentage": lambda w: annotate(w, panic_window_percentage="0"),
    "autoscaling/panic-threshold-percentage": lambda w: annotate(
        w, panic_threshold_percentage="100"
    ),
    "autoscaling/window": lambda w: annotate(w, window="5s"),
    "autoscaling/scale-down-delay": lambda w: annotate(w, scale_down_delay="1.5s"),
    "autoscaling/scale-to-zero-retention": lambda w: annotate(
        w, scale_to_zero_pod_retention_period="2h"
    ),
    "autoscaling/min-scale-range": lambda w: annotate(w, min_scale="-1"),
    "autoscaling/max-scale-range": lambda w: annotate(w, max_scale="many"),
    "autoscaling/min-not-above-max": lambda w: annotate(w, min_scale="5", max_scale="2"),
    "autoscaling/activation-scale": lambda w: annotate(w, activation_scale="1"),
    "autoscaling/initial-scale": lambda w: annotate(w, initial_scale="0"),
    "autoscaling/metric-aggregation-algorithm": lambda w: annotate(
        w, metric_aggregation_algorithm="mean"
    ),
    "autoscaling/hpa-no-scale-to-zero": _hpa_min_zero,
    "istio/sidecar-inject-on-template": lambda w: (
        ksvc(w)["metadata"].setdefault("labels", {}).update({c.ISTIO_INJECT_KEY: "true"})
    ),
    # revision, pod and container
    "serving/container-concurrency-range": lambda w: pod(w).update(containerConcurrency=1001),
    "serving/timeout-range": lambda w: pod(w).update(timeoutSeconds=601),
    "serving/revision-name": lambda w: ksvc(w)["spec"]["template"]["metadata"].update(
        name="other-v2"
    ),
    "serving/rollout-duration": lambda w: (
        ksvc(w)["metadata"]
        .setdefault("annotations", {})
        .update({c.ROLLOUT_DURATION_ANNOTATION: "-5s"})
    ),
    "serving/podspec-field": lambda w: pod(w).update(nodeSelector={"disk": "ssd"}),
    "serving/automount-token-false-only": lambda w: pod(w).update(
        automountServiceAccountToken=True
    ),
    "serving/container-field": lambda w: container(w).update(lifecycle={}),
    "serving/image-required": lambda w: container(w).pop("image"),
    "images/digest-required": set_image(":1.4.0"),
    "images/not-promoted": set_image(""),  # a warning (WARNING_RULES), not a violation
    "serving/single-port": lambda w: container(w)["ports"].append({"containerPort": 9000}),
    "serving/port-name": lambda w: container(w)["ports"][0].update(name="http"),
    "serving/port-protocol": lambda w: container(w)["ports"][0].update(protocol="UDP"),
    "serving/reserved-port": lambda w: container(w)["ports"][0].update(containerPort=8012),
    "serving/host-port": lambda w: container(w)["ports"][0].update(hostPort=80),
    "serving/reserved-env": lambda w: (
        container(w).setdefault("env", []).append({"name": "PORT", "value": "1"})
    ),
    "serving/container-name": lambda w: container(w).update(name=c.QUEUE_PROXY_CONTAINER_NAME),
    "serving/volume-mounted": add_volume({"name": "unused", "emptyDir": {}}, None),
    "serving/volume-mount-read-only": add_volume(
        {"name": "settings", "configMap": {"name": "settings"}},
        {"name": "settings", "mountPath": "/settings"},
    ),
    "serving/volume-mount-path": add_volume(
        {"name": "devices", "emptyDir": {}}, {"name": "devices", "mountPath": "/dev"}
    ),
    "serving/probe-handler": lambda w: container(w).update(
        readinessProbe={"httpGet": {"path": "/"}, "exec": {"command": ["true"]}}
    ),
    "serving/probe-port": lambda w: container(w).update(
        readinessProbe={"httpGet": {"path": "/", "port": 1234}}
    ),
    "serving/probe-thresholds": lambda w: container(w).update(
        readinessProbe={"httpGet": {"path": "/"}, "successThreshold": 0}
    ),
    # traffic
    "traffic/percent-sum": set_traffic([{"latestRevision": True, "percent": 90}]),
    "traffic/percent-range": set_traffic(
        [
            {"latestRevision": True, "percent": 150},
            {"revisionName": OWN_REVISION, "percent": -50},
        ]
    ),
    "traffic/tag-dns1035": set_traffic([{"latestRevision": True, "percent": 100, "tag": "Bad"}]),
    "traffic/tag-unique": set_traffic(
        [
            {"latestRevision": True, "percent": 50, "tag": "same"},
            {"revisionName": OWN_REVISION, "percent": 50, "tag": "same"},
        ]
    ),
    "traffic/configuration-name-forbidden": set_traffic(
        [{"configurationName": "config", "percent": 100}]
    ),
    "traffic/latest-revision-xor-revision-name": set_traffic(
        [{"revisionName": OWN_REVISION, "latestRevision": True, "percent": 100}]
    ),
    "traffic/url-forbidden": set_traffic(
        [{"latestRevision": True, "percent": 100, "url": "http://x.example.com"}]
    ),
    "serving/revision-not-owned": _foreign_revision,
    # container security (own rules)
    "security/run-as-user-set": lambda w: container(w)["securityContext"].pop("runAsUser"),
    "security/run-as-non-root": lambda w: container(w)["securityContext"].update(
        runAsNonRoot=False
    ),
    "security/no-privilege-escalation": lambda w: container(w)["securityContext"].update(
        allowPrivilegeEscalation=True
    ),
    "security/drop-all-capabilities": lambda w: container(w)["securityContext"].update(
        capabilities={"drop": ["NET_RAW"]}
    ),
    "security/seccomp-runtime-default": lambda w: container(w)["securityContext"].update(
        seccompProfile={"type": "Unconfined"}
    ),
    "security/read-only-root-filesystem": lambda w: container(w)["securityContext"].update(
        readOnlyRootFilesystem=False
    ),
    "security/resources-set": lambda w: container(w)["resources"]["limits"].pop("memory"),
    "security/request-not-above-limit": lambda w: container(w)["resources"].update(
        requests={"cpu": "2", "memory": "64Mi"}, limits={"cpu": "1", "memory": "64Mi"}
    ),
    # destinations and delivery
    "destination/ref-or-uri": lambda w: trigger(w)["spec"].update(subscriber={"ref": None}),
    "destination/uri-absolute": lambda w: trigger(w)["spec"].update(
        subscriber={"uri": "/relative"}
    ),
    "destination/ref-fields": lambda w: trigger(w)["spec"].update(
        subscriber={"ref": {"kind": "Service", "name": "x"}}
    ),
    "delivery/retry-range": lambda w: delivery(w).update(retry=-1),
    "delivery/backoff-policy": lambda w: delivery(w).update(backoffPolicy="random"),
    "delivery/backoff-delay-iso8601": lambda w: delivery(w).update(backoffDelay="2s"),
    "delivery/timeout-iso8601": lambda w: delivery(w).update(timeout="PT0S"),
    "delivery/retry-after-max-forbidden": lambda w: delivery(w).update(retryAfterMax="PT1S"),
    "delivery/format": lambda w: delivery(w).update(format="xml"),
    # Trigger
    "trigger/broker-xor-broker-ref": lambda w: trigger(w)["spec"].update(
        brokerRef={"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "b"}
    ),
    "trigger/subscriber-required": lambda w: trigger(w)["spec"].pop("subscriber"),
    "trigger/filter-attribute-keys": lambda w: trigger(w)["spec"].update(
        filter={"attributes": {"Type": "x"}}
    ),
    "trigger/filters-dialect": lambda w: trigger(w)["spec"].update(
        filters=[{"exact": {"type": "a"}, "prefix": {"type": "b"}}]
    ),
    "kafka/delivery-order": lambda w: (
        trigger(w)["metadata"]
        .setdefault("annotations", {})
        .update({c.KAFKA_DELIVERY_ORDER_ANNOTATION: "random"})
    ),
    "rabbitmq/parallelism": lambda w: trigger(w, "rabbit-trigger")["metadata"][
        "annotations"
    ].update({c.RABBITMQ_PARALLELISM_ANNOTATION: "0"}),
    "rabbitmq/resource-annotations": _rabbit_resources,
    "rabbitmq/trigger-needs-rabbitmq-broker": lambda w: trigger(w, "sample-trigger")[
        "metadata"
    ].update(annotations={c.RABBITMQ_PARALLELISM_ANNOTATION: "10"}),
    # Broker
    "broker/class-annotation": lambda w: first(w, "Broker", "sample-broker")["metadata"][
        "annotations"
    ].update({c.BROKER_CLASS_ANNOTATION: "Custom"}),
    "broker/config-reference": lambda w: first(w, "Broker", "sample-broker")["spec"].update(
        config={"name": "x"}
    ),
    "kafka/broker-config-kind": lambda w: first(w, "Broker", "kafka-sample")["spec"][
        "config"
    ].update(kind="Secret"),
    "kafka/config-map": _kafka_config_map,
    "rabbitmq/broker-config": lambda w: first(w, "Broker", "rabbit-sample")["spec"]["config"].pop(
        "namespace"
    ),
    # KafkaSource
    "trigger/filters-need-supporting-broker": _filters_on_rabbitmq,
    "kafka/default-partitioner-removed": _default_partitioner,
    # per version in VERSION_MUTATIONS; this one fits every version (a misspelt key is no
    # key of either era and is not flagged, so the mutation uses the map's name).
    "observability/config-dialect": observability({}, name="config-tracing"),
    "eventpolicy/unsupported-version": with_event_policy(lambda p: None),
    "eventpolicy/from-ref-xor-sub": with_event_policy(
        lambda p: p["spec"]["from"].append({"sub": "system:*:x"})
    ),
    "eventpolicy/to-ref-xor-selector": with_event_policy(
        lambda p: p["spec"]["to"][0].update(selector={"matchLabels": {"a": "b"}})
    ),
    "kafkasource/required-fields": lambda w: first(w, "KafkaSource")["spec"].update(topics=[]),
    "kafkasource/initial-offset": lambda w: first(w, "KafkaSource")["spec"].update(
        initialOffset="middle"
    ),
    "kafkasource/ordering": lambda w: first(w, "KafkaSource")["spec"].update(ordering="random"),
    "kafkasource/consumer-group-set": lambda w: first(w, "KafkaSource")["spec"].pop(
        "consumerGroup"
    ),
    # Argo CD
    "argocd/applicationset-required": lambda w: appset(w)["spec"].pop("generators"),
    "argocd/applications-sync-policy": lambda w: appset(w)["spec"].update(
        syncPolicy={"applicationsSync": "always"}
    ),
    "argocd/automated-fields": lambda w: appset_template_spec(w).update(
        syncPolicy={"automated": {"prune": True, "force": True}}
    ),
    "argocd/go-template-missingkey-error": lambda w: appset(w)["spec"].update(goTemplateOptions=[]),
    "argocd/git-generator": add_generator({"git": {"repoURL": "https://example.com/r.git"}}),
    "argocd/matrix-generator": add_generator(
        {"matrix": {"generators": [{"list": {"elements": []}}]}}
    ),
    "argocd/merge-generator": _merge_without_keys,
    "argocd/destination-server-xor-name": lambda w: appset_template_spec(w)["destination"].update(
        name="in-cluster"
    ),
    "argocd/project-literal": lambda w: appset_template_spec(w).update(project=TEMPLATED),
    "argocd/project-exists": lambda w: appset_template_spec(w).update(project="missing"),
    "argocd/generated-applications": lambda w: appset(w)["spec"]["template"]["metadata"].update(
        name="a" * 64
    ),
    "argocd/project-permits-application": lambda w: first(w, "AppProject")["spec"].update(
        sourceRepos=["https://example.com/elsewhere.git"]
    ),
    # Istio
    "istio/peer-authentication-port-level": lambda w: first(w, "PeerAuthentication")["spec"].update(
        portLevelMtls={"8080": {"mode": "DISABLE"}}
    ),
    "istio/knative-serving-permissive": _peer_auth_system,
    "istio/authorization-policy-rules": lambda w: authz(w)["spec"].update(action="DENY", rules=[]),
    "istio/authorization-policy-empty-source": _authz_empty_from,
    "istio/authorization-policy-single-target": lambda w: authz(w)["spec"].update(
        targetRef={"kind": "Service", "name": "x"}
    ),
    "istio/authorization-policy-allows-knative": lambda w: authz(w)["spec"].update(
        rules=[{"from": [{"source": {"namespaces": ["elsewhere"]}}]}]
    ),
    "istio/no-private-destination-rule": lambda w: first(w, "DestinationRule")["spec"].update(
        host="x-00001-private.sample.svc.cluster.local"
    ),
    "istio/destination-rule-mutual-certs": lambda w: first(w, "DestinationRule")["spec"][
        "trafficPolicy"
    ]["tls"].update(mode="MUTUAL"),
}


def fired(violations: list[Violation]) -> set[str]:
    return {v.rule for v in violations}


def test_every_rule_has_a_mutation() -> None:
    assert set(RULES) - set(MUTATIONS) == set()
    assert {r for r, _ in VERSION_MUTATIONS} <= set(RULES)
    assert set(MUTATIONS) - set(RULES) == set()


@pytest.mark.parametrize("version", list(versions.VERSIONS))
def test_clean_world_has_no_violations(version: str) -> None:
    entry = versions.get(version)
    violations = check_documents(clean_world(), entry)
    assert violations == [], "\n".join(map(str, violations))
    assert check_warnings(clean_world(), entry) == []


@pytest.mark.parametrize("rule_name", sorted(VERSIONED_RULES))
def test_versioned_rule_is_silent_where_it_does_not_apply(rule_name: str) -> None:
    """The mutation that makes a versioned rule fire finds nothing on other versions."""
    for version, entry in versions.VERSIONS.items():
        if rule_name in entry.rules:
            continue
        world = copy.deepcopy(clean_world())
        MUTATIONS[rule_name](world)
        assert rule_name not in fired(check_documents(world, entry)), version


def test_observability_config_tracing_is_not_read_from_1_19() -> None:
    world = copy.deepcopy(clean_world())
    observability({"backend": "zipkin"}, name="config-tracing")(world)
    assert check_documents(world, versions.get("1.15")) == []
    (violation,) = check_documents(world, versions.get("1.23"))
    assert violation.rule == "observability/config-dialect"
    assert "does not read config-tracing" in violation.message


def test_event_policy_is_clean_on_1_23() -> None:
    world = [*copy.deepcopy(clean_world()), event_policy()]
    assert check_documents(world, versions.get("1.23")) == []


def test_filters_on_the_kafka_broker_are_fine() -> None:
    world = copy.deepcopy(clean_world())
    kafka_trigger = copy.deepcopy(trigger(world, "sample-trigger"))
    kafka_trigger["metadata"]["name"] = "kafka-trigger"
    kafka_trigger["spec"]["broker"] = "kafka-sample"
    kafka_trigger["spec"]["filters"] = [{"prefix": {"type": "com.example."}}]
    world.append(kafka_trigger)
    assert check_documents(world, versions.get("1.23")) == []


def test_every_environment_is_clean() -> None:
    for env, docs in built_environments().items():
        violations = check_documents(docs) + check_warnings(docs)
        assert violations == [], f"{env}: " + "\n".join(map(str, violations))


#: Mutations that differ by version: the observability keys of the other era.
VERSION_MUTATIONS: dict[tuple[str, str], M] = {
    ("observability/config-dialect", "1.15"): observability({"tracing-protocol": "grpc"}),
    ("observability/config-dialect", "1.23"): observability(
        {"metrics.backend-destination": "prometheus"}
    ),
}
#: Every (rule, version) pair the rule runs for.
CASES = [(r, v) for v, entry in versions.VERSIONS.items() for r in rules_for(entry)]


def test_versioned_rules_are_listed_by_a_version() -> None:
    assert versions.versioned_rules() == VERSIONED_RULES
    assert versions.versioned_rules() <= set(RULES)


@pytest.mark.parametrize(("rule_name", "version"), CASES, ids=[f"{v}:{r}" for r, v in CASES])
def test_rule_catches_its_mutation(rule_name: str, version: str) -> None:
    """The mutation makes its rule fire alone, as a violation or (WARNING_RULES) a warning,
    for every Knative version the rule runs for."""
    entry = versions.get(version)
    world = copy.deepcopy(clean_world())
    VERSION_MUTATIONS.get((rule_name, version), MUTATIONS[rule_name])(world)
    violations = check_documents(world, entry)
    warnings = check_warnings(world, entry)
    found = warnings if rule_name in WARNING_RULES else violations
    assert fired(violations + warnings) == {rule_name}, "\n".join(map(str, violations + warnings))
    assert fired(found) == {rule_name}
    assert all(v.kind and v.message for v in found)


def test_only_the_not_promoted_rule_warns() -> None:
    assert {"images/not-promoted"} == WARNING_RULES
    assert set(RULES) >= WARNING_RULES


@pytest.mark.parametrize(
    ("image", "rule"),
    [
        ("ghcr.io/acme/app@sha256:" + "0a" * 32, None),
        ("ghcr.io/acme/app:1.0@sha256:" + "0a" * 32, None),
        ("registry.local:5000/acme/app@sha256:" + "0a" * 32, None),
        ("ghcr.io/acme/app:1.0", "images/digest-required"),
        ("ghcr.io/acme/app:latest", "images/digest-required"),
        ("registry.local:5000/acme/app:1.0", "images/digest-required"),
        ("ghcr.io/acme/app@sha256:" + "0A" * 32, "images/digest-required"),
        ("ghcr.io/acme/app@sha256:" + "0a" * 31, "images/digest-required"),
        ("ghcr.io/acme/app@sha256:" + "0a" * 33, "images/digest-required"),
        ("ghcr.io/acme/app@sha512:" + "0a" * 64, "images/digest-required"),
        ("ghcr.io/acme/app@" + "0a" * 32, "images/digest-required"),
        ("ghcr.io/acme/app", "images/not-promoted"),
        ("registry.local:5000/acme/app", "images/not-promoted"),
    ],
)
def test_image_references_by_digest_tag_or_neither(image: str, rule: str | None) -> None:
    world = copy.deepcopy(clean_world())
    container(world)["image"] = image
    assert fired(check_documents(world) + check_warnings(world)) == ({rule} if rule else set())


def test_every_container_of_a_service_is_checked() -> None:
    world = copy.deepcopy(clean_world())
    sidecar = {**copy.deepcopy(container(world)), "name": "sidecar", "image": "ghcr.io/a/b:1"}
    sidecar.pop("ports", None)
    sidecar.pop("readinessProbe", None)
    sidecar.pop("livenessProbe", None)
    pod(world)["containers"].append(sidecar)
    (violation,) = [v for v in check_documents(world) if v.rule == "images/digest-required"]
    assert violation.path == "spec.template.spec.containers[1].image"
    assert "tags move" in violation.message
    assert "knative-manifests image set" in violation.message


def test_violation_names_rule_kind_and_name() -> None:
    world = copy.deepcopy(clean_world())
    MUTATIONS["serving/timeout-range"](world)
    (violation,) = check_documents(world)
    assert violation.kind == "Service"
    assert violation.name == ksvc(world)["metadata"]["name"]
    assert str(violation).startswith(f"Service/{violation.name}: [serving/timeout-range]")


def test_knative_defaulting_runs_before_the_rules() -> None:
    """A Service without traffic or timeout gets Knative's defaults, which are valid."""
    world = copy.deepcopy(clean_world())
    ksvc(world)["spec"].pop("traffic", None)
    pod(world).pop("timeoutSeconds", None)
    assert check_documents(world) == []


def test_application_names_are_unique_across_application_sets() -> None:
    world = copy.deepcopy(clean_world())
    clash = copy.deepcopy(first(world, "ApplicationSet", "sample-apps"))
    clash["metadata"]["name"] = "sample-apps-copy"
    world.append(clash)
    violations = check_documents(world)
    assert fired(violations) == {"argocd/generated-applications"}
    assert {v.name for v in violations} == {"sample-apps", "sample-apps-copy"}


@pytest.mark.parametrize(("name", "ok"), [("system:reader", True), ("a/b", False), ("..", False)])
def test_rbac_names_are_path_segments(name: str, ok: bool) -> None:
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {"name": name, "namespace": "team"},
    }
    assert (check_documents([role]) == []) is ok


def test_legacy_alias_is_checked_like_the_kebab_case_key() -> None:
    world = copy.deepcopy(clean_world())
    annotations = template_annotations(world)
    annotations.pop(c.ANNOTATION_MIN_SCALE, None)
    annotations["autoscaling.knative.dev/minScale"] = "-3"
    assert fired(check_documents(world)) == {"autoscaling/min-scale-range"}
