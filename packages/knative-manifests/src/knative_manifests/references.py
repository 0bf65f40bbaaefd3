"""Cross-reference checks over one built environment.

A Trigger whose subscriber names a Service that is not deployed is accepted by the API
server and then fails quietly at run time. These checks resolve every reference in one
environment's kustomize output against the objects in that output, the objects listed in
``deployments/knative/external-references.yaml`` (things that exist outside this repo), and
the Knative system namespaces (what Knative installs, e.g. the default channel ConfigMap).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import yamlio
from .rules import (
    BROKER,
    KAFKA_SOURCE,
    SERVICE,
    TRIGGER,
    Violation,
    group_kind_of,
)

# Every rule name check_references can report (tests enumerate them).
REFERENCE_RULES = (
    "references/namespace",
    "references/trigger-subscriber",
    "references/kafka-source-sink",
    "references/dead-letter-sink",
    "references/trigger-broker",
    "references/broker-config",
    "references/service-account",
    "references/config-map",
    "references/role-binding",
)
SYSTEM_NAMESPACES = frozenset({"knative-serving", "knative-eventing"})
CLUSTER_SCOPED_KINDS = frozenset(
    {
        ("", "Namespace"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
    }
)


@dataclass(frozen=True)
class ExternalReference:
    """An object the manifests may reference although this repository does not render it."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = None


def load_external_references(path: Path) -> list[ExternalReference]:
    """Read external-references.yaml: a YAML list of {apiVersion, kind, name[, namespace]}."""
    if not path.is_file():
        return []
    try:
        data = yamlio.load_file(path)
    except yamlio.YamlRefusedError as error:
        raise ValueError(str(error)) from None
    except yaml.YAMLError as error:
        raise ValueError(f"{path} is not valid YAML: {error}") from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a YAML list of {{apiVersion, kind, name}}")
    result = []
    for index, item in enumerate(data):
        if not isinstance(item, Mapping) or not all(
            isinstance(item.get(key), str) and item.get(key)
            for key in ("apiVersion", "kind", "name")
        ):
            raise ValueError(f"{path}: entry {index} needs string apiVersion, kind and name")
        namespace = item.get("namespace")
        result.append(
            ExternalReference(
                item["apiVersion"],
                item["kind"],
                item["name"],
                namespace if isinstance(namespace, str) else None,
            )
        )
    return result


def _group(api_version: Any) -> str:
    return api_version.rpartition("/")[0] if isinstance(api_version, str) else ""


def _meta(doc: Mapping[str, Any], key: str) -> str | None:
    value = (
        (doc.get("metadata") or {}).get(key) if isinstance(doc.get("metadata"), Mapping) else None
    )
    return value if isinstance(value, str) else None


class Resolver:
    """Answers "does this object exist in the environment?" for one environment."""

    def __init__(
        self,
        documents: Sequence[Mapping[str, Any]],
        external: Sequence[ExternalReference],
        namespace: str | None,
    ) -> None:
        self.namespace = namespace
        self.objects: set[tuple[str, str, str | None, str]] = set()
        for doc in documents:
            group, kind = group_kind_of(doc)
            self.objects.add((group, kind, _meta(doc, "namespace"), _meta(doc, "name") or ""))
        self.external = {
            (_group(ref.api_version), ref.kind, ref.namespace, ref.name) for ref in external
        }
        self.external_any_ns = {(g, k, n) for g, k, _ns, n in self.external}

    def exists(self, group: str, kind: str, name: str, namespace: str | None) -> bool:
        namespace = namespace or self.namespace
        if namespace in SYSTEM_NAMESPACES and namespace != self.namespace:
            return True
        if (group, kind, namespace, name) in self.objects:
            return True
        if (group, kind, namespace, name) in self.external:
            return True
        return (group, kind, None, name) in self.external or (
            namespace == self.namespace and (group, kind, name) in self.external_any_ns
        )


def _missing(rule: str, doc: Mapping[str, Any], path: str, what: str) -> Violation:
    return Violation(
        rule,
        f"{what} does not exist in this environment nor in external-references.yaml",
        group_kind_of(doc)[1],
        _meta(doc, "name") or "",
        path,
    )


def _ref_target(ref: Any, default_ns: str | None) -> tuple[str, str, str, str | None] | None:
    if not isinstance(ref, Mapping):
        return None
    name, kind = ref.get("name"), ref.get("kind")
    if not isinstance(name, str) or not isinstance(kind, str):
        return None
    namespace = ref.get("namespace")
    return (
        _group(ref.get("apiVersion")),
        kind,
        name,
        (namespace if isinstance(namespace, str) else default_ns),
    )


def _destination_refs(doc: Mapping[str, Any]) -> Iterator[tuple[str, str, Any]]:
    spec = doc.get("spec") if isinstance(doc.get("spec"), Mapping) else {}
    assert isinstance(spec, Mapping)  # noqa: S101 - narrowed above
    group_kind = group_kind_of(doc)
    if group_kind == TRIGGER:
        yield (
            "references/trigger-subscriber",
            "spec.subscriber.ref",
            (spec.get("subscriber") or {}).get("ref")
            if isinstance(spec.get("subscriber"), Mapping)
            else None,
        )
    if group_kind == KAFKA_SOURCE:
        sink = spec.get("sink")
        yield (
            "references/kafka-source-sink",
            "spec.sink.ref",
            (sink.get("ref") if isinstance(sink, Mapping) else None),
        )
    delivery = spec.get("delivery")
    if isinstance(delivery, Mapping) and isinstance(delivery.get("deadLetterSink"), Mapping):
        yield (
            "references/dead-letter-sink",
            "spec.delivery.deadLetterSink.ref",
            delivery["deadLetterSink"].get("ref"),
        )


def _pod_config_refs(doc: Mapping[str, Any]) -> Iterator[tuple[str, str, str, str]]:
    """(rule, path, kind, name) of ConfigMaps/Secrets a Service's containers read."""
    pod = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
    for c_index, container in enumerate(pod.get("containers") or []):
        base = f"spec.template.spec.containers[{c_index}]"
        for e_index, source in enumerate(container.get("envFrom") or []):
            for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                ref = source.get(key)
                if isinstance(ref, Mapping) and not ref.get("optional"):
                    yield (
                        "references/config-map",
                        f"{base}.envFrom[{e_index}]",
                        kind,
                        ref.get("name", ""),
                    )
        for e_index, env in enumerate(container.get("env") or []):
            value_from = env.get("valueFrom") or {}
            for key, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                ref = value_from.get(key)
                if isinstance(ref, Mapping) and not ref.get("optional"):
                    yield (
                        "references/config-map",
                        f"{base}.env[{e_index}]",
                        kind,
                        ref.get("name", ""),
                    )


def check_references(  # noqa: PLR0912 - one branch per reference kind
    documents: Sequence[Mapping[str, Any]],
    external: Sequence[ExternalReference] = (),
    namespace: str | None = None,
) -> list[Violation]:
    """Every unresolved reference in one environment, and objects outside its namespace.

    An object may also live in a namespace the environment itself renders (a Namespace
    document, such as the ServiceManager's managed namespace): the environment owns it.
    """
    docs = [d for d in documents if isinstance(d, Mapping)]
    resolver = Resolver(docs, external, namespace)
    own = {namespace} | {_meta(d, "name") for d in docs if group_kind_of(d) == ("", "Namespace")}
    violations: list[Violation] = []
    for doc in docs:
        group_kind = group_kind_of(doc)
        doc_ns = _meta(doc, "namespace") or namespace
        if (
            namespace is not None
            and group_kind not in CLUSTER_SCOPED_KINDS
            and _meta(doc, "namespace") not in own
        ):
            violations.append(
                Violation(
                    "references/namespace",
                    f"namespace {_meta(doc, 'namespace')!r} is not the environment's {namespace!r}",
                    group_kind[1],
                    _meta(doc, "name") or "",
                    "metadata.namespace",
                )
            )
        for rule, path, ref in _destination_refs(doc):
            target = _ref_target(ref, doc_ns)
            if target and not resolver.exists(*target):
                violations.append(_missing(rule, doc, path, f"{target[1]} {target[2]!r}"))
        if group_kind == TRIGGER:
            broker = (doc.get("spec") or {}).get("broker")
            if isinstance(broker, str) and not resolver.exists(*BROKER, broker, doc_ns):
                violations.append(
                    _missing("references/trigger-broker", doc, "spec.broker", f"Broker {broker!r}")
                )
        if group_kind == BROKER:
            target = _ref_target((doc.get("spec") or {}).get("config"), doc_ns)
            if target and not resolver.exists(*target):
                violations.append(
                    _missing(
                        "references/broker-config", doc, "spec.config", f"{target[1]} {target[2]!r}"
                    )
                )
        if group_kind == SERVICE:
            pod = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
            account = pod.get("serviceAccountName")
            if isinstance(account, str) and not resolver.exists(
                "", "ServiceAccount", account, doc_ns
            ):
                violations.append(
                    _missing(
                        "references/service-account",
                        doc,
                        "spec.template.spec.serviceAccountName",
                        f"ServiceAccount {account!r}",
                    )
                )
            for rule, path, kind, name in _pod_config_refs(doc):
                if not resolver.exists("", kind, name, doc_ns):
                    violations.append(_missing(rule, doc, path, f"{kind} {name!r}"))
        if group_kind == ("rbac.authorization.k8s.io", "RoleBinding"):
            violations.extend(_role_binding(doc, resolver, doc_ns))
    return violations


def _role_binding(
    doc: Mapping[str, Any], resolver: Resolver, namespace: str | None
) -> Iterator[Violation]:
    role = doc.get("roleRef") if isinstance(doc.get("roleRef"), Mapping) else {}
    assert isinstance(role, Mapping)  # noqa: S101 - narrowed above
    kind, name = role.get("kind"), role.get("name")
    if isinstance(kind, str) and isinstance(name, str):
        ns = namespace if kind == "Role" else None
        if not resolver.exists("rbac.authorization.k8s.io", kind, name, ns):
            yield _missing("references/role-binding", doc, "roleRef", f"{kind} {name!r}")
    for index, subject in enumerate(doc.get("subjects") or []):
        if isinstance(subject, Mapping) and subject.get("kind") == "ServiceAccount":
            sa_ns = subject.get("namespace") or namespace
            if not resolver.exists("", "ServiceAccount", str(subject.get("name")), sa_ns):
                yield _missing(
                    "references/role-binding",
                    doc,
                    f"subjects[{index}]",
                    f"ServiceAccount {subject.get('name')!r}",
                )
