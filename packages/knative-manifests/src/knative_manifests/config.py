"""Typed configuration of the Knative resources this service owns.

The models are plain frozen dataclasses: cheap to build in Hypothesis properties, comparable
with ``==`` for round-trip checks, and hashable. Each model checks itself when it is built,
so an object that exists is one a cluster would accept; the only exception is
``TrafficConfig``, whose sum is checked by ``validate()``/``check()`` because a split is
built up target by target. The bounds themselves live in ``limits.py``, shared with the
admission rules, so a model and a rule cannot disagree about a limit.

A field either defaults to what Knative does when it is absent (``KNATIVE_DEFAULT_*``:
max-scale 0 = unbounded, containerConcurrency 0, timeoutSeconds 300...) or has no default
at all (resources, the Istio sidecar): a service states those itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from . import constants as c
from . import limits
from .errors import InvalidAutoscalingConfigError, InvalidTrafficConfigError, KnativeManifestError
from .formats import (
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    parse_iso8601_duration,
)

_IMAGE = re.compile(
    r"[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+"
    r"(:[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})?"
)
_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_ATTRIBUTE_KEY = re.compile(c.TRIGGER_ATTRIBUTE_KEY_PATTERN)
_HTTP_URI = re.compile(r"https?://[^/\s]+(/\S*)?")


def _frozen_map(value: Any) -> MappingProxyType[str, str]:
    return MappingProxyType(dict(value or {}))


def _class_value(value: str) -> str:
    """Accept the short class name of the template's answers (kpa/hpa) or the full value."""
    return c.AUTOSCALING_CLASSES.get(value, value)


def class_short_name(class_value: str) -> str:
    """``kpa.autoscaling.knative.dev`` -> ``kpa``; unknown values are returned unchanged."""
    for short, full in c.AUTOSCALING_CLASSES.items():
        if class_value in (short, full):
            return short
    return class_value


@dataclass(frozen=True)
class ProbeConfig:
    """An HTTP GET probe on the serving port (Knative fills in the port itself)."""

    path: str
    initial_delay_seconds: int | None = None
    period_seconds: int | None = None
    timeout_seconds: int | None = None
    success_threshold: int | None = None
    failure_threshold: int | None = None

    def __post_init__(self) -> None:
        if not self.path.startswith("/"):
            raise KnativeManifestError(
                f"probe path {self.path!r} must start with '/'", rule="serving/probe-path"
            )
        for name in (
            "initial_delay_seconds",
            "period_seconds",
            "timeout_seconds",
            "success_threshold",
            "failure_threshold",
        ):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < 0):
                raise KnativeManifestError(
                    f"probe {name} must be a non-negative integer, not {value!r}",
                    rule="serving/probe-thresholds",
                )


@dataclass(frozen=True)
class SecurityConfig:
    """The container securityContext; the defaults are the hardened ones the rules require."""

    run_as_non_root: bool = True
    run_as_user: int | None = 10001
    allow_privilege_escalation: bool = False
    read_only_root_filesystem: bool = True
    drop_capabilities: tuple[str, ...] = ("ALL",)
    seccomp_profile: str | None = "RuntimeDefault"


def _check_autoscaling(config: KnativeServiceConfig) -> None:
    short = class_short_name(config.autoscaling_class)
    if short not in c.AUTOSCALING_CLASSES:
        raise InvalidAutoscalingConfigError(
            f"autoscaling class {config.autoscaling_class!r} must be one of "
            f"{', '.join(c.AUTOSCALING_CLASSES.values())}",
            rule="autoscaling/class",
        )
    allowed = c.METRICS_FOR_CLASS[short]
    if config.autoscaling_metric not in allowed:
        raise InvalidAutoscalingConfigError(
            f"{short} supports the metrics {', '.join(allowed)}, not {config.autoscaling_metric!r}",
            rule="autoscaling/metric-for-class",
        )
    target = config.autoscaling_target
    if target is not None:
        error = limits.autoscaling_target_error(target)
        if error:
            raise InvalidAutoscalingConfigError(error, rule="autoscaling/target-minimum")
        if config.autoscaling_metric == "cpu" and target > c.CPU_TARGET_MAX:
            raise InvalidAutoscalingConfigError(
                f"a cpu target is a utilization percent of at most {c.CPU_TARGET_MAX:g}",
                rule="autoscaling/target-utilization",
            )
    for name in ("min_scale", "max_scale"):
        error = limits.scale_error(name.replace("_", "-"), getattr(config, name))
        if error:
            raise InvalidAutoscalingConfigError(
                error, rule=f"autoscaling/{name.replace('_', '-')}-range"
            )
    error = limits.min_above_max_error(config.min_scale, config.max_scale)
    if error:
        raise InvalidAutoscalingConfigError(error, rule="autoscaling/min-not-above-max")
    error = limits.hpa_scale_to_zero_error(short, config.min_scale)
    if error:
        raise InvalidAutoscalingConfigError(error, rule="autoscaling/hpa-no-scale-to-zero")
    if config.scale_down_delay is not None:
        error = limits.scale_down_delay_error(config.scale_down_delay)
        if error:
            raise InvalidAutoscalingConfigError(error, rule="autoscaling/scale-down-delay")


def _check_resources(config: KnativeServiceConfig) -> None:
    requests = {"cpu": config.cpu_request, "memory": config.memory_request}
    resource_limits = {"cpu": config.cpu_limit, "memory": config.memory_limit}
    for _part, _resource, message in limits.quantity_errors(requests, resource_limits):
        raise KnativeManifestError(message, rule="security/resources-set")
    for _resource, message in limits.request_above_limit_errors(requests, resource_limits):
        raise KnativeManifestError(message, rule="security/request-not-above-limit")


@dataclass(frozen=True)
class KnativeServiceConfig:
    """Everything the base Knative Service manifest says, as typed fields.

    ``labels``/``annotations`` are the Service's metadata; the autoscaling annotations are
    never among them (Knative refuses them there) but derived from the autoscaling fields
    and written to the revision template.

    Fields default to what Knative does without them (``KNATIVE_DEFAULT_*``); an
    ``autoscaling_target`` or ``scale_down_delay`` of ``None`` is not written, so the
    cluster's own setting applies. The resources and ``istio_sidecar`` are required and
    keyword-only: Knative has no default for them, and a service must say what it needs.
    """

    name: str
    image: str
    namespace: str | None = None
    port: int = c.KNATIVE_DEFAULT_CONTAINER_PORT
    port_name: str = "http1"
    container_name: str = "app"

    autoscaling_class: str = c.KNATIVE_DEFAULT_AUTOSCALING_CLASS
    autoscaling_metric: str = c.KNATIVE_DEFAULT_AUTOSCALING_METRIC
    autoscaling_target: float | None = None
    min_scale: int = c.KNATIVE_DEFAULT_MIN_SCALE
    max_scale: int = c.KNATIVE_DEFAULT_MAX_SCALE
    scale_down_delay: str | None = None

    cpu_request: str = field(kw_only=True)
    cpu_limit: str = field(kw_only=True)
    memory_request: str = field(kw_only=True)
    memory_limit: str = field(kw_only=True)

    container_concurrency: int = c.KNATIVE_DEFAULT_CONTAINER_CONCURRENCY
    timeout_seconds: int = c.KNATIVE_DEFAULT_TIMEOUT_SECONDS

    istio_sidecar: bool = field(kw_only=True)

    labels: Mapping[str, str] = field(default_factory=lambda: _frozen_map({}))
    annotations: Mapping[str, str] = field(default_factory=lambda: _frozen_map({}))
    template_labels: Mapping[str, str] = field(default_factory=lambda: _frozen_map({}))
    template_annotations: Mapping[str, str] = field(default_factory=lambda: _frozen_map({}))
    revision_name: str | None = None
    service_account_name: str | None = None
    automount_service_account_token: bool | None = None
    config_map_name: str | None = None
    env: Mapping[str, str] = field(default_factory=lambda: _frozen_map({}))
    readiness_probe: ProbeConfig | None = None
    liveness_probe: ProbeConfig | None = None
    security: SecurityConfig = field(default_factory=SecurityConfig)
    scratch_volumes: Mapping[str, str] = field(default_factory=lambda: _frozen_map({}))
    traffic: TrafficConfig | None = None

    def __post_init__(self) -> None:
        for name in (
            "labels",
            "annotations",
            "template_labels",
            "template_annotations",
            "env",
            "scratch_volumes",
        ):
            object.__setattr__(self, name, _frozen_map(getattr(self, name)))
        object.__setattr__(self, "autoscaling_class", _class_value(self.autoscaling_class))
        self._check_names()
        _check_autoscaling(self)
        _check_resources(self)
        self._check_revision()
        if self.traffic is not None:
            self.traffic.check()

    def __hash__(self) -> int:
        return hash((self.name, self.namespace, self.image))

    def _check_names(self) -> None:  # noqa: PLR0912 - one branch per named field
        if not is_dns1035_label(self.name):
            raise KnativeManifestError(
                f"service name {self.name!r} must be a DNS-1035 label", rule="serving/name"
            )
        if self.namespace is not None and not is_dns1123_label(self.namespace):
            raise KnativeManifestError(
                f"namespace {self.namespace!r} must be a DNS-1123 label", rule="k8s/namespace"
            )
        if not _IMAGE.fullmatch(self.image):
            raise KnativeManifestError(
                f"image {self.image!r} must be a lowercase image reference",
                rule="serving/image-required",
            )
        for key in (*self.annotations, *self.labels):
            if key.startswith(c.AUTOSCALING_PREFIX):
                raise InvalidAutoscalingConfigError(
                    f"{key} belongs on spec.template.metadata.annotations",
                    rule="serving/autoscaling-annotations-on-template",
                )
        for key in self.template_annotations:
            if key.startswith(c.AUTOSCALING_PREFIX):
                raise InvalidAutoscalingConfigError(
                    f"{key} is set by the autoscaling fields; do not repeat it",
                    rule="autoscaling/duplicate-keys",
                )
        for sa_name in (self.service_account_name, self.config_map_name):
            if sa_name is not None and not is_dns1123_subdomain(sa_name):
                raise KnativeManifestError(
                    f"{sa_name!r} must be a DNS-1123 subdomain", rule="k8s/name"
                )
        for env_name in self.env:
            if not _ENV_NAME.fullmatch(env_name) or env_name in c.RESERVED_ENV_VARS:
                raise KnativeManifestError(
                    f"env var {env_name!r} is invalid or reserved by Knative "
                    f"({', '.join(c.RESERVED_ENV_VARS)})",
                    rule="serving/reserved-env",
                )
        for volume, path in self.scratch_volumes.items():
            if (
                not is_dns1123_label(volume)
                or not path.startswith("/")
                or path in (c.FORBIDDEN_MOUNT_PATHS)
            ):
                raise KnativeManifestError(
                    f"scratch volume {volume!r} at {path!r} needs a DNS-1123 name and an "
                    "absolute mount path other than /, /dev, /dev/log",
                    rule="serving/volume-mount-path",
                )

    def _check_revision(self) -> None:
        error = limits.container_port_error(self.port)
        if error:
            raise KnativeManifestError(error, rule="serving/reserved-port")
        if self.port_name not in c.ALLOWED_PORT_NAMES:
            raise KnativeManifestError(
                f"port name {self.port_name!r} must be empty, h2c or http1",
                rule="serving/port-name",
            )
        if self.container_name == c.QUEUE_PROXY_CONTAINER_NAME or not is_dns1123_label(
            self.container_name
        ):
            raise KnativeManifestError(
                f"container name {self.container_name!r} is reserved or not a DNS-1123 label",
                rule="serving/container-name",
            )
        error = limits.container_concurrency_error(self.container_concurrency)
        if error:
            raise KnativeManifestError(error, rule="serving/container-concurrency-range")
        error = limits.timeout_seconds_error(self.timeout_seconds)
        if error:
            raise KnativeManifestError(error, rule="serving/timeout-range")
        if self.revision_name is not None and (
            not is_dns1035_label(self.revision_name)
            or not self.revision_name.startswith(self.name + "-")
        ):
            raise KnativeManifestError(
                f"revision name {self.revision_name!r} must be a DNS-1035 label starting with "
                f"'{self.name}-'",
                rule="serving/revision-name",
            )

    @property
    def autoscaling_annotations(self) -> dict[str, str]:
        """The revision template's autoscaling annotations, in the order the base writes them."""
        result = {
            c.ANNOTATION_CLASS: self.autoscaling_class,
            c.ANNOTATION_METRIC: self.autoscaling_metric,
        }
        if self.autoscaling_target is not None:
            result[c.ANNOTATION_TARGET] = format_number(self.autoscaling_target)
        result[c.ANNOTATION_MIN_SCALE] = str(self.min_scale)
        result[c.ANNOTATION_MAX_SCALE] = str(self.max_scale)
        if self.scale_down_delay is not None:
            result[c.ANNOTATION_SCALE_DOWN_DELAY] = self.scale_down_delay
        return result


def format_number(value: float) -> str:
    """A target as Knative reads it back: ``100.0`` -> ``"100"``, ``0.5`` -> ``"0.5"``."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


@dataclass(frozen=True)
class TrafficTarget:
    """One traffic entry: a pinned revision (``revision_name``) or the latest ready one."""

    revision_name: str | None
    percent: int
    tag: str | None = None
    latest_revision: bool = False

    def __post_init__(self) -> None:
        error = limits.percent_error(self.percent)
        if error:
            raise InvalidTrafficConfigError(error, rule="traffic/percent-range")
        if self.tag is not None and not is_dns1035_label(self.tag):
            raise InvalidTrafficConfigError(
                f"tag {self.tag!r} must be a DNS-1035 label", rule="traffic/tag-dns1035"
            )
        if self.latest_revision == bool(self.revision_name):
            raise InvalidTrafficConfigError(
                "latestRevision must be true exactly when revisionName is empty "
                f"(revision_name={self.revision_name!r}, latest_revision={self.latest_revision})",
                rule="traffic/latest-revision-xor-revision-name",
            )
        if self.revision_name and not is_dns1035_label(self.revision_name):
            raise InvalidTrafficConfigError(
                f"revision name {self.revision_name!r} must be a DNS-1035 label",
                rule="traffic/revision-name",
            )


@dataclass(frozen=True)
class TrafficConfig:
    """A traffic split over revisions; Knative accepts it only if the percents sum to 100."""

    targets: tuple[TrafficTarget, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", tuple(self.targets))

    def validate(self) -> bool:
        """True exactly when the percents sum to 100 (the design's contract)."""
        return sum(t.percent for t in self.targets) == c.TRAFFIC_TOTAL_PERCENT

    def check(self) -> None:
        """Raise ``InvalidTrafficConfigError`` naming the first rule the split breaks."""
        if not self.targets:
            raise InvalidTrafficConfigError(
                "a traffic split needs at least one target", rule="traffic/percent-sum"
            )
        if not self.validate():
            total = sum(t.percent for t in self.targets)
            raise InvalidTrafficConfigError(
                f"traffic percents sum to {total}, not {c.TRAFFIC_TOTAL_PERCENT}",
                rule="traffic/percent-sum",
            )
        tags = [t.tag for t in self.targets if t.tag is not None]
        duplicates = sorted({t for t in tags if tags.count(t) > 1})
        if duplicates:
            raise InvalidTrafficConfigError(
                f"traffic tags must be unique; repeated: {', '.join(duplicates)}",
                rule="traffic/tag-unique",
            )


@dataclass(frozen=True)
class DeliveryConfig:
    """Retry, backoff and dead-letter settings of a Trigger (duck/v1 DeliverySpec).

    A field left ``None`` is not written, so the broker's own delivery settings apply.
    """

    retry: int | None = None
    backoff_policy: str | None = None
    backoff_delay: str | None = None
    dead_letter_sink: str | None = None
    timeout: str | None = None

    def __post_init__(self) -> None:
        if self.retry is not None:
            error = limits.delivery_retry_error(self.retry, bounded=True)
            if error:
                raise KnativeManifestError(error, rule="delivery/retry-range")
        if self.backoff_policy is not None and self.backoff_policy not in (
            c.DELIVERY_BACKOFF_POLICIES
        ):
            raise KnativeManifestError(
                f"backoff_policy must be one of {', '.join(c.DELIVERY_BACKOFF_POLICIES)}",
                rule="delivery/backoff-policy",
            )
        for name in ("backoff_delay", "timeout"):
            value = getattr(self, name)
            if value is None:
                continue
            try:
                seconds = parse_iso8601_duration(value)
            except ValueError as error:
                raise KnativeManifestError(
                    f"{name}: {error}", rule=f"delivery/{name.replace('_', '-')}-iso8601"
                ) from None
            if name == "timeout" and seconds == 0:
                raise KnativeManifestError(
                    "timeout must not be zero", rule="delivery/timeout-iso8601"
                )
        sink = self.dead_letter_sink
        if sink is not None and not (is_dns1035_label(sink) or _HTTP_URI.fullmatch(sink)):
            raise KnativeManifestError(
                f"dead_letter_sink {sink!r} must be a Knative Service name or an absolute URI",
                rule="destination/uri-absolute",
            )


@dataclass(frozen=True)
class TriggerConfig:
    """A Trigger that routes events of one type from a Broker to a Knative Service."""

    name: str
    broker: str
    subscriber: str
    filters: Mapping[str, str] = field(default_factory=lambda: _frozen_map({}))
    namespace: str | None = None
    delivery: DeliveryConfig | None = None
    labels: Mapping[str, str] = field(default_factory=lambda: _frozen_map({}))
    annotations: Mapping[str, str] = field(default_factory=lambda: _frozen_map({}))

    def __post_init__(self) -> None:
        for name in ("filters", "labels", "annotations"):
            object.__setattr__(self, name, _frozen_map(getattr(self, name)))
        for what, value in (("name", self.name), ("subscriber", self.subscriber)):
            if not is_dns1035_label(value):
                raise KnativeManifestError(
                    f"trigger {what} {value!r} must be a DNS-1035 label", rule="k8s/name"
                )
        if not is_dns1123_subdomain(self.broker):
            raise KnativeManifestError(
                f"broker {self.broker!r} must be a DNS-1123 name",
                rule="trigger/broker-xor-broker-ref",
            )
        for key in self.filters:
            if not _ATTRIBUTE_KEY.fullmatch(key):
                raise KnativeManifestError(
                    f"filter attribute {key!r} must match {c.TRIGGER_ATTRIBUTE_KEY_PATTERN}",
                    rule="trigger/filter-attribute-keys",
                )

    def __hash__(self) -> int:
        return hash((self.name, self.namespace))
