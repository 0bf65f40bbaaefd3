"""A few hand-picked answer sets that together switch every optional part on and off.

The pairwise and Hypothesis suites cover the whole answer space for the manifests; these
few are the ones whose rendered projects also get their whole toolchain run (ruff, mypy,
pytest), which is too slow to do for every combination. The render tests use the same
dictionaries, so the session's render cache serves both.
"""

from __future__ import annotations

from typing import Any

#: `copier copy --defaults`: Python 3.12, kpa, Istio, eventing, Argo CD, three environments.
DEFAULTS: dict[str, Any] = {}

#: The oldest Python, the run-time ServiceManager and several event types (none of them
#: the manager's own com.example.build.completed / com.example.service.delete).
SERVICE_MANAGER: dict[str, Any] = {
    "service_name": "build-deployer",
    "python_version": "3.11",
    "service_manager": True,
    "event_types": [
        "com.example.build.started",
        "com.example.build.failed",
        "dev.knative.sources.ping",
    ],
}

#: The newest Python and every optional deployment part off.
MINIMAL: dict[str, Any] = {
    "service_name": "plain-api",
    "python_version": "3.13",
    "port": 9000,
    "eventing": False,
    "argocd": False,
    "istio": False,
    "environments": ["dev"],
}

#: hpa autoscaling, a Kafka broker with a KafkaSource, a canary in prod.
KAFKA_HPA_CANARY: dict[str, Any] = {
    "service_name": "order-stream",
    "image": "registry.example.com/shop/order-stream",
    "autoscaling_class": "hpa",
    "broker_class": "Kafka",
    "kafka_source": True,
    "canary": True,
    "environments": ["dev", "prod"],
    "event_types": ["com.example.order.created", "com.example.order.cancelled"],
}

#: id -> answers, for parametrized tests.
TOOLCHAIN_SETS: dict[str, dict[str, Any]] = {
    "defaults": DEFAULTS,
    "py311-service-manager": SERVICE_MANAGER,
    "py313-minimal": MINIMAL,
    "kafka-hpa-canary": KAFKA_HPA_CANARY,
}


def package_of(answers: dict[str, Any]) -> str:
    """The package name copier computes from ``service_name``."""
    return str(answers.get("service_name", "hello-events")).replace("-", "_")
