"""Typed configuration of the Knative resources this service owns.

The models are plain frozen dataclasses: cheap to build in Hypothesis properties, comparable
with ``==`` for round-trip checks, and hashable. Each model checks itself when it is built,
so an object that exists is one a cluster would accept; the only exception is
``TrafficConfig``, whose sum is checked by ``validate()``/``check()`` because a split is
built up target by target.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from . import constants as c
from .errors import InvalidAutoscalingConfigError, InvalidTrafficConfigError, KnativeManifestError
from .formats import (
    is_dns1035_label,
    is_dns1123_label,
    is_dns1123_subdomain,
    parse_go_duration,
    parse_iso8601_duration,
    parse_quantity,
)

_IMAGE = re.compile(
    r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+(:[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})?$"
)
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


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
    if isinstance(target, bool) or not target >= c.AUTOSCALING_TARGET_MIN:
        raise InvalidAutoscalingConfigError(
            f"autoscaling target must be at least {c.AUTOSCALING_TARGET_MIN}, not {target!r}",
            rule="autoscaling/target-minimum",
        )
    if config.autoscaling_metric == "cpu" and target > c.CPU_TARGET_MAX:
        raise InvalidAutoscalingConfigError(
            f"a cpu target is a utilization percent of at most {c.CPU_TARGET_MAX:g}",
            rule="autoscaling/target-utilization",
        )
    for name in ("min_scale", "max_scale"):
        value = getattr(config, name)
        if isinstance(value, bool) or not c.SCALE_MIN <= value <= c.SCALE_MAX:
            raise InvalidAutoscalingConfigError(
                f"{name} must be an int32 >= 0, not {value!r}",
                rule=f"autoscaling/{name.replace('_', '-')}-range",
            )
    if config.max_scale != 0 and config.max_scale < config.min_scale:
        raise InvalidAutoscalingConfigError(
            f"max_scale ({config.max_scale}) must not be below min_scale ({config.min_scale})",
            rule="autoscaling/min-not-above-max",
        )
    if short == c.HPA and config.min_scale < 1:
        raise InvalidAutoscalingConfigError(
            "hpa cannot scale to zero: min_scale must be at least 1",
            rule="autoscaling/hpa-no-scale-to-zero",
        )
    if config.scale_down_delay is not None:
        try:
            seconds = parse_go_duration(config.scale_down_delay)
        except ValueError as error:
            raise InvalidAutoscalingConfigError(
                str(error), rule="autoscaling/scale-down-delay"
            ) from None
        if seconds < 0 or seconds > c.SCALE_DOWN_DELAY_MAX_SECONDS or seconds != int(seconds):
            raise InvalidAutoscalingConfigError(
                f"scale_down_delay {config.scale_down_delay!r} must be whole seconds from 0s to 1h",
                rule="autoscaling/scale-down-delay",
            )


def _check_resources(config: KnativeServiceConfig) -> None:
    values: dict[str, Decimal] = {}
    for name in ("cpu_request", "cpu_limit", "memory_request", "memory_limit"):
        try:
            values[name] = parse_quantity(getattr(config, name))
        except ValueError as error:
            raise KnativeManifestError(f"{name}: {error}", rule="security/resources-set") from None
    for kind in ("cpu", "memory"):
        if values[f"{kind}_limit"] < values[f"{kind}_request"]:
            raise KnativeManifestError(
                f"{kind}_limit ({getattr(config, kind + '_limit')}) must not be below "
                f"{kind}_request ({getattr(config, kind + '_request')})",
                rule="security/request-not-above-limit",
            )


@dataclass(frozen=True)
class KnativeServiceConfig:
    """Everything the base Knative Service manifest says, as typed fields.

    ``labels``/``annotations`` are the Service's metadata; the autoscaling annotations are
    never among them (Knative refuses them there) but derived from the autoscaling fields
    and written to the revision template.
    """

    name: str
    image: str
    namespace: str | None = None
    port: int = c.DEFAULT_PORT
    port_name: str = "http1"
    container_name: str = "app"

    autoscaling_class: str = c.KPA_CLASS
    autoscaling_metric: str = c.DEFAULT_AUTOSCALING_METRIC
    autoscaling_target: float = c.DEFAULT_AUTOSCALING_TARGET
    min_scale: int = c.DEFAULT_MIN_SCALE
    max_scale: int = c.DEFAULT_MAX_SCALE
    scale_down_delay: str | None = c.DEFAULT_SCALE_DOWN_DELAY

    cpu_request: str = c.DEFAULT_CPU_REQUEST
    cpu_limit: str = c.DEFAULT_CPU_LIMIT
    memory_request: str = c.DEFAULT_MEMORY_REQUEST
    memory_limit: str = c.DEFAULT_MEMORY_LIMIT

    container_concurrency: int = c.DEFAULT_CONTAINER_CONCURRENCY
    timeout_seconds: int = c.DEFAULT_TIMEOUT_SECONDS

    istio_sidecar: bool = c.DEFAULT_ISTIO_SIDECAR

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
        if not _IMAGE.match(self.image):
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
            if not _ENV_NAME.match(env_name) or env_name in c.RESERVED_ENV_VARS:
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
        if self.port in c.RESERVED_PORTS or not c.PORT_MIN <= self.port <= c.PORT_MAX:
            raise KnativeManifestError(
                f"port {self.port} is reserved by Knative or out of range 1..65535",
                rule="serving/reserved-port",
            )
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
        if (
            not c.CONTAINER_CONCURRENCY_MIN
            <= self.container_concurrency
            <= (c.CONTAINER_CONCURRENCY_MAX)
        ):
            raise KnativeManifestError(
                f"container_concurrency must be between {c.CONTAINER_CONCURRENCY_MIN} and "
                f"{c.CONTAINER_CONCURRENCY_MAX}",
                rule="serving/container-concurrency-range",
            )
        if not c.TIMEOUT_SECONDS_MIN <= self.timeout_seconds <= c.TIMEOUT_SECONDS_MAX:
            raise KnativeManifestError(
                f"timeout_seconds must be between {c.TIMEOUT_SECONDS_MIN} and "
                f"{c.TIMEOUT_SECONDS_MAX}",
                rule="serving/timeout-range",
            )
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
            c.ANNOTATION_TARGET: format_number(self.autoscaling_target),
            c.ANNOTATION_MIN_SCALE: str(self.min_scale),
            c.ANNOTATION_MAX_SCALE: str(self.max_scale),
        }
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
        if isinstance(self.percent, bool) or not c.PERCENT_MIN <= self.percent <= c.PERCENT_MAX:
            raise InvalidTrafficConfigError(
                f"percent must be between {c.PERCENT_MIN} and {c.PERCENT_MAX}, not "
                f"{self.percent!r}",
                rule="traffic/percent-range",
            )
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
    """Retry, backoff and dead-letter settings of a Trigger (duck/v1 DeliverySpec)."""

    retry: int = c.DEFAULT_DELIVERY_RETRY
    backoff_policy: str = c.DEFAULT_DELIVERY_BACKOFF_POLICY
    backoff_delay: str = c.DEFAULT_DELIVERY_BACKOFF_DELAY
    dead_letter_sink: str | None = None
    timeout: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.retry, bool) or not c.DELIVERY_RETRY_MIN <= self.retry <= (
            c.DELIVERY_RETRY_MAX
        ):
            raise KnativeManifestError(
                f"retry must be between {c.DELIVERY_RETRY_MIN} and {c.DELIVERY_RETRY_MAX}",
                rule="delivery/retry-range",
            )
        if self.backoff_policy not in c.DELIVERY_BACKOFF_POLICIES:
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
        if sink is not None and not (
            is_dns1035_label(sink) or re.match(r"^https?://[^/\s]+(/\S*)?$", sink)
        ):
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
            if not re.match(c.TRIGGER_ATTRIBUTE_KEY_PATTERN, key):
                raise KnativeManifestError(
                    f"filter attribute {key!r} must match {c.TRIGGER_ATTRIBUTE_KEY_PATTERN}",
                    rule="trigger/filter-attribute-keys",
                )

    def __hash__(self) -> int:
        return hash((self.name, self.namespace))
