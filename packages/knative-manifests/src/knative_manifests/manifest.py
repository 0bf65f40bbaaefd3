"""Turn configuration models into Kubernetes manifests and back.

The base ``deployments/knative/base/service.yaml`` and ``service_to_manifest`` describe the
same Service; a test reads the YAML back through ``manifest_to_service`` and writes it out
again, so the two cannot drift. Reading is strict: a field this module cannot represent is
an error, never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from . import constants as c
from . import yamlio
from .config import (
    DeliveryConfig,
    KnativeServiceConfig,
    ProbeConfig,
    SecurityConfig,
    TrafficConfig,
    TrafficTarget,
    TriggerConfig,
)
from .errors import KnativeManifestError

Manifest = dict[str, Any]

_PROBE_FIELDS = (
    ("initial_delay_seconds", "initialDelaySeconds"),
    ("period_seconds", "periodSeconds"),
    ("timeout_seconds", "timeoutSeconds"),
    ("success_threshold", "successThreshold"),
    ("failure_threshold", "failureThreshold"),
)


# Long annotation values stay on one line, as people write them.
_NEVER_WRAP = 1 << 16


class _Dumper(yaml.SafeDumper):
    """Block YAML in the style of the hand-written manifests: indented lists, and strings
    double-quoted when they would read as another type or start with a digit (quantities,
    durations, numeric annotation values), so ``"30s"`` looks the same in both."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


_ESCAPE_ONLY = frozenset("\x85\u2028\u2029")
_GO_YAML_BOOLEANS = frozenset({"y", "n"})


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    implicit = dumper.resolve(yaml.ScalarNode, value, (True, False))  # type: ignore[no-untyped-call]
    quoted = (
        implicit != "tag:yaml.org,2002:str"
        or value == ""
        or value[:1].isdigit()
        # YAML 1.1 booleans PyYAML leaves alone but kustomize's Go parser does not.
        or value.lower() in _GO_YAML_BOOLEANS
        # Line-break characters other than \n are mangled in plain and single-quoted style.
        or any(ch in _ESCAPE_ONLY for ch in value)
    )
    style = '"' if quoted else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)


def dump_yaml(document: Mapping[str, Any]) -> str:
    """One manifest as block YAML, keys in the order they were built."""
    return yaml.dump(
        dict(document),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        width=_NEVER_WRAP,
        allow_unicode=True,
    )


# --------------------------------------------------------------------------------------------
# Knative Service
# --------------------------------------------------------------------------------------------


def _metadata(
    name: str | None,
    namespace: str | None,
    labels: Mapping[str, str],
    annotations: Mapping[str, str],
) -> Manifest:
    meta: Manifest = {}
    if name is not None:
        meta["name"] = name
    if namespace is not None:
        meta["namespace"] = namespace
    if labels:
        meta["labels"] = dict(labels)
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def _probe(probe: ProbeConfig) -> Manifest:
    result: Manifest = {"httpGet": {"path": probe.path}}
    for attr, key in _PROBE_FIELDS:
        value = getattr(probe, attr)
        if value is not None:
            result[key] = value
    return result


def _security(security: SecurityConfig) -> Manifest:
    result: Manifest = {"runAsNonRoot": security.run_as_non_root}
    if security.run_as_user is not None:
        result["runAsUser"] = security.run_as_user
    result["allowPrivilegeEscalation"] = security.allow_privilege_escalation
    result["readOnlyRootFilesystem"] = security.read_only_root_filesystem
    if security.drop_capabilities:
        result["capabilities"] = {"drop": list(security.drop_capabilities)}
    if security.seccomp_profile is not None:
        result["seccompProfile"] = {"type": security.seccomp_profile}
    return result


def traffic_to_manifest(traffic: TrafficConfig) -> list[Manifest]:
    """The ``spec.traffic`` list of a split (a pinned target omits ``latestRevision``)."""
    entries: list[Manifest] = []
    for target in traffic.targets:
        entry: Manifest = {}
        if target.tag is not None:
            entry["tag"] = target.tag
        if target.latest_revision:
            entry["latestRevision"] = True
        else:
            entry["revisionName"] = target.revision_name
        entry["percent"] = target.percent
        entries.append(entry)
    return entries


def service_to_manifest(config: KnativeServiceConfig) -> Manifest:
    """The Knative Service (serving.knative.dev/v1) a configuration describes."""
    template_labels: dict[str, str] = {}
    if config.istio_sidecar:
        template_labels[c.ISTIO_INJECT_KEY] = "true"
    template_labels.update(config.template_labels)
    template_annotations = {**config.autoscaling_annotations, **config.template_annotations}

    port: Manifest = {}
    if config.port_name:
        port["name"] = config.port_name
    port["containerPort"] = config.port
    port["protocol"] = "TCP"
    container: Manifest = {
        "name": config.container_name,
        "image": config.image,
        "ports": [port],
    }
    if config.env:
        container["env"] = [{"name": k, "value": v} for k, v in config.env.items()]
    if config.config_map_name is not None:
        container["envFrom"] = [{"configMapRef": {"name": config.config_map_name}}]
    container["resources"] = {
        "requests": {"cpu": config.cpu_request, "memory": config.memory_request},
        "limits": {"cpu": config.cpu_limit, "memory": config.memory_limit},
    }
    if config.readiness_probe is not None:
        container["readinessProbe"] = _probe(config.readiness_probe)
    if config.liveness_probe is not None:
        container["livenessProbe"] = _probe(config.liveness_probe)
    container["securityContext"] = _security(config.security)
    if config.scratch_volumes:
        container["volumeMounts"] = [
            {"name": name, "mountPath": path} for name, path in config.scratch_volumes.items()
        ]

    pod: Manifest = {}
    if config.service_account_name is not None:
        pod["serviceAccountName"] = config.service_account_name
    if config.automount_service_account_token is not None:
        pod["automountServiceAccountToken"] = config.automount_service_account_token
    pod["containerConcurrency"] = config.container_concurrency
    pod["timeoutSeconds"] = config.timeout_seconds
    pod["containers"] = [container]
    if config.scratch_volumes:
        pod["volumes"] = [{"name": name, "emptyDir": {}} for name in config.scratch_volumes]

    spec: Manifest = {
        "template": {
            "metadata": _metadata(
                config.revision_name, None, template_labels, template_annotations
            ),
            "spec": pod,
        }
    }
    if config.traffic is not None:
        spec["traffic"] = traffic_to_manifest(config.traffic)
    return {
        "apiVersion": c.SERVING_API_VERSION,
        "kind": "Service",
        "metadata": _metadata(config.name, config.namespace, config.labels, config.annotations),
        "spec": spec,
    }


def serialize_knative_service(config: KnativeServiceConfig) -> str:
    """The Service as YAML (the design's ``serialize_knative_service``)."""
    return dump_yaml(service_to_manifest(config))


class _Reader:
    """Takes fields out of a manifest and reports whatever is left over as unrepresented."""

    def __init__(self, document: Mapping[str, Any], path: str) -> None:
        if not isinstance(document, Mapping):
            raise KnativeManifestError(
                f"{path or '<root>'} must be a mapping", rule="manifest/shape"
            )
        self.rest = dict(document)
        self.path = path

    def _where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def take(self, key: str, kind: type | tuple[type, ...], *, required: bool = False) -> Any:
        if key not in self.rest:
            if required:
                raise KnativeManifestError(
                    f"{self._where(key)} is required", rule="manifest/required-field"
                )
            return None
        value = self.rest.pop(key)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
            raise KnativeManifestError(
                f"{self._where(key)} has the wrong type ({type(value).__name__})",
                rule="manifest/field-type",
            )
        return value

    def child(self, key: str, *, required: bool = False) -> _Reader | None:
        value = self.take(key, dict, required=required)
        return None if value is None else _Reader(value, self._where(key))

    def done(self) -> None:
        if self.rest:
            fields = ", ".join(self._where(k) for k in self.rest)
            raise KnativeManifestError(
                f"fields not represented by the configuration model: {fields}",
                rule="manifest/unrepresented-field",
            )


def _string_map(value: Any, path: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise KnativeManifestError(
            f"{path} values must be strings", rule="k8s/annotation-values-strings"
        )
    return dict(value)


def _read_probe(reader: _Reader | None) -> ProbeConfig | None:
    if reader is None:
        return None
    http = reader.child("httpGet", required=True)
    assert http is not None  # noqa: S101 - required=True returned a reader
    path = http.take("path", str, required=True)
    http.done()
    values = {attr: reader.take(key, int) for attr, key in _PROBE_FIELDS}
    reader.done()
    return ProbeConfig(path=path, **values)


def _read_security(reader: _Reader | None) -> SecurityConfig:
    if reader is None:
        raise KnativeManifestError(
            "containers[0].securityContext is required", rule="security/run-as-non-root"
        )
    caps = reader.child("capabilities")
    drop: tuple[str, ...] = ()
    if caps is not None:
        drop = tuple(caps.take("drop", list) or ())
        caps.done()
    seccomp = reader.child("seccompProfile")
    profile = None
    if seccomp is not None:
        profile = seccomp.take("type", str, required=True)
        seccomp.done()
    result = SecurityConfig(
        run_as_non_root=bool(reader.take("runAsNonRoot", bool)),
        run_as_user=reader.take("runAsUser", int),
        allow_privilege_escalation=reader.take("allowPrivilegeEscalation", bool) is not False,
        read_only_root_filesystem=bool(reader.take("readOnlyRootFilesystem", bool)),
        drop_capabilities=drop,
        seccomp_profile=profile,
    )
    reader.done()
    return result


def traffic_from_manifest(entries: list[Any]) -> TrafficConfig:
    """A ``spec.traffic`` list as a TrafficConfig (after Knative's latestRevision default)."""
    targets = []
    for index, entry in enumerate(entries):
        reader = _Reader(entry, f"spec.traffic[{index}]")
        revision = reader.take("revisionName", str)
        latest = reader.take("latestRevision", bool)
        percent = reader.take("percent", int)
        tag = reader.take("tag", str)
        reader.done()
        targets.append(
            TrafficTarget(
                revision_name=revision,
                percent=percent or 0,
                tag=tag,
                latest_revision=(not revision) if latest is None else latest,
            )
        )
    return TrafficConfig(targets=tuple(targets))


# One straight walk over the manifest reads better than many helpers passing readers around.
def manifest_to_service(  # noqa: PLR0912, PLR0915
    document: Mapping[str, Any],
) -> KnativeServiceConfig:
    """Read a Knative Service manifest back into a KnativeServiceConfig (strictly)."""
    root = _Reader(document, "")
    api_version = root.take("apiVersion", str, required=True)
    kind = root.take("kind", str, required=True)
    if (api_version, kind) != (c.SERVING_API_VERSION, "Service"):
        raise KnativeManifestError(
            f"expected {c.SERVING_API_VERSION} Service, got {api_version} {kind}",
            rule="manifest/kind",
        )
    meta = root.child("metadata", required=True)
    spec = root.child("spec", required=True)
    assert meta is not None  # noqa: S101 - required=True
    assert spec is not None  # noqa: S101 - required=True
    name = meta.take("name", str, required=True)
    namespace = meta.take("namespace", str)
    labels = _string_map(meta.take("labels", dict), "metadata.labels")
    annotations = _string_map(meta.take("annotations", dict), "metadata.annotations")
    meta.done()

    template = spec.child("template", required=True)
    traffic_list = spec.take("traffic", list)
    spec.done()
    assert template is not None  # noqa: S101 - required=True
    tmeta = template.child("metadata") or _Reader({}, "spec.template.metadata")
    pod = template.child("spec", required=True)
    template.done()
    assert pod is not None  # noqa: S101 - required=True
    revision_name = tmeta.take("name", str)
    template_labels = _string_map(tmeta.take("labels", dict), "spec.template.metadata.labels")
    template_annotations = _string_map(
        tmeta.take("annotations", dict), "spec.template.metadata.annotations"
    )
    tmeta.done()
    istio = template_labels.get(c.ISTIO_INJECT_KEY) == "true"
    if istio:
        del template_labels[c.ISTIO_INJECT_KEY]

    scaling: dict[str, str] = {}
    for key in (
        c.ANNOTATION_CLASS,
        c.ANNOTATION_METRIC,
        c.ANNOTATION_MIN_SCALE,
        c.ANNOTATION_MAX_SCALE,
    ):
        if key not in template_annotations:
            raise KnativeManifestError(
                f"spec.template.metadata.annotations needs {key}",
                rule="manifest/required-field",
            )
        scaling[key] = template_annotations.pop(key)
    target_text = template_annotations.pop(c.ANNOTATION_TARGET, None)
    try:
        target = None if target_text is None else float(target_text)
        min_scale = int(scaling[c.ANNOTATION_MIN_SCALE])
        max_scale = int(scaling[c.ANNOTATION_MAX_SCALE])
    except ValueError as error:
        raise KnativeManifestError(
            f"autoscaling annotation is not a number: {error}", rule="autoscaling/target-minimum"
        ) from None
    scale_down_delay = template_annotations.pop(c.ANNOTATION_SCALE_DOWN_DELAY, None)

    service_account = pod.take("serviceAccountName", str)
    automount = pod.take("automountServiceAccountToken", bool)
    concurrency = pod.take("containerConcurrency", int)
    timeout = pod.take("timeoutSeconds", int)
    containers = pod.take("containers", list, required=True)
    volumes = pod.take("volumes", list) or []
    pod.done()
    if len(containers) != 1:
        raise KnativeManifestError(
            "the configuration model describes exactly one container",
            rule="manifest/unrepresented-field",
        )
    container = _Reader(containers[0], "spec.template.spec.containers[0]")
    container_name = container.take("name", str, required=True)
    image = container.take("image", str, required=True)
    ports = container.take("ports", list) or [{}]
    if len(ports) != 1:
        raise KnativeManifestError("exactly one container port", rule="serving/single-port")
    port_reader = _Reader(ports[0], "spec.template.spec.containers[0].ports[0]")
    port_name = port_reader.take("name", str) or ""
    port = port_reader.take("containerPort", int) or c.KNATIVE_DEFAULT_CONTAINER_PORT
    protocol = port_reader.take("protocol", str) or "TCP"
    port_reader.done()
    if protocol != "TCP":
        raise KnativeManifestError("port protocol must be TCP", rule="serving/port-protocol")

    env: dict[str, str] = {}
    for entry in container.take("env", list) or []:
        env_reader = _Reader(entry, "env[]")
        env[env_reader.take("name", str, required=True)] = env_reader.take("value", str) or ""
        env_reader.done()
    config_map = None
    env_from = container.take("envFrom", list) or []
    if len(env_from) > 1:
        raise KnativeManifestError("at most one envFrom", rule="manifest/unrepresented-field")
    for entry in env_from:
        source = _Reader(entry, "envFrom[0]")
        ref = source.child("configMapRef", required=True)
        assert ref is not None  # noqa: S101 - required=True
        config_map = ref.take("name", str, required=True)
        ref.done()
        source.done()

    resources = container.child("resources", required=True)
    assert resources is not None  # noqa: S101 - required=True
    requests = resources.child("requests", required=True)
    limits = resources.child("limits", required=True)
    resources.done()
    assert requests is not None  # noqa: S101 - required=True
    assert limits is not None  # noqa: S101 - required=True
    quantities = {
        "cpu_request": requests.take("cpu", (str, int, float), required=True),
        "memory_request": requests.take("memory", (str, int), required=True),
        "cpu_limit": limits.take("cpu", (str, int, float), required=True),
        "memory_limit": limits.take("memory", (str, int), required=True),
    }
    requests.done()
    limits.done()
    readiness = _read_probe(container.child("readinessProbe"))
    liveness = _read_probe(container.child("livenessProbe"))
    security = _read_security(container.child("securityContext"))
    mounts = container.take("volumeMounts", list) or []
    container.done()

    scratch: dict[str, str] = {}
    empty_dirs = []
    for volume in volumes:
        reader = _Reader(volume, "volumes[]")
        vname = reader.take("name", str, required=True)
        if reader.take("emptyDir", dict) != {}:
            raise KnativeManifestError(
                f"volume {vname!r}: only emptyDir scratch volumes are modelled",
                rule="manifest/unrepresented-field",
            )
        reader.done()
        empty_dirs.append(vname)
    for mount in mounts:
        reader = _Reader(mount, "volumeMounts[]")
        scratch[reader.take("name", str, required=True)] = reader.take(
            "mountPath", str, required=True
        )
        reader.done()
    if sorted(scratch) != sorted(empty_dirs):
        raise KnativeManifestError(
            "every volume must be mounted exactly once", rule="serving/volume-mounted"
        )

    return KnativeServiceConfig(
        name=name,
        namespace=namespace,
        image=image,
        port=port,
        port_name=port_name,
        container_name=container_name,
        autoscaling_class=scaling[c.ANNOTATION_CLASS],
        autoscaling_metric=scaling[c.ANNOTATION_METRIC],
        autoscaling_target=target,
        min_scale=min_scale,
        max_scale=max_scale,
        scale_down_delay=scale_down_delay,
        cpu_request=str(quantities["cpu_request"]),
        cpu_limit=str(quantities["cpu_limit"]),
        memory_request=str(quantities["memory_request"]),
        memory_limit=str(quantities["memory_limit"]),
        container_concurrency=c.KNATIVE_DEFAULT_CONTAINER_CONCURRENCY
        if concurrency is None
        else concurrency,
        timeout_seconds=c.KNATIVE_DEFAULT_TIMEOUT_SECONDS if timeout is None else timeout,
        istio_sidecar=istio,
        labels=labels,
        annotations=annotations,
        template_labels=template_labels,
        template_annotations=template_annotations,
        revision_name=revision_name,
        service_account_name=service_account,
        automount_service_account_token=automount,
        config_map_name=config_map,
        env=env,
        readiness_probe=readiness,
        liveness_probe=liveness,
        security=security,
        scratch_volumes=scratch,
        traffic=None if traffic_list is None else traffic_from_manifest(traffic_list),
    )


def deserialize_knative_service(text: str) -> KnativeServiceConfig:
    """Parse YAML written by ``serialize_knative_service`` (or the base file) into a config."""
    try:
        document = yamlio.loads(text, "the Knative Service YAML")
    except yamlio.YamlRefusedError as error:
        raise KnativeManifestError(str(error), rule="manifest/yaml") from None
    except yaml.YAMLError as error:
        raise KnativeManifestError(f"not valid YAML: {error}", rule="manifest/yaml") from None
    if not isinstance(document, dict):
        raise KnativeManifestError("the YAML is not one mapping", rule="manifest/shape")
    return manifest_to_service(document)


# --------------------------------------------------------------------------------------------
# Run-time resources: Trigger, ServiceAccount, ConfigMap
# --------------------------------------------------------------------------------------------


def destination(target: str, namespace: str | None = None) -> Manifest:
    """A duck/v1 Destination: a Knative Service name becomes a ref, a URL stays a uri."""
    if target.startswith(("http://", "https://")):
        return {"uri": target}
    ref: Manifest = {"apiVersion": c.SERVING_API_VERSION, "kind": "Service", "name": target}
    if namespace is not None:
        ref["namespace"] = namespace
    return {"ref": ref}


def delivery_to_manifest(delivery: DeliveryConfig) -> Manifest:
    """The Trigger's ``spec.delivery`` (ISO-8601 durations, as Eventing requires).

    Only the fields the configuration sets are written; the broker's settings fill the rest.
    """
    result: Manifest = {}
    if delivery.dead_letter_sink is not None:
        result["deadLetterSink"] = destination(delivery.dead_letter_sink)
    if delivery.retry is not None:
        result["retry"] = delivery.retry
    if delivery.backoff_policy is not None:
        result["backoffPolicy"] = delivery.backoff_policy
    if delivery.backoff_delay is not None:
        result["backoffDelay"] = delivery.backoff_delay
    if delivery.timeout is not None:
        result["timeout"] = delivery.timeout
    return result


def trigger_manifest(trigger: TriggerConfig) -> Manifest:
    """A Trigger (eventing.knative.dev/v1) from the broker to the subscriber Service."""
    spec: Manifest = {"broker": trigger.broker}
    if trigger.filters:
        spec["filter"] = {"attributes": dict(trigger.filters)}
    spec["subscriber"] = destination(trigger.subscriber)
    if trigger.delivery is not None:
        spec["delivery"] = delivery_to_manifest(trigger.delivery)
    return {
        "apiVersion": c.EVENTING_API_VERSION,
        "kind": "Trigger",
        "metadata": _metadata(trigger.name, trigger.namespace, trigger.labels, trigger.annotations),
        "spec": spec,
    }


def service_account_manifest(
    name: str,
    namespace: str | None = None,
    *,
    labels: Mapping[str, str] | None = None,
    automount_token: bool = False,
) -> Manifest:
    """A ServiceAccount; the token is not mounted unless the pod calls the Kubernetes API."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _metadata(name, namespace, labels or {}, {}),
        "automountServiceAccountToken": automount_token,
    }


def config_map_manifest(
    name: str,
    data: Mapping[str, str],
    namespace: str | None = None,
    *,
    labels: Mapping[str, str] | None = None,
) -> Manifest:
    """A ConfigMap of string values (anything else is refused, as the API server does)."""
    bad = [key for key, value in data.items() if not isinstance(value, str)]
    if bad:
        raise KnativeManifestError(
            f"ConfigMap data values must be strings: {', '.join(bad)}", rule="k8s/configmap-data"
        )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(name, namespace, labels or {}, {}),
        "data": dict(data),
    }
