"""Every reference in an environment resolves, or the check names what is missing."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from knative_world import PROJECT_ROOT, built_environments

from knative_manifests.references import (
    REFERENCE_RULES,
    ExternalReference,
    check_references,
    load_external_references,
)
from knative_manifests.validate import find_overlays, overlay_namespace

NS = "team"
SERVING = "serving.knative.dev/v1"


def ref(kind: str, name: str, api_version: str = SERVING) -> dict[str, str]:
    return {"apiVersion": api_version, "kind": kind, "name": name}


def world() -> list[dict[str, Any]]:
    """A small consistent environment: every reference resolves."""
    meta = {"namespace": NS}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "app", **meta}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app-config", **meta}},
        {
            "apiVersion": SERVING,
            "kind": "Service",
            "metadata": {"name": "app", **meta},
            "spec": {
                "template": {
                    "spec": {
                        "serviceAccountName": "app",
                        "containers": [
                            {
                                "image": "x/app:1",
                                "envFrom": [{"configMapRef": {"name": "app-config"}}],
                            }
                        ],
                    }
                }
            },
        },
        {
            "apiVersion": "eventing.knative.dev/v1",
            "kind": "Broker",
            "metadata": {"name": "default", **meta},
            "spec": {"config": ref("ConfigMap", "app-config", "v1")},
        },
        {
            "apiVersion": "eventing.knative.dev/v1",
            "kind": "Trigger",
            "metadata": {"name": "on-created", **meta},
            "spec": {
                "broker": "default",
                "subscriber": {"ref": ref("Service", "app")},
                "delivery": {"deadLetterSink": {"ref": ref("Service", "dlq")}},
            },
        },
        {
            "apiVersion": "sources.knative.dev/v1beta1",
            "kind": "KafkaSource",
            "metadata": {"name": "source", **meta},
            "spec": {"sink": {"ref": ref("Broker", "default", "eventing.knative.dev/v1")}},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "manager", **meta},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "manager", **meta},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "manager"},
            "subjects": [{"kind": "ServiceAccount", "name": "app", "namespace": NS}],
        },
    ]


EXTERNAL = [ExternalReference(SERVING, "Service", "dlq")]


def find(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind)


def drop(kind: str) -> Callable[[list[dict[str, Any]]], None]:
    def mutate(docs: list[dict[str, Any]]) -> None:
        docs.remove(find(docs, kind))

    return mutate


MUTATIONS: dict[str, Callable[[list[dict[str, Any]]], None]] = {
    "references/namespace": lambda d: d.append(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "stray", "namespace": "x"}}
    ),
    "references/trigger-subscriber": lambda d: find(d, "Trigger")["spec"]["subscriber"][
        "ref"
    ].update(name="missing"),
    "references/kafka-source-sink": lambda d: find(d, "KafkaSource")["spec"]["sink"]["ref"].update(
        name="missing"
    ),
    "references/dead-letter-sink": lambda d: find(d, "Trigger")["spec"]["delivery"][
        "deadLetterSink"
    ]["ref"].update(name="missing"),
    "references/trigger-broker": lambda d: find(d, "Trigger")["spec"].update(broker="missing"),
    "references/broker-config": lambda d: find(d, "Broker")["spec"]["config"].update(
        name="missing"
    ),
    "references/service-account": lambda d: find(d, "Service")["spec"]["template"]["spec"].update(
        serviceAccountName="missing"
    ),
    "references/config-map": lambda d: find(d, "Service")["spec"]["template"]["spec"]["containers"][
        0
    ].update(envFrom=[{"secretRef": {"name": "app-secrets"}}]),
    "references/role-binding": drop("Role"),
}


def test_every_reference_rule_has_a_mutation() -> None:
    assert set(MUTATIONS) == set(REFERENCE_RULES)


def test_consistent_world_resolves() -> None:
    assert check_references(world(), EXTERNAL, NS) == []


@pytest.mark.parametrize("rule", sorted(MUTATIONS))
def test_reference_rule_catches_its_mutation(rule: str) -> None:
    docs = copy.deepcopy(world())
    MUTATIONS[rule](docs)
    violations = check_references(docs, EXTERNAL, NS)
    assert {v.rule for v in violations} == {rule}, violations


def test_dead_letter_sink_needs_the_external_list() -> None:
    assert {v.rule for v in check_references(world(), [], NS)} == {"references/dead-letter-sink"}


def test_knative_system_namespaces_count_as_installed() -> None:
    docs = copy.deepcopy(world())
    find(docs, "Broker")["spec"]["config"] = {
        **ref("ConfigMap", "config-br-default-channel", "v1"),
        "namespace": "knative-eventing",
    }
    assert check_references(docs, EXTERNAL, NS) == []


def test_optional_config_maps_may_be_absent() -> None:
    docs = copy.deepcopy(world())
    container = find(docs, "Service")["spec"]["template"]["spec"]["containers"][0]
    container["envFrom"] = [{"configMapRef": {"name": "extra", "optional": True}}]
    assert check_references(docs, EXTERNAL, NS) == []


def test_project_environments_resolve() -> None:
    external = load_external_references(
        PROJECT_ROOT / "deployments" / "knative" / "external-references.yaml"
    )
    namespaces = {o.name: overlay_namespace(o) for o in find_overlays(PROJECT_ROOT)}
    for env, docs in built_environments().items():
        assert check_references(docs, external, namespaces[env]) == [], env


def test_external_reference_file_format(tmp_path: Path) -> None:
    path = tmp_path / "external.yaml"
    path.write_text("- {apiVersion: v1, kind: Secret, name: s, namespace: team}\n")
    assert load_external_references(path) == [ExternalReference("v1", "Secret", "s", "team")]
    path.write_text("- {kind: Secret}\n")
    with pytest.raises(ValueError, match="entry 0 needs"):
        load_external_references(path)
    path.write_text("kind: Secret\n")
    with pytest.raises(ValueError, match="YAML list"):
        load_external_references(path)
    assert load_external_references(tmp_path / "absent.yaml") == []


def test_an_object_in_a_namespace_the_environment_renders_is_its_own() -> None:
    """The ServiceManager's managed namespace: rendered as a Namespace, so it belongs."""
    docs = world()
    docs.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-managed"}})
    docs.append(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "manager", "namespace": "team-managed"},
        }
    )
    assert check_references(docs, EXTERNAL, NS) == []
    docs.append(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "other"}}
    )
    assert [v.rule for v in check_references(docs, EXTERNAL, NS)] == ["references/namespace"]
