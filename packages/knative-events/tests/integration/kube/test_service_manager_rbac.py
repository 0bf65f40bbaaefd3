"""The RBAC rules the package declares grant the service manager exactly the verbs it uses.

A service's Role is written from ``RBAC_RULES``; this test watches every API call of the
manager on every path and compares.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from kube_support import DEFAULTS, KnativeApiEmulator, make_build

from knative_events.service_manager import RBAC_RULES, ServiceManager, ServiceManagerSettings

VERBS = {"GET": "get", "POST": "create", "PATCH": "patch", "DELETE": "delete", "PUT": "update"}
GROUPS = {
    "services": "serving.knative.dev",
    "triggers": "eventing.knative.dev",
    "configmaps": "",
    "serviceaccounts": "",
}


def granted() -> dict[tuple[str, str], set[str]]:
    grants: dict[tuple[str, str], set[str]] = defaultdict(set)
    for rule in RBAC_RULES:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                grants[(group, resource)] |= set(rule["verbs"])
    return dict(grants)


async def test_the_role_grants_exactly_what_the_manager_uses(
    manager: ServiceManager, k8s: KnativeApiEmulator, kubeconfig: Path
) -> None:
    # Every path: create, update with a conflict, a broker change (recreate), delete.
    await manager.create_service("lambda-rbac", make_build(version=1))
    k8s.inject("PATCH", "Service", 409)
    await manager.create_service("lambda-rbac", make_build(version=2))
    async with ServiceManager.from_environment(
        DEFAULTS,
        settings=ServiceManagerSettings(broker="other", conflict_backoff_seconds=0),
        metrics=manager.metrics,
    ) as other:
        await other.create_service("lambda-rbac", make_build(version=2))
    await manager.service_exists("lambda-rbac")
    await manager.delete_service("lambda-rbac")

    used: dict[tuple[str, str], set[str]] = defaultdict(set)
    for call in k8s.api_calls():
        assert call.plural is not None
        used[(GROUPS[call.plural], call.plural)].add(VERBS[call.method])

    assert dict(used) == granted()
