"""The documents the Knative checks are tested on: the fixture service's, plus samples.

The tests check a "world": every document the fixture service (tests/data/service) builds
for one environment and its Argo CD files, plus small valid samples of each kind the rules
know, placed after the service's documents. A rule's mutation test breaks the first
document of its kind, which is the service's own whenever the service has one.

This module imports nothing from the other test modules: the template repository's own
tests import it (with only this directory on sys.path) to reuse the world.
"""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from knative_manifests.validate import find_overlays, kustomize_build

PROJECT_ROOT = Path(__file__).resolve().parents[1] / "data" / "service"
ARGOCD_DIR = PROJECT_ROOT / "deployments" / "argocd"

Doc = dict[str, Any]


@cache
def _built() -> dict[str, tuple[Doc, ...]]:
    return {
        overlay.name: tuple(kustomize_build(overlay)) for overlay in find_overlays(PROJECT_ROOT)
    }


def built_environments() -> dict[str, list[Doc]]:
    """Each environment's kustomize output (built once per test session, copied per call)."""
    return {env: copy.deepcopy(list(docs)) for env, docs in _built().items()}


def argocd_documents() -> list[Doc]:
    """The service's Argo CD files."""
    docs: list[Doc] = []
    for path in sorted(ARGOCD_DIR.glob("*.yaml")):
        docs.extend(d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d)
    return docs


def _meta(name: str, **extra: Any) -> Doc:
    return {"name": name, "namespace": "sample", **extra}


def sample_documents() -> list[Doc]:
    """One valid document per kind the rules check, consistent with each other."""
    subscriber = {"ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": "x"}}
    delivery = {"retry": 3, "backoffPolicy": "linear", "backoffDelay": "PT0.5S"}
    return [
        {
            "apiVersion": "eventing.knative.dev/v1",
            "kind": "Broker",
            "metadata": _meta(
                "sample-broker",
                annotations={"eventing.knative.dev/broker.class": "MTChannelBasedBroker"},
            ),
            "spec": {"delivery": dict(delivery)},
        },
        {
            "apiVersion": "eventing.knative.dev/v1",
            "kind": "Trigger",
            "metadata": _meta("sample-trigger"),
            "spec": {
                "broker": "sample-broker",
                "filter": {"attributes": {"type": "com.example.sample"}},
                "subscriber": copy.deepcopy(subscriber),
                "delivery": dict(delivery),
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": _meta("kafka-sample-config"),
            "data": {
                "bootstrap.servers": "kafka:9092",
                "default.topic.partitions": "3",
                "default.topic.replication.factor": "1",
            },
        },
        {
            "apiVersion": "eventing.knative.dev/v1",
            "kind": "Broker",
            "metadata": _meta(
                "kafka-sample", annotations={"eventing.knative.dev/broker.class": "Kafka"}
            ),
            "spec": {
                "config": {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "name": "kafka-sample-config",
                    "namespace": "sample",
                }
            },
        },
        {
            "apiVersion": "eventing.knative.dev/v1",
            "kind": "Broker",
            "metadata": _meta(
                "rabbit-sample",
                annotations={"eventing.knative.dev/broker.class": "RabbitMQBroker"},
            ),
            "spec": {
                "config": {
                    "apiVersion": "rabbitmq.com/v1beta1",
                    "kind": "RabbitmqCluster",
                    "name": "rabbitmq",
                    "namespace": "sample",
                }
            },
        },
        {
            "apiVersion": "eventing.knative.dev/v1",
            "kind": "Trigger",
            "metadata": _meta(
                "rabbit-trigger",
                annotations={
                    "rabbitmq.eventing.knative.dev/parallelism": "10",
                    "rabbitmq.eventing.knative.dev/cpu-request": "100m",
                    "rabbitmq.eventing.knative.dev/cpu-limit": "200m",
                },
            ),
            "spec": {"broker": "rabbit-sample", "subscriber": copy.deepcopy(subscriber)},
        },
        {
            "apiVersion": "sources.knative.dev/v1beta1",
            "kind": "KafkaSource",
            "metadata": _meta("sample-source"),
            "spec": {
                "bootstrapServers": ["kafka:9092"],
                "topics": ["events"],
                "consumerGroup": "sample-group",
                "initialOffset": "earliest",
                "sink": {
                    "ref": {
                        "apiVersion": "eventing.knative.dev/v1",
                        "kind": "Broker",
                        "name": "sample-broker",
                    }
                },
            },
        },
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "PeerAuthentication",
            "metadata": _meta("sample-mtls"),
            "spec": {"mtls": {"mode": "STRICT"}},
        },
        {
            "apiVersion": "security.istio.io/v1",
            "kind": "AuthorizationPolicy",
            "metadata": _meta("sample-allow"),
            "spec": {
                "selector": {"matchLabels": {"app": "x"}},
                "action": "ALLOW",
                "rules": [{"from": [{"source": {"namespaces": ["knative-serving"]}}]}],
            },
        },
        {
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": _meta("sample-dr"),
            "spec": {
                "host": "x.sample.svc.cluster.local",
                "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}},
            },
        },
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "AppProject",
            "metadata": {"name": "sample-project", "namespace": "argocd"},
            "spec": {
                "sourceRepos": ["https://example.com/sample.git"],
                "destinations": [{"server": "https://kubernetes.default.svc", "namespace": "*"}],
            },
        },
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "ApplicationSet",
            "metadata": {"name": "sample-apps", "namespace": "argocd"},
            "spec": {
                "goTemplate": True,
                "goTemplateOptions": ["missingkey=error"],
                "generators": [{"list": {"elements": [{"env": "a"}, {"env": "b"}]}}],
                "template": {
                    "metadata": {"name": "sample-" + "{" + "{.env}" + "}"},
                    "spec": {
                        "project": "sample-project",
                        "source": {
                            "repoURL": "https://example.com/sample.git",
                            "path": "overlays/" + "{" + "{.env}" + "}",
                        },
                        "destination": {
                            "server": "https://kubernetes.default.svc",
                            "namespace": "sample-" + "{" + "{.env}" + "}",
                        },
                    },
                },
            },
        },
    ]


def first_environment() -> str:
    """The environment whose output the world uses (prod: the richest, with a canary)."""
    envs = list(_built())
    return "prod" if "prod" in envs else envs[0]


def clean_world() -> list[Doc]:
    """The project's documents (one environment + Argo CD) followed by the samples."""
    return [
        *built_environments()[first_environment()],
        *argocd_documents(),
        *sample_documents(),
    ]


def first(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    """The first document of ``kind`` (and ``name``) in ``docs``."""
    for doc in docs:
        if doc.get("kind") == kind and (name is None or doc["metadata"]["name"] == name):
            return doc
    raise LookupError(f"no {kind} {name or ''} in the world")
