"""The admission rules a cluster applies to our manifests, as code: one function per rule.

CRD schemas only check shapes. Knative's, Argo CD's and Istio's webhooks (and controllers)
refuse much more: autoscaling bounds, traffic sums, reserved ports, ISO-8601 delivery
durations, duplicate Application names... Each function below checks one such rule and
reports violations that carry the rule's name, so a failing check says exactly what a
cluster would have said. A few rules are our own (marked "own rule"): the hardened container
settings a Knative pod template needs (checkov cannot see inside it) and GitOps hygiene.

``RULES`` maps every rule name to its function; ``check_documents`` runs all of them and
returns the violations. A few rules only warn (``WARNING_RULES``): ``check_warnings``
returns their findings, which never fail a validation. Rules registered with
``versioned=True`` hold for some Knative versions only: they run when the version's entry
in ``versions.py`` lists them (a rule never compares version strings itself). Knative's
defaulting is applied first, as the webhook defaults before it validates.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

from . import constants as c
from . import limits, versions
from .argo import TemplateError, generate_applications
from .formats import dig as _dig
from .formats import (
    is_dns1035_label,
    is_dns1123_subdomain,
    parse_go_duration,
    parse_iso8601_duration,
    parse_quantity,
)
from .limits import whole_duration_error
from .overlays import is_digest, split_reference

Doc = Mapping[str, Any]
Finding = tuple[str, str]
RuleFunction = Callable[[Doc, "Context"], Iterable[Finding]]

SERVICE = ("serving.knative.dev", "Service")
TRIGGER = ("eventing.knative.dev", "Trigger")
BROKER = ("eventing.knative.dev", "Broker")
KAFKA_SOURCE = ("sources.knative.dev", "KafkaSource")
CONFIG_MAP = ("", "ConfigMap")
APPLICATION_SET = ("argoproj.io", "ApplicationSet")
APP_PROJECT = ("argoproj.io", "AppProject")
APPLICATION = ("argoproj.io", "Application")
PEER_AUTHENTICATION = ("security.istio.io", "PeerAuthentication")
AUTHORIZATION_POLICY = ("security.istio.io", "AuthorizationPolicy")
DESTINATION_RULE = ("networking.istio.io", "DestinationRule")
EVENT_POLICY = ("eventing.knative.dev", "EventPolicy")
ANY_KIND: tuple[str, str] = ("*", "*")


@dataclass(frozen=True)
class Violation:
    """One broken rule: which rule, where, and what a cluster would say."""

    rule: str
    message: str
    kind: str = ""
    name: str = ""
    path: str = ""
    env: str = ""

    def __str__(self) -> str:
        where = f"{self.kind}/{self.name}" if self.kind else "<document>"
        at = f" (at {self.path})" if self.path else ""
        prefix = f"{self.env}: " if self.env else ""
        return f"{prefix}{where}: [{self.rule}] {self.message}{at}"


@dataclass
class Context:
    """Every document of one check, for rules that look across documents."""

    documents: Sequence[Doc] = field(default_factory=list)
    #: The Knative version the documents are checked for.
    version: versions.KnativeVersion = field(default_factory=lambda: versions.get(None))

    def find(self, group_kind: tuple[str, str], name: str | None = None) -> list[Doc]:
        return [
            d
            for d in self.documents
            if group_kind_of(d) == group_kind and (name is None or _name(d) == name)
        ]


RULES: dict[str, RuleFunction] = {}
RULE_KINDS: dict[str, tuple[tuple[str, str], ...]] = {}
#: The rules whose findings are warnings (``check_warnings``), not violations.
WARNING_RULES: set[str] = set()
#: The rules that run only for the versions whose ``versions.KnativeVersion.rules`` name them.
VERSIONED_RULES: set[str] = set()


def rule(
    name: str, *kinds: tuple[str, str], warning: bool = False, versioned: bool = False
) -> Callable[[RuleFunction], RuleFunction]:
    """Register a rule function under its name for the kinds it applies to.

    ``warning=True`` registers a rule that only warns: its findings go to
    ``check_warnings``, never to ``check_documents``. ``versioned=True`` registers a rule
    that runs only for the Knative versions listing it in ``versions.py``.
    """

    def register(function: RuleFunction) -> RuleFunction:
        if name in RULES:
            raise ValueError(f"rule {name} registered twice")
        RULES[name] = function
        RULE_KINDS[name] = kinds
        if warning:
            WARNING_RULES.add(name)
        if versioned:
            VERSIONED_RULES.add(name)
        return function

    return register


# --------------------------------------------------------------------------------------------
# Small helpers that tolerate any broken shape
# --------------------------------------------------------------------------------------------


def group_kind_of(doc: Doc) -> tuple[str, str]:
    api_version = doc.get("apiVersion")
    group = api_version.rpartition("/")[0] if isinstance(api_version, str) else ""
    kind = doc.get("kind")
    return group, kind if isinstance(kind, str) else ""


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _missing_ref_fields(ref: Any) -> list[str]:
    """The fields of a Kubernetes object reference (apiVersion, kind, name) that are empty."""
    return [key for key in ("apiVersion", "kind", "name") if not _map(ref).get(key)]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _name(doc: Doc) -> str:
    value = _dig(doc, "metadata", "name")
    return value if isinstance(value, str) else ""


def _namespace(doc: Doc) -> str | None:
    value = _dig(doc, "metadata", "namespace")
    return value if isinstance(value, str) else None


def _annotations(doc: Any, *prefix: str) -> Mapping[str, Any]:
    return _map(_dig(doc, *prefix, "metadata", "annotations"))


def _template_annotations(doc: Doc) -> Mapping[str, Any]:
    return _annotations(doc, "spec", "template")


def _pod_spec(doc: Doc) -> Mapping[str, Any]:
    return _map(_dig(doc, "spec", "template", "spec"))


def _containers(doc: Doc) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for index, container in enumerate(_list(_pod_spec(doc).get("containers"))):
        yield f"spec.template.spec.containers[{index}]", _map(container)


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str):
        return None
    try:
        number = Decimal(value.strip())
    except ArithmeticError:
        return None
    return number if number.is_finite() else None


def _int(value: Any) -> int | None:
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
        return int(value)
    return None


def _scaling(doc: Doc, key: str) -> tuple[str, Any] | None:
    """An autoscaling annotation by its kebab-case key or a legacy alias."""
    annotations = _template_annotations(doc)
    for candidate in (key, *c.LEGACY_ANNOTATION_ALIASES.get(key, ())):
        if candidate in annotations:
            return f"spec.template.metadata.annotations[{candidate}]", annotations[candidate]
    return None


def _class_short(doc: Doc) -> str:
    found = _scaling(doc, c.ANNOTATION_CLASS)
    value = found[1] if found else c.KPA_CLASS
    return c.HPA if value == c.HPA_CLASS else c.KPA


# --------------------------------------------------------------------------------------------
# Knative defaulting (the webhook defaults before it validates)
# --------------------------------------------------------------------------------------------


def apply_knative_defaults(doc: Doc) -> dict[str, Any]:
    """A copy of ``doc`` with the defaults Knative's webhook would fill in."""
    result: dict[str, Any] = copy.deepcopy(dict(doc))
    group_kind = group_kind_of(result)
    if group_kind == SERVICE and isinstance(result.get("spec"), dict):
        spec = result["spec"]
        if "traffic" not in spec:
            spec["traffic"] = [{"latestRevision": True, "percent": 100}]
        for entry in _list(spec.get("traffic")):
            if isinstance(entry, dict) and "latestRevision" not in entry:
                entry["latestRevision"] = not entry.get("revisionName")
        pod = _dig(spec, "template", "spec")
        if isinstance(pod, dict):
            pod.setdefault("timeoutSeconds", c.KNATIVE_DEFAULT_TIMEOUT_SECONDS)
            pod.setdefault("containerConcurrency", c.KNATIVE_DEFAULT_CONTAINER_CONCURRENCY)
            containers = _list(pod.get("containers"))
            for index, container in enumerate(containers):
                if isinstance(container, dict) and not container.get("name"):
                    container["name"] = (
                        "user-container" if len(containers) == 1 else (f"user-container-{index}")
                    )
    if (
        group_kind == TRIGGER
        and isinstance(result.get("spec"), dict)
        and "brokerRef" not in result["spec"]
    ):
        result["spec"].setdefault("broker", c.KNATIVE_DEFAULT_BROKER_NAME)
    if group_kind == KAFKA_SOURCE and isinstance(result.get("spec"), dict):
        result["spec"].setdefault("consumers", c.KNATIVE_DEFAULT_KAFKA_CONSUMERS)
        result["spec"].setdefault("initialOffset", c.KNATIVE_DEFAULT_KAFKA_INITIAL_OFFSET)
    return result


# --------------------------------------------------------------------------------------------
# Every kind
# --------------------------------------------------------------------------------------------


@rule("k8s/name", ANY_KIND)
def name_valid(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """metadata.name is required and a DNS-1123 subdomain (ConfigMap, ServiceAccount, ...).

    RBAC objects only need a path-segment name (``system:reader`` is a valid Role).
    """
    name = _dig(doc, "metadata", "name")
    if group_kind_of(doc)[0] == "rbac.authorization.k8s.io":
        if not isinstance(name, str) or name in ("", ".", "..") or re.search(r"[/%]", name):
            yield "metadata.name", f"name {name!r} must be a path segment (no '/' or '%')"
    elif not is_dns1123_subdomain(name):
        yield "metadata.name", f"name {name!r} must be a DNS-1123 subdomain"


@rule("k8s/annotation-values-strings", ANY_KIND)
def annotation_values_strings(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Annotation and label values are strings: an unquoted 5 or true is refused."""
    for prefix in ((), ("spec", "template")):
        for part in ("annotations", "labels"):
            values = _dig(doc, *prefix, "metadata", part)
            for key, value in _map(values).items():
                if not isinstance(value, str):
                    where = ".".join((*prefix, "metadata", part))
                    yield f"{where}[{key}]", f"value of {key} must be a string, not {value!r}"


@rule("argocd/sync-wave-integer", ANY_KIND)
def sync_wave_integer(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """argocd.argoproj.io/sync-wave is parsed with Atoi; anything else silently becomes 0."""
    value = _annotations(doc).get(c.ARGOCD_SYNC_WAVE_ANNOTATION)
    if value is not None and (not isinstance(value, str) or not re.fullmatch(r"[+-]?\d+", value)):
        yield "metadata.annotations", f"sync-wave {value!r} must be an integer string"


# --------------------------------------------------------------------------------------------
# Knative Service: metadata and autoscaling annotations
# --------------------------------------------------------------------------------------------


@rule("serving/name-dns1035", SERVICE)
def service_name(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Knative names are DNS-1035 labels (start with a letter), at most 63 characters."""
    if not is_dns1035_label(_name(doc)):
        yield "metadata.name", f"{_name(doc)!r} must be a DNS-1035 label"


@rule("serving/autoscaling-annotations-on-template", SERVICE)
def autoscaling_on_template(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Autoscaling annotations only under spec.template.metadata.annotations."""
    for key in _annotations(doc):
        if isinstance(key, str) and key.startswith(c.AUTOSCALING_PREFIX):
            yield (
                "metadata.annotations",
                f"{key}: autoscaling annotations must be put under "
                '"spec.template.metadata.annotations"',
            )


@rule("autoscaling/duplicate-alias-keys", SERVICE)
def duplicate_alias(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """A key and its legacy camelCase alias must not both be set."""
    annotations = _template_annotations(doc)
    for key, aliases in c.LEGACY_ANNOTATION_ALIASES.items():
        present = [k for k in (key, *aliases) if k in annotations]
        if len(present) > 1:
            yield "spec.template.metadata.annotations", f"expected exactly one of {present}"


@rule("autoscaling/class", SERVICE)
def autoscaling_class(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """A class ending in .knative.dev must be kpa.autoscaling.knative.dev or hpa...."""
    found = _scaling(doc, c.ANNOTATION_CLASS)
    if found is None:
        return
    path, value = found
    if not isinstance(value, str) or (
        value.endswith(".knative.dev") and value not in (c.KPA_CLASS, c.HPA_CLASS)
    ):
        yield path, f"class {value!r} must be {c.KPA_CLASS} or {c.HPA_CLASS}"


@rule("autoscaling/metric-for-class", SERVICE)
def metric_for_class(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """KPA (the default class) takes concurrency or rps; HPA any non-empty metric."""
    found = _scaling(doc, c.ANNOTATION_METRIC)
    if found is None:
        return
    path, value = found
    short = _class_short(doc)
    if short == c.KPA and value not in c.METRICS_FOR_CLASS[c.KPA]:
        yield path, f"kpa supports the metrics concurrency and rps, not {value!r}"
    if short == c.HPA and (not isinstance(value, str) or not value):
        yield path, "hpa needs a non-empty metric"


def _bounded(doc: Doc, key: str, low: float, high: float | None, what: str) -> Iterator[Finding]:
    found = _scaling(doc, key)
    if found is None:
        return
    path, value = found
    number = _number(value)
    if (
        number is None
        or number < Decimal(str(low))
        or (high is not None and number > Decimal(str(high)))
    ):
        bound = f">= {low:g}" if high is None else f"between {low:g} and {high:g}"
        yield path, f"{what} {value!r} must be a number {bound}"


@rule("autoscaling/target-minimum", SERVICE)
def target_minimum(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """autoscaling.knative.dev/target is a float >= 0.01."""
    found = _scaling(doc, c.ANNOTATION_TARGET)
    if found is None:
        return
    number = _number(found[1])
    error = limits.autoscaling_target_error(found[1] if number is None else number)
    if error:
        yield found[0], error


@rule("autoscaling/target-utilization-range", SERVICE)
def target_utilization(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """target-utilization-percentage is 1..100."""
    yield from _bounded(
        doc,
        c.ANNOTATION_TARGET_UTILIZATION,
        c.TARGET_UTILIZATION_MIN,
        c.TARGET_UTILIZATION_MAX,
        "target-utilization-percentage",
    )


@rule("autoscaling/target-burst-capacity", SERVICE)
def target_burst_capacity(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """target-burst-capacity is >= 0 or exactly -1 (unlimited)."""
    found = _scaling(doc, c.ANNOTATION_TARGET_BURST_CAPACITY)
    if found is None:
        return
    number = _number(found[1])
    if number is None or (number < 0 and number != -1):
        yield found[0], f"target-burst-capacity {found[1]!r} must be >= 0 or -1"


@rule("autoscaling/panic-window-percentage", SERVICE)
def panic_window(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """panic-window-percentage is 1..100."""
    yield from _bounded(
        doc,
        c.ANNOTATION_PANIC_WINDOW_PERCENTAGE,
        c.PANIC_WINDOW_PERCENTAGE_MIN,
        c.PANIC_WINDOW_PERCENTAGE_MAX,
        "panic-window-percentage",
    )


@rule("autoscaling/panic-threshold-percentage", SERVICE)
def panic_threshold(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """panic-threshold-percentage is 110..1000."""
    yield from _bounded(
        doc,
        c.ANNOTATION_PANIC_THRESHOLD_PERCENTAGE,
        c.PANIC_THRESHOLD_PERCENTAGE_MIN,
        c.PANIC_THRESHOLD_PERCENTAGE_MAX,
        "panic-threshold-percentage",
    )


@rule("autoscaling/window", SERVICE)
def window(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """window is a Go duration of whole seconds from 6s to 1h."""
    found = _scaling(doc, c.ANNOTATION_WINDOW)
    if found is not None:
        error = whole_duration_error(found[1], c.WINDOW_MIN_SECONDS, c.WINDOW_MAX_SECONDS, "window")
        if error:
            yield found[0], error


@rule("autoscaling/scale-down-delay", SERVICE)
def scale_down_delay(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """scale-down-delay is a Go duration of whole seconds from 0s to 1h."""
    found = _scaling(doc, c.ANNOTATION_SCALE_DOWN_DELAY)
    if found is not None:
        error = limits.scale_down_delay_error(found[1])
        if error:
            yield found[0], error


@rule("autoscaling/scale-to-zero-retention", SERVICE)
def scale_to_zero_retention(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """scale-to-zero-pod-retention-period is a Go duration from 0s to 1h."""
    found = _scaling(doc, c.ANNOTATION_SCALE_TO_ZERO_RETENTION)
    if found is None:
        return
    try:
        seconds = parse_go_duration(found[1]) if isinstance(found[1], str) else None
    except ValueError:
        seconds = None
    if seconds is None or not 0 <= seconds <= c.SCALE_TO_ZERO_RETENTION_MAX_SECONDS:
        yield found[0], f"scale-to-zero-pod-retention-period {found[1]!r} must be 0s..1h"


def _scale(doc: Doc, key: str) -> tuple[str, Any, int | None] | None:
    found = _scaling(doc, key)
    if found is None:
        return None
    value = _int(found[1])
    return found[0], found[1], value


def _scale_range(doc: Doc, key: str, what: str) -> Iterator[Finding]:
    found = _scale(doc, key)
    if found is not None:
        error = limits.scale_error(what, found[1] if found[2] is None else found[2])
        if error:
            yield found[0], error


@rule("autoscaling/min-scale-range", SERVICE)
def min_scale_range(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """min-scale is an int32 >= 0."""
    yield from _scale_range(doc, c.ANNOTATION_MIN_SCALE, "min-scale")


@rule("autoscaling/max-scale-range", SERVICE)
def max_scale_range(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """max-scale is an int32 >= 0 (0 = unlimited)."""
    yield from _scale_range(doc, c.ANNOTATION_MAX_SCALE, "max-scale")


@rule("autoscaling/min-not-above-max", SERVICE)
def min_not_above_max(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """With max-scale != 0, min-scale must not exceed it."""
    low = _scale(doc, c.ANNOTATION_MIN_SCALE)
    high = _scale(doc, c.ANNOTATION_MAX_SCALE)
    if low and high and low[2] is not None and high[2] is not None:
        error = limits.min_above_max_error(low[2], high[2])
        if error:
            yield high[0], error


@rule("autoscaling/activation-scale", SERVICE)
def activation_scale(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """activation-scale >= 2, >= min-scale and <= max-scale (when max-scale != 0)."""
    found = _scale(doc, c.ANNOTATION_ACTIVATION_SCALE)
    if found is None:
        return
    value = found[2]
    low = _scale(doc, c.ANNOTATION_MIN_SCALE)
    high = _scale(doc, c.ANNOTATION_MAX_SCALE)
    if value is None or value < c.ACTIVATION_SCALE_MIN:
        yield found[0], f"activation-scale {found[1]!r} must be an integer >= 2"
    elif low and low[2] is not None and value < low[2]:
        yield found[0], f"activation-scale {value} must not be below min-scale {low[2]}"
    elif high and high[2] and value > high[2]:
        yield found[0], f"activation-scale {value} must not be above max-scale {high[2]}"


@rule("autoscaling/initial-scale", SERVICE)
def initial_scale(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """initial-scale is an int >= 1 (0 needs allow-zero-initial-scale, off by default)."""
    found = _scale(doc, c.ANNOTATION_INITIAL_SCALE)
    if found and (found[2] is None or found[2] < 1):
        yield (
            found[0],
            (
                f"initial-scale {found[1]!r} must be an integer >= 1 (0 only with the cluster's "
                "allow-zero-initial-scale)"
            ),
        )


@rule("autoscaling/metric-aggregation-algorithm", SERVICE)
def metric_aggregation(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """metric-aggregation-algorithm (KPA only): linear or weighted-exponential."""
    found = _scaling(doc, c.ANNOTATION_METRIC_AGGREGATION)
    if found is None:
        return
    if _class_short(doc) != c.KPA or found[1] not in c.METRIC_AGGREGATION_ALGORITHMS:
        yield (
            found[0],
            (
                f"metric-aggregation-algorithm {found[1]!r} needs the kpa class and one of "
                f"{', '.join(c.METRIC_AGGREGATION_ALGORITHMS)}"
            ),
        )


@rule("autoscaling/hpa-no-scale-to-zero", SERVICE)
def hpa_no_scale_to_zero(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Own rule: the HPA class cannot scale to zero, so min-scale 0 would be a lie."""
    low = _scale(doc, c.ANNOTATION_MIN_SCALE)
    if low is not None and low[2] is None:
        return  # not an integer: autoscaling/min-scale-range reports it
    error = limits.hpa_scale_to_zero_error(_class_short(doc), None if low is None else low[2])
    if error:
        yield "spec.template.metadata.annotations", error


@rule("istio/sidecar-inject-on-template", SERVICE)
def sidecar_inject_on_template(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """sidecar.istio.io/inject on the Service's metadata never reaches the pod."""
    for part in ("labels", "annotations"):
        if c.ISTIO_INJECT_KEY in _map(_dig(doc, "metadata", part)):
            yield (
                f"metadata.{part}",
                (f"{c.ISTIO_INJECT_KEY} must be on spec.template.metadata (copied to the pod)"),
            )


# --------------------------------------------------------------------------------------------
# Knative Service: revision spec, pod spec, containers
# --------------------------------------------------------------------------------------------


@rule("serving/container-concurrency-range", SERVICE)
def container_concurrency(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """containerConcurrency is 0..1000."""
    value = _pod_spec(doc).get("containerConcurrency")
    error = None if value is None else limits.container_concurrency_error(value)
    if error:
        yield "spec.template.spec.containerConcurrency", error


@rule("serving/timeout-range", SERVICE)
def timeout_range(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """timeoutSeconds is 1..600 (0 means unset)."""
    value = _pod_spec(doc).get("timeoutSeconds")
    error = None if value is None else limits.timeout_seconds_error(value, zero_means_unset=True)
    if error:
        yield "spec.template.spec.timeoutSeconds", error


@rule("serving/revision-name", SERVICE)
def revision_name(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """A named revision is DNS-1035, starts with '<service>-' and excludes generateName."""
    meta = _map(_dig(doc, "spec", "template", "metadata"))
    name = meta.get("name")
    if name is None:
        return
    if "generateName" in meta:
        yield "spec.template.metadata", "name and generateName are mutually exclusive"
    if not is_dns1035_label(name) or not name.startswith(_name(doc) + "-"):
        yield (
            "spec.template.metadata.name",
            (f"revision name {name!r} must be a DNS-1035 label starting with '{_name(doc)}-'"),
        )


@rule("serving/rollout-duration", SERVICE)
def rollout_duration(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """rollout-duration (Service) and progress-deadline (template): whole, >= 0 seconds."""
    checks = (
        ("metadata.annotations", _annotations(doc).get(c.ROLLOUT_DURATION_ANNOTATION)),
        (
            "spec.template.metadata.annotations",
            _template_annotations(doc).get(c.PROGRESS_DEADLINE_ANNOTATION),
        ),
    )
    for path, value in checks:
        if value is not None:
            error = whole_duration_error(value, 0, 10**9, "duration")
            if error:
                yield path, error


@rule("serving/podspec-field", SERVICE)
def podspec_field(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Only the PodSpec fields a default cluster allows (others are behind feature flags)."""
    for key in _pod_spec(doc):
        if key not in c.POD_SPEC_FIELDS:
            yield (
                f"spec.template.spec.{key}",
                (f"{key} is not allowed in a Knative pod spec (feature flag off by default)"),
            )


@rule("serving/automount-token-false-only", SERVICE)
def automount_token(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """automountServiceAccountToken may only be set to false."""
    if _pod_spec(doc).get("automountServiceAccountToken", False) is not False:
        yield "spec.template.spec.automountServiceAccountToken", "may only be false"


@rule("serving/container-field", SERVICE)
def container_field(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """lifecycle, stdin, tty, volumeDevices (and anything unknown) are forbidden."""
    for path, container in _containers(doc):
        for key in container:
            if key not in c.CONTAINER_FIELDS:
                yield f"{path}.{key}", f"{key} is not allowed in a Knative container"


@rule("serving/image-required", SERVICE)
def image_required(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Every container has an image."""
    containers = list(_containers(doc))
    if not containers:
        yield "spec.template.spec.containers", "at least one container is required"
    for path, container in containers:
        if not isinstance(container.get("image"), str) or not container.get("image"):
            yield f"{path}.image", "image is required"


IMAGE_DIGEST_REQUIRED = "images/digest-required"
IMAGE_NOT_PROMOTED = "images/not-promoted"


@rule(IMAGE_DIGEST_REQUIRED, SERVICE)
def image_digest_required(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Own rule: a Service's container image names a sha256 digest, not only a tag.

    Tags move: the revision a tag names today is not the one CI built and tested. The
    digest is checked in full (``sha256:`` and 64 lowercase hex digits).
    """
    for path, container in _containers(doc):
        image = container.get("image")
        if not isinstance(image, str) or not image:
            continue  # serving/image-required
        reference = split_reference(image)
        if reference.digest is not None and not is_digest(reference.digest):
            yield (
                f"{path}.image",
                f"{image!r}: digest {reference.digest!r} must be sha256: and 64 lowercase hex "
                "digits",
            )
        elif reference.digest is None and reference.tag is not None:
            yield (
                f"{path}.image",
                f"{image!r} names tag {reference.tag!r}: tags move; an overlay names the digest "
                "CI built: run `knative-manifests image set` or `promote`",
            )


@rule(IMAGE_NOT_PROMOTED, SERVICE, warning=True)
def image_not_promoted(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Own rule, a warning: an image with neither tag nor digest has not been built yet.

    A fresh render names the bare repository until its first CI run; the cluster would
    pull ``:latest``.
    """
    for path, container in _containers(doc):
        image = container.get("image")
        if not isinstance(image, str) or not image:
            continue
        reference = split_reference(image)
        if reference.digest is None and reference.tag is None:
            yield (
                f"{path}.image",
                f"{image!r} names no digest yet (not built or not promoted): the first CI run "
                "on main writes the dev digest (`knative-manifests image set`), and "
                "`make promote ENV=...` (`knative-manifests promote`) the other environments'",
            )


def _ports(doc: Doc) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for path, container in _containers(doc):
        for index, port in enumerate(_list(container.get("ports"))):
            yield f"{path}.ports[{index}]", _map(port)


@rule("serving/single-port", SERVICE)
def single_port(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """At most one port; with several containers exactly one container declares it."""
    ports = list(_ports(doc))
    containers = list(_containers(doc))
    if len(ports) > 1:
        yield "spec.template.spec.containers", "only a single port is allowed across containers"
    elif len(containers) > 1 and len(ports) != 1:
        yield "spec.template.spec.containers", "exactly one container must declare a port"


@rule("serving/port-name", SERVICE)
def port_name(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """The port name is empty, h2c or http1."""
    for path, port in _ports(doc):
        if port.get("name", "") not in c.ALLOWED_PORT_NAMES:
            yield f"{path}.name", f"port name {port.get('name')!r} must be h2c or http1"


@rule("serving/port-protocol", SERVICE)
def port_protocol(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """The protocol is TCP."""
    for path, port in _ports(doc):
        if port.get("protocol", "TCP") != "TCP":
            yield f"{path}.protocol", f"protocol {port.get('protocol')!r} must be TCP"


@rule("serving/reserved-port", SERVICE)
def reserved_port(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """8012, 8013, 8022, 9090, 9091 and 8008 belong to the queue-proxy."""
    for path, port in _ports(doc):
        error = limits.container_port_error(
            port.get("containerPort", c.KNATIVE_DEFAULT_CONTAINER_PORT)
        )
        if error:
            yield f"{path}.containerPort", error


@rule("serving/host-port", SERVICE)
def host_port(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """hostPort and hostIP are not allowed."""
    for path, port in _ports(doc):
        for key in ("hostPort", "hostIP"):
            if key in port:
                yield f"{path}.{key}", f"{key} is not allowed"


@rule("serving/reserved-env", SERVICE)
def reserved_env(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """PORT, K_SERVICE, K_CONFIGURATION and K_REVISION are set by Knative."""
    for path, container in _containers(doc):
        for index, env in enumerate(_list(container.get("env"))):
            if _map(env).get("name") in c.RESERVED_ENV_VARS:
                yield f"{path}.env[{index}]", f"{_map(env).get('name')} is a reserved env var"


@rule("serving/container-name", SERVICE)
def container_name(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """queue-proxy is reserved; container names are unique."""
    seen: set[Any] = set()
    for path, container in _containers(doc):
        name = container.get("name")
        if name == c.QUEUE_PROXY_CONTAINER_NAME:
            yield f"{path}.name", "queue-proxy is a reserved container name"
        if name in seen:
            yield f"{path}.name", f"container name {name!r} is not unique"
        seen.add(name)


@rule("serving/volume-mounted", SERVICE)
def volume_mounted(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Every volume is mounted and every mount names a volume."""
    volumes = {_map(v).get("name") for v in _list(_pod_spec(doc).get("volumes"))}
    mounted = set()
    for path, container in _containers(doc):
        for index, mount in enumerate(_list(container.get("volumeMounts"))):
            name = _map(mount).get("name")
            mounted.add(name)
            if name not in volumes:
                yield f"{path}.volumeMounts[{index}]", f"mount {name!r} has no volume"
    for name in sorted(str(v) for v in volumes - mounted):
        yield "spec.template.spec.volumes", f"volume {name!r} is not mounted"


@rule("serving/volume-mount-read-only", SERVICE)
def volume_mount_read_only(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Mounts are readOnly except for emptyDir and persistentVolumeClaim volumes."""
    writable = {
        _map(v).get("name")
        for v in _list(_pod_spec(doc).get("volumes"))
        if "emptyDir" in _map(v) or "persistentVolumeClaim" in _map(v)
    }
    for path, container in _containers(doc):
        for index, raw in enumerate(_list(container.get("volumeMounts"))):
            mount = _map(raw)
            if mount.get("name") not in writable and mount.get("readOnly") is not True:
                yield f"{path}.volumeMounts[{index}]", "volume mounts must be readOnly"


@rule("serving/volume-mount-path", SERVICE)
def volume_mount_path(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """mountPath absolute, unique, not /, /dev or /dev/log."""
    seen: set[Any] = set()
    for path, container in _containers(doc):
        for index, mount in enumerate(_list(container.get("volumeMounts"))):
            mount_path = _map(mount).get("mountPath")
            where = f"{path}.volumeMounts[{index}].mountPath"
            if not isinstance(mount_path, str) or not mount_path.startswith("/"):
                yield where, f"mountPath {mount_path!r} must be absolute"
            elif (mount_path.rstrip("/") or "/") in c.FORBIDDEN_MOUNT_PATHS:
                yield where, f"mountPath {mount_path!r} is reserved"
            if mount_path in seen:
                yield where, f"mountPath {mount_path!r} is used twice"
            seen.add(mount_path)


_PROBES = ("readinessProbe", "livenessProbe", "startupProbe")
_HANDLERS = ("httpGet", "tcpSocket", "exec", "grpc")


def _probes(doc: Doc) -> Iterator[tuple[str, str, Mapping[str, Any], Mapping[str, Any]]]:
    for path, container in _containers(doc):
        for kind in _PROBES:
            if kind in container:
                yield f"{path}.{kind}", kind, _map(container[kind]), container


@rule("serving/probe-handler", SERVICE)
def probe_handler(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """A probe has exactly one handler (httpGet, tcpSocket, exec or grpc)."""
    for path, _kind, probe, _container in _probes(doc):
        handlers = [h for h in _HANDLERS if h in probe]
        if len(handlers) != 1:
            yield path, f"expected exactly one handler, got {handlers or 'none'}"


@rule("serving/probe-port", SERVICE)
def probe_port(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """A probe port, if set, is the serving port (its number or its name)."""
    for path, _kind, probe, container in _probes(doc):
        serving = _map(_list(container.get("ports"))[0]) if _list(container.get("ports")) else {}
        allowed = {
            serving.get("containerPort", c.KNATIVE_DEFAULT_CONTAINER_PORT),
            serving.get("name"),
        }
        for handler in ("httpGet", "tcpSocket", "grpc"):
            port = _map(probe.get(handler)).get("port")
            if port is not None and (port not in allowed or port == ""):
                yield f"{path}.{handler}.port", f"probe port {port!r} must be the serving port"


@rule("serving/probe-thresholds", SERVICE)
def probe_thresholds(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """periodSeconds 0 (readiness) forbids timeout/failure thresholds; else both >= 1."""
    for path, kind, probe, _container in _probes(doc):
        if kind == "readinessProbe" and probe.get("periodSeconds") == 0:
            for key in ("failureThreshold", "timeoutSeconds"):
                if key in probe:
                    yield f"{path}.{key}", f"{key} is disallowed when periodSeconds is 0"
        else:
            for key in ("failureThreshold", "timeoutSeconds"):
                value = probe.get(key)
                if value is not None and (not isinstance(value, int) or value < 1):
                    yield f"{path}.{key}", f"{key} must be >= 1"
        value = probe.get("successThreshold")
        if value is not None and (not isinstance(value, int) or value < 1):
            yield f"{path}.successThreshold", "successThreshold must be >= 1"


# --------------------------------------------------------------------------------------------
# Knative Service: traffic (route_validation.go)
# --------------------------------------------------------------------------------------------


def _traffic(doc: Doc) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for index, entry in enumerate(_list(_dig(doc, "spec", "traffic"))):
        yield f"spec.traffic[{index}]", _map(entry)


@rule("traffic/percent-sum", SERVICE)
def traffic_percent_sum(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Percents sum to exactly 100 (a missing percent counts 0)."""
    entries = list(_traffic(doc))
    if not entries:
        return
    total = sum(p for _, e in entries if isinstance(p := e.get("percent", 0), int))
    if total != c.TRAFFIC_TOTAL_PERCENT:
        yield "spec.traffic", f"traffic targets sum to {total}, want 100"


@rule("traffic/percent-range", SERVICE)
def traffic_percent_range(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Each percent is 0..100."""
    for path, entry in _traffic(doc):
        error = limits.percent_error(entry.get("percent", 0))
        if error:
            yield f"{path}.percent", error


@rule("traffic/tag-dns1035", SERVICE)
def traffic_tag(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """A tag is a DNS-1035 label."""
    for path, entry in _traffic(doc):
        if "tag" in entry and not is_dns1035_label(entry["tag"]):
            yield f"{path}.tag", f"tag {entry['tag']!r} must be a DNS-1035 label"


@rule("traffic/tag-unique", SERVICE)
def traffic_tag_unique(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Tags are unique."""
    seen: set[Any] = set()
    for path, entry in _traffic(doc):
        tag = entry.get("tag")
        if tag is not None and tag in seen:
            yield f"{path}.tag", f"tag {tag!r} is used more than once"
        seen.add(tag)


@rule("traffic/configuration-name-forbidden", SERVICE)
def traffic_configuration_name(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """configurationName is forbidden in a Service's traffic."""
    for path, entry in _traffic(doc):
        if "configurationName" in entry:
            yield f"{path}.configurationName", "configurationName is not allowed in a Service"


@rule("traffic/latest-revision-xor-revision-name", SERVICE)
def traffic_latest_xor_name(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """latestRevision is true exactly when revisionName is empty."""
    for path, entry in _traffic(doc):
        latest = entry.get("latestRevision")
        if latest is not None and bool(latest) == bool(entry.get("revisionName")):
            yield path, "latestRevision must be true exactly when revisionName is empty"


@rule("traffic/url-forbidden", SERVICE)
def traffic_url(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """url is status-only: forbidden in spec.traffic."""
    for path, entry in _traffic(doc):
        if "url" in entry:
            yield f"{path}.url", "url is not allowed in spec"


def _owner_of(revision: str, services: Iterable[str]) -> str | None:
    """The Service a revision name belongs to: the longest ``<service>-`` prefix it has.

    A Service's revisions are named ``<service>-...`` (generated ``<service>-00001`` or a
    pinned ``spec.template.metadata.name``, which must carry that prefix), so among the
    Services of one check the longest matching name is the owner.
    """
    owners = [s for s in services if revision.startswith(s + "-")]
    return max(owners, key=len) if owners else None


@rule("serving/revision-not-owned", SERVICE, versioned=True)
def revision_not_owned(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """From Knative 1.21 a Service's Route refuses a revision of another Service
    (RevisionNotOwned, route/traffic): each revisionName must be one of this Service's."""
    name = _name(doc)
    if not is_dns1035_label(name):
        return  # serving/name-dns1035 reports the name; ownership needs a valid one
    services = {_name(d) for d in ctx.find(SERVICE) if _namespace(d) == _namespace(doc)}
    services.add(name)
    for path, entry in _traffic(doc):
        revision = entry.get("revisionName")
        if not isinstance(revision, str) or not revision:
            continue
        owner = _owner_of(revision, services)
        if owner != name:
            whose = f"Service {owner!r}" if owner else f"no revision of Service {name!r}"
            yield (
                f"{path}.revisionName",
                f"revision {revision!r} is {whose}; Knative "
                f"{ctx.version.version} marks the Route RevisionNotOwned",
            )


# --------------------------------------------------------------------------------------------
# Container security (own rules: checkov cannot see inside a Knative pod template)
# --------------------------------------------------------------------------------------------


def _security(container: Mapping[str, Any]) -> Mapping[str, Any]:
    return _map(container.get("securityContext"))


@rule("security/run-as-non-root", SERVICE)
def run_as_non_root(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Own rule: runAsNonRoot: true."""
    for path, container in _containers(doc):
        if _security(container).get("runAsNonRoot") is not True:
            yield f"{path}.securityContext.runAsNonRoot", "must be true"


@rule("security/run-as-user-set", SERVICE)
def run_as_user_set(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Own rule: runAsUser is a non-zero UID, stated in the Service.

    With ``secure-pod-defaults`` at ``Enabled`` Knative defaults runAsNonRoot, and the
    kubelet can only verify that against a numeric user; an image whose USER is a name (or
    root) then never starts. A numeric, non-root UID in the Service admits the pod at every
    level (Disabled, AllowRootBounded from 1.20, Enabled) and under the restricted Pod
    Security Standard.
    """
    for path, container in _containers(doc):
        user = _security(container).get("runAsUser")
        if isinstance(user, bool) or not isinstance(user, int) or user <= 0:
            yield f"{path}.securityContext.runAsUser", "must be a non-zero UID"


@rule("security/no-privilege-escalation", SERVICE)
def no_privilege_escalation(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Own rule: allowPrivilegeEscalation: false."""
    for path, container in _containers(doc):
        if _security(container).get("allowPrivilegeEscalation") is not False:
            yield f"{path}.securityContext.allowPrivilegeEscalation", "must be false"


@rule("security/drop-all-capabilities", SERVICE)
def drop_all(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Own rule: capabilities.drop contains ALL and nothing is added."""
    for path, container in _containers(doc):
        caps = _map(_security(container).get("capabilities"))
        if "ALL" not in _list(caps.get("drop")) or caps.get("add"):
            yield f"{path}.securityContext.capabilities", "must drop ALL and add none"


@rule("security/seccomp-runtime-default", SERVICE)
def seccomp(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Own rule: seccompProfile.type RuntimeDefault."""
    for path, container in _containers(doc):
        if _map(_security(container).get("seccompProfile")).get("type") != "RuntimeDefault":
            yield f"{path}.securityContext.seccompProfile", "type must be RuntimeDefault"


@rule("security/read-only-root-filesystem", SERVICE)
def read_only_root(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Own rule: readOnlyRootFilesystem: true (scratch space comes from an emptyDir)."""
    for path, container in _containers(doc):
        if _security(container).get("readOnlyRootFilesystem") is not True:
            yield f"{path}.securityContext.readOnlyRootFilesystem", "must be true"


@rule("security/resources-set", SERVICE)
def resources_set(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Own rule: cpu and memory requests and limits are set and valid quantities."""
    for path, container in _containers(doc):
        resources = _map(container.get("resources"))
        requests, resource_limits = _map(resources.get("requests")), _map(resources.get("limits"))
        for part, resource, message in limits.quantity_errors(requests, resource_limits):
            yield f"{path}.resources.{part}.{resource}", message


@rule("security/request-not-above-limit", SERVICE)
def request_not_above_limit(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """A request above its limit is refused by the API server."""
    for path, container in _containers(doc):
        resources = _map(container.get("resources"))
        requests, resource_limits = _map(resources.get("requests")), _map(resources.get("limits"))
        for _resource, message in limits.request_above_limit_errors(requests, resource_limits):
            yield f"{path}.resources", message


# --------------------------------------------------------------------------------------------
# Eventing: destinations and delivery (duck/v1)
# --------------------------------------------------------------------------------------------


def _destinations(doc: Doc) -> Iterator[tuple[str, Any]]:
    spec = _map(doc.get("spec"))
    group_kind = group_kind_of(doc)
    if group_kind == TRIGGER and "subscriber" in spec:
        yield "spec.subscriber", spec["subscriber"]
    if group_kind == KAFKA_SOURCE and "sink" in spec:
        yield "spec.sink", spec["sink"]
    sink = _map(spec.get("delivery")).get("deadLetterSink")
    if sink is not None:
        yield "spec.delivery.deadLetterSink", sink


@rule("destination/ref-or-uri", TRIGGER, BROKER, KAFKA_SOURCE)
def destination_ref_or_uri(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """A destination has a ref or a uri."""
    for path, dest in _destinations(doc):
        if not _map(dest).get("ref") and not _map(dest).get("uri"):
            yield path, "expected at least one of ref, uri"


@rule("destination/uri-absolute", TRIGGER, BROKER, KAFKA_SOURCE)
def destination_uri(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Without ref the uri is absolute with a host; with ref an absolute uri is an error."""
    for path, dest in _destinations(doc):
        uri = _map(dest).get("uri")
        if not uri:
            continue
        parsed = urlparse(uri) if isinstance(uri, str) else None
        absolute = bool(parsed and parsed.scheme and parsed.netloc)
        if _map(dest).get("ref") and absolute:
            yield f"{path}.uri", "an absolute uri must not be combined with ref"
        if not _map(dest).get("ref") and not absolute:
            yield f"{path}.uri", f"uri {uri!r} must be absolute with a host"


@rule("destination/ref-fields", TRIGGER, BROKER, KAFKA_SOURCE)
def destination_ref(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """A ref needs apiVersion, kind and name."""
    for path, dest in _destinations(doc):
        ref = _map(dest).get("ref")
        if ref is None:
            continue
        missing = _missing_ref_fields(ref)
        if missing:
            yield f"{path}.ref", f"missing field(s): {', '.join(missing)}"


def _delivery(doc: Doc) -> Mapping[str, Any] | None:
    value = _dig(doc, "spec", "delivery")
    return _map(value) if value is not None else None


@rule("delivery/retry-range", TRIGGER, BROKER)
def delivery_retry(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """retry >= 0."""
    delivery = _delivery(doc)
    if delivery is not None and "retry" in delivery:
        error = limits.delivery_retry_error(delivery["retry"])
        if error:
            yield "spec.delivery.retry", error


@rule("delivery/backoff-policy", TRIGGER, BROKER)
def delivery_backoff_policy(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """backoffPolicy is linear or exponential."""
    delivery = _delivery(doc)
    if (
        delivery is not None
        and "backoffPolicy" in delivery
        and delivery["backoffPolicy"] not in c.DELIVERY_BACKOFF_POLICIES
    ):
        yield "spec.delivery.backoffPolicy", "must be linear or exponential"


@rule("delivery/backoff-delay-iso8601", TRIGGER, BROKER)
def delivery_backoff_delay(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """backoffDelay is an ISO-8601 duration (PT0.5S); Go style 2s fails."""
    delivery = _delivery(doc)
    if delivery is not None and "backoffDelay" in delivery:
        try:
            parse_iso8601_duration(delivery["backoffDelay"])
        except ValueError as error:
            yield "spec.delivery.backoffDelay", str(error)


@rule("delivery/timeout-iso8601", TRIGGER, BROKER)
def delivery_timeout(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """timeout is a non-zero ISO-8601 duration."""
    delivery = _delivery(doc)
    if delivery is not None and "timeout" in delivery:
        try:
            if parse_iso8601_duration(delivery["timeout"]) == 0:
                yield "spec.delivery.timeout", "timeout must not be zero"
        except ValueError as error:
            yield "spec.delivery.timeout", str(error)


@rule("delivery/retry-after-max-forbidden", TRIGGER, BROKER)
def delivery_retry_after_max(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """retryAfterMax needs the delivery-retryafter feature flag (off by default)."""
    delivery = _delivery(doc)
    if delivery is not None and "retryAfterMax" in delivery:
        yield "spec.delivery.retryAfterMax", "retryAfterMax is disabled by default"


@rule("delivery/format", TRIGGER, BROKER)
def delivery_format(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """format is json or binary."""
    delivery = _delivery(doc)
    if (
        delivery is not None
        and "format" in delivery
        and delivery["format"] not in c.DELIVERY_FORMATS
    ):
        yield "spec.delivery.format", "format must be json or binary"


# --------------------------------------------------------------------------------------------
# Trigger
# --------------------------------------------------------------------------------------------


@rule("trigger/broker-xor-broker-ref", TRIGGER)
def trigger_broker(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Exactly one of broker and brokerRef."""
    spec = _map(doc.get("spec"))
    if bool(spec.get("broker")) == bool(spec.get("brokerRef")):
        yield "spec", "expected exactly one of broker, brokerRef"


@rule("trigger/subscriber-required", TRIGGER)
def trigger_subscriber(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """subscriber is required."""
    if not _map(doc.get("spec")).get("subscriber"):
        yield "spec.subscriber", "subscriber is required"


_ATTRIBUTE_KEY = re.compile(c.TRIGGER_ATTRIBUTE_KEY_PATTERN)


@rule("trigger/filter-attribute-keys", TRIGGER)
def trigger_filter_keys(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """filter.attributes keys match ^[a-z][a-z0-9]*$."""
    attributes = _map(_dig(doc, "spec", "filter", "attributes"))
    for key in attributes:
        if not isinstance(key, str) or not _ATTRIBUTE_KEY.fullmatch(key):
            yield f"spec.filter.attributes[{key}]", f"attribute {key!r} must match [a-z][a-z0-9]*"


def _cesql_parses(text: Any) -> bool:
    """A conservative CESQL syntax check: non-empty, closed quotes, balanced parentheses."""
    if not isinstance(text, str) or not text.strip():
        return False
    depth = 0
    quote: str | None = None
    for char in text:
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0 and quote is None


def _filter_errors(filters: Any, path: str) -> Iterator[Finding]:
    for index, entry in enumerate(_list(filters)):
        where = f"{path}[{index}]"
        dialects = [d for d in c.TRIGGER_FILTER_DIALECTS if d in _map(entry)]
        if len(dialects) != 1:
            yield where, f"expected exactly one dialect, got {dialects or 'none'}"
            continue
        dialect = dialects[0]
        value = _map(entry)[dialect]
        if dialect in ("exact", "prefix", "suffix"):
            if not _map(value):
                yield f"{where}.{dialect}", "needs at least one attribute"
            for key in _map(value):
                if not _ATTRIBUTE_KEY.fullmatch(str(key)):
                    yield f"{where}.{dialect}", f"attribute {key!r} must match [a-z][a-z0-9]*"
        elif dialect in ("all", "any"):
            yield from _filter_errors(value, f"{where}.{dialect}")
        elif dialect == "not":
            yield from _filter_errors([value], f"{where}.not")
        elif not _cesql_parses(value):
            yield f"{where}.cesql", f"cesql expression {value!r} does not parse"


@rule("trigger/filters-dialect", TRIGGER)
def trigger_filters(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """filters[]: one dialect per entry, valid keys, recursively; cesql must parse."""
    yield from _filter_errors(_dig(doc, "spec", "filters"), "spec.filters")


@rule("trigger/filters-need-supporting-broker", TRIGGER)
def trigger_filters_broker(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Own rule: ``spec.filters`` (the SQL-style dialects) only filter on the Kafka and
    MTChannelBased brokers; another broker delivers every event to the subscriber."""
    if not _list(_dig(doc, "spec", "filters")):
        return
    broker_class_name = _broker_class(_broker_of(doc, ctx))
    if broker_class_name is not None and broker_class_name not in c.FILTERS_BROKER_CLASSES:
        yield (
            "spec.filters",
            f"the {broker_class_name} broker ignores spec.filters; use spec.filter.attributes "
            f"(filters work on {', '.join(c.FILTERS_BROKER_CLASSES)} brokers)",
        )


def _broker_of(doc: Doc, ctx: Context) -> Doc | None:
    name = _dig(doc, "spec", "broker")
    brokers = ctx.find(BROKER, name) if isinstance(name, str) else []
    same = [b for b in brokers if _namespace(b) == _namespace(doc)]
    candidates = same or brokers
    return candidates[0] if candidates else None


def _broker_class(broker: Doc | None) -> str | None:
    value = _annotations(broker).get(c.BROKER_CLASS_ANNOTATION) if broker else None
    return value if isinstance(value, str) else None


@rule("kafka/delivery-order", TRIGGER)
def kafka_delivery_order(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """kafka.eventing.knative.dev/delivery.order is ordered or unordered."""
    value = _annotations(doc).get(c.KAFKA_DELIVERY_ORDER_ANNOTATION)
    if value is not None and value not in c.KAFKA_ORDERINGS:
        yield "metadata.annotations", f"delivery.order {value!r} must be ordered or unordered"


@rule("rabbitmq/parallelism", TRIGGER)
def rabbitmq_parallelism(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """rabbitmq.eventing.knative.dev/parallelism is an integer 1..1000."""
    value = _annotations(doc).get(c.RABBITMQ_PARALLELISM_ANNOTATION)
    if value is None:
        return
    error = limits.rabbitmq_parallelism_error(_int(value), value)
    if error:
        yield "metadata.annotations", error


@rule("rabbitmq/resource-annotations", TRIGGER)
def rabbitmq_resources(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """rabbitmq {cpu,memory}-{request,limit} annotations are quantities, request <= limit."""
    annotations = _annotations(doc)
    values: dict[str, Decimal] = {}
    for key in c.RABBITMQ_RESOURCE_ANNOTATIONS:
        if key in annotations:
            try:
                values[key] = parse_quantity(annotations[key])
            except ValueError as error:
                yield "metadata.annotations", f"{key}: {error}"
    for resource in ("cpu", "memory"):
        request = values.get(f"rabbitmq.eventing.knative.dev/{resource}-request")
        limit = values.get(f"rabbitmq.eventing.knative.dev/{resource}-limit")
        if request is not None and limit is not None and request > limit:
            yield "metadata.annotations", f"{resource}-request must be <= {resource}-limit"


@rule("rabbitmq/trigger-needs-rabbitmq-broker", TRIGGER)
def rabbitmq_annotations_broker(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Own rule: RabbitMQ annotations only mean something on a RabbitMQBroker's Trigger."""
    keys = [k for k in _annotations(doc) if str(k).startswith("rabbitmq.eventing.knative.dev/")]
    broker = _broker_of(doc, ctx)
    if keys and broker is not None and _broker_class(broker) != "RabbitMQBroker":
        yield "metadata.annotations", f"{', '.join(keys)} set but the broker is not RabbitMQ"


# --------------------------------------------------------------------------------------------
# Broker (+ Kafka ConfigMap, RabbitMQ config)
# --------------------------------------------------------------------------------------------


@rule("broker/class-annotation", BROKER)
def broker_class(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """eventing.knative.dev/broker.class is set to an installed class."""
    value = _annotations(doc).get(c.BROKER_CLASS_ANNOTATION)
    if value not in c.BROKER_CLASSES:
        yield (
            "metadata.annotations",
            (f"broker.class {value!r} must be one of {', '.join(c.BROKER_CLASSES)}"),
        )


@rule("broker/config-reference", BROKER)
def broker_config(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """spec.config, when set, names apiVersion, kind and name."""
    config = _dig(doc, "spec", "config")
    if config is not None:
        missing = _missing_ref_fields(config)
        if missing:
            yield "spec.config", f"missing field(s): {', '.join(missing)}"


@rule("kafka/broker-config-kind", BROKER)
def kafka_broker_config(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """A Kafka broker's spec.config is a ConfigMap (KafkaNamespaced: in its namespace)."""
    klass = _broker_class(doc)
    if klass not in ("Kafka", "KafkaNamespaced"):
        return
    config = _map(_dig(doc, "spec", "config"))
    if config.get("kind") != "ConfigMap" or config.get("apiVersion") != "v1":
        yield "spec.config", "a Kafka broker's config must be a v1 ConfigMap"
    if klass == "KafkaNamespaced" and config.get("namespace", _namespace(doc)) != _namespace(doc):
        yield "spec.config.namespace", "KafkaNamespaced needs its ConfigMap in its namespace"


@rule("kafka/config-map", BROKER)
def kafka_config_map(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """The Kafka broker ConfigMap has bootstrap.servers and positive topic settings."""
    if _broker_class(doc) not in ("Kafka", "KafkaNamespaced"):
        return
    config = _map(_dig(doc, "spec", "config"))
    if config.get("kind") != "ConfigMap":
        return
    namespace = config.get("namespace", _namespace(doc))
    for config_map in ctx.find(CONFIG_MAP, config.get("name")):
        if _namespace(config_map) not in (namespace, None):
            continue
        data = _map(config_map.get("data"))
        servers = data.get(c.KAFKA_BOOTSTRAP_SERVERS_KEY)
        if not isinstance(servers, str) or not all(s.strip() for s in servers.split(",")):
            yield "spec.config", f"ConfigMap {config.get('name')}: bootstrap.servers is required"
        for key in (c.KAFKA_PARTITIONS_KEY, c.KAFKA_REPLICATION_KEY):
            if key in data and ((_int(data[key]) or 0) <= 0):
                yield "spec.config", f"ConfigMap {config.get('name')}: {key} must be > 0"


@rule("rabbitmq/broker-config", BROKER)
def rabbitmq_broker_config(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """A RabbitMQ broker's config names a RabbitmqCluster or RabbitmqBrokerConfig fully."""
    if _broker_class(doc) != "RabbitMQBroker":
        return
    config = _map(_dig(doc, "spec", "config"))
    missing = [k for k in ("namespace", "name", "kind", "apiVersion") if not config.get(k)]
    if missing:
        yield "spec.config", f"RabbitMQ broker config needs {', '.join(missing)}"
    elif c.RABBITMQ_CONFIG_KINDS.get(config["kind"]) != config["apiVersion"]:
        yield (
            "spec.config",
            (
                "config must be RabbitmqCluster rabbitmq.com/v1beta1 or RabbitmqBrokerConfig "
                "eventing.knative.dev/v1alpha1"
            ),
        )


# --------------------------------------------------------------------------------------------
# KafkaSource
# --------------------------------------------------------------------------------------------


@rule("kafka/default-partitioner-removed", CONFIG_MAP, versioned=True)
def kafka_default_partitioner(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """The Kafka 4 client of eventing-kafka-broker 1.22+ has no DefaultPartitioner or
    UniformStickyPartitioner: a producer configured with one fails to start."""
    for key, value in _map(doc.get("data")).items():
        if not isinstance(value, str):
            continue
        for line in value.splitlines():
            setting, _, klass = line.partition("=")
            if setting.strip() == c.KAFKA_PARTITIONER_KEY and (
                klass.strip() in c.KAFKA_REMOVED_PARTITIONERS
            ):
                yield (
                    f"data.{key}",
                    f"{klass.strip()} was removed (Knative {ctx.version.version} runs the Kafka "
                    f"4 client); delete the {c.KAFKA_PARTITIONER_KEY} line",
                )


@rule("observability/config-dialect", CONFIG_MAP)
def observability_dialect(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """config-observability/config-tracing use the keys the service's Knative reads:
    OpenCensus/Zipkin up to 1.18, OpenTelemetry from 1.19. A key of the other era is
    ignored, so metrics or traces silently stop."""
    name = _name(doc)
    if name not in versions.OBSERVABILITY_CONFIG_MAPS:
        return
    observability = ctx.version.observability
    if name not in observability.config_maps:
        yield (
            "metadata.name",
            f"Knative {ctx.version.version} does not read {name}: {observability.hint}",
        )
        return
    for key in _map(doc.get("data")):
        key_text = str(key)
        if key_text in observability.foreign_keys or key_text.startswith(
            observability.foreign_prefixes
        ):
            yield (
                f"data.{key_text}",
                f"{key_text} is not a key of Knative {ctx.version.version}'s "
                f"{observability.dialect} configuration: {observability.hint}",
            )


# --------------------------------------------------------------------------------------------
# EventPolicy (eventing.knative.dev/v1alpha1; eventpolicy_validation.go)
# --------------------------------------------------------------------------------------------


@rule("eventpolicy/unsupported-version", EVENT_POLICY, versioned=True)
def event_policy_version(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """EventPolicy is offered where the version's CRD set has it: Knative 1.15 carried it
    only as an early alpha (eventing 1.15.0) and its pinned CRDs do not include it."""
    if not ctx.version.has_event_policy:
        yield (
            "kind",
            f"EventPolicy is not supported for Knative {ctx.version.version}: its CRD set "
            "has no EventPolicy (use Istio's AuthorizationPolicy there, or move to 1.23)",
        )


def _sub_error(sub: Any) -> str | None:
    if not isinstance(sub, str) or not sub:
        return "sub must be a non-empty string"
    if "*" in sub[:-1]:
        return f"sub {sub!r}: '*' is only allowed as the last character"
    return None


@rule("eventpolicy/from-ref-xor-sub", EVENT_POLICY, versioned=True)
def event_policy_from(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Each spec.from entry has exactly one of ref (apiVersion, kind, name) and sub."""
    for index, entry in enumerate(_list(_dig(doc, "spec", "from"))):
        where = f"spec.from[{index}]"
        item = _map(entry)
        if ("ref" in item) == ("sub" in item):
            yield where, "expected exactly one of ref and sub"
        elif "ref" in item:
            missing = _missing_ref_fields(item["ref"])
            if missing:
                yield f"{where}.ref", f"missing {', '.join(missing)}"
        elif (error := _sub_error(item["sub"])) is not None:
            yield f"{where}.sub", error


@rule("eventpolicy/to-ref-xor-selector", EVENT_POLICY, versioned=True)
def event_policy_to(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Each spec.to entry has exactly one of ref (apiVersion, kind, name) and selector."""
    for index, entry in enumerate(_list(_dig(doc, "spec", "to"))):
        where = f"spec.to[{index}]"
        item = _map(entry)
        if ("ref" in item) == ("selector" in item):
            yield where, "expected exactly one of ref and selector"
        elif "ref" in item:
            missing = _missing_ref_fields(item["ref"])
            if missing:
                yield f"{where}.ref", f"missing {', '.join(missing)}"


@rule("kafkasource/required-fields", KAFKA_SOURCE)
def kafka_source_required(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """bootstrapServers, topics (non-empty) and sink are required."""
    spec = _map(doc.get("spec"))
    for key in ("bootstrapServers", "topics", "sink"):
        if not spec.get(key):
            yield f"spec.{key}", f"{key} is required"


@rule("kafkasource/initial-offset", KAFKA_SOURCE)
def kafka_source_offset(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """initialOffset is earliest or latest."""
    value = _map(doc.get("spec")).get("initialOffset")
    if value is not None and value not in c.KAFKA_INITIAL_OFFSETS:
        yield "spec.initialOffset", f"{value!r} must be earliest or latest"


@rule("kafkasource/ordering", KAFKA_SOURCE)
def kafka_source_ordering(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """ordering is ordered or unordered."""
    value = _map(doc.get("spec")).get("ordering")
    if value is not None and value not in c.KAFKA_ORDERINGS:
        yield "spec.ordering", f"{value!r} must be ordered or unordered"


@rule("kafkasource/consumer-group-set", KAFKA_SOURCE)
def kafka_source_group(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Own rule: consumerGroup is immutable and random by default: set it for GitOps."""
    if not _map(doc.get("spec")).get("consumerGroup"):
        yield "spec.consumerGroup", "set consumerGroup explicitly (immutable, random default)"


# --------------------------------------------------------------------------------------------
# Argo CD
# --------------------------------------------------------------------------------------------


@rule("argocd/applicationset-required", APPLICATION_SET)
def appset_required(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """generators, template, template.metadata/spec, spec.destination and spec.project."""
    spec = _map(doc.get("spec"))
    for key in ("generators", "template"):
        if not spec.get(key):
            yield f"spec.{key}", f"{key} is required"
    template = _map(spec.get("template"))
    for key in ("metadata", "spec"):
        if key not in template:
            yield f"spec.template.{key}", f"template.{key} is required"
    for key in ("destination", "project"):
        if key not in _map(template.get("spec")):
            yield f"spec.template.spec.{key}", f"template.spec.{key} is required"


@rule("argocd/applications-sync-policy", APPLICATION_SET)
def appset_sync_policy(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """syncPolicy.applicationsSync is create-only, create-update, create-delete or sync."""
    value = _dig(doc, "spec", "syncPolicy", "applicationsSync")
    if value is not None and value not in c.ARGOCD_APPLICATIONS_SYNC_POLICIES:
        yield "spec.syncPolicy.applicationsSync", f"{value!r} is not a sync policy"


@rule("argocd/automated-fields", APPLICATION_SET, APPLICATION)
def automated_fields(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """syncPolicy.automated has only prune, selfHeal, allowEmpty (booleans)."""
    base = ("spec", "template", "spec") if group_kind_of(doc) == APPLICATION_SET else ("spec",)
    automated = _dig(doc, *base, "syncPolicy", "automated")
    for key, value in _map(automated).items():
        if key not in c.ARGOCD_AUTOMATED_FIELDS or not isinstance(value, bool):
            yield ".".join((*base, "syncPolicy.automated", str(key))), "unknown or non-boolean"


@rule("argocd/go-template-missingkey-error", APPLICATION_SET)
def go_template_missingkey(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Own rule: goTemplate with missingkey=error, so a typo fails instead of rendering."""
    spec = _map(doc.get("spec"))
    if not spec.get("goTemplate") or "missingkey=error" not in _list(spec.get("goTemplateOptions")):
        yield "spec.goTemplateOptions", "use goTemplate: true with missingkey=error"


def _generators(generators: Any, path: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for index, generator in enumerate(_list(generators)):
        where = f"{path}[{index}]"
        yield where, _map(generator)
        for nested in ("matrix", "merge"):
            if nested in _map(generator):
                yield from _generators(
                    _map(_map(generator)[nested]).get("generators"), f"{where}.{nested}.generators"
                )


@rule("argocd/git-generator", APPLICATION_SET)
def git_generator(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """A git generator needs repoURL and revision; files/directories entries need path."""
    for path, generator in _generators(_dig(doc, "spec", "generators"), "spec.generators"):
        git = generator.get("git")
        if git is None:
            continue
        for key in ("repoURL", "revision"):
            if not _map(git).get(key):
                yield f"{path}.git.{key}", f"{key} is required"
        for part in ("files", "directories"):
            for entry in _list(_map(git).get(part)):
                if not _map(entry).get("path"):
                    yield f"{path}.git.{part}", "every entry needs a path"


@rule("argocd/matrix-generator", APPLICATION_SET)
def matrix_generator(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """A matrix has exactly 2 child generators and nests at most once."""
    for path, generator in _generators(_dig(doc, "spec", "generators"), "spec.generators"):
        matrix = generator.get("matrix")
        if matrix is None:
            continue
        children = _list(_map(matrix).get("generators"))
        if len(children) != 2:
            yield f"{path}.matrix", "a matrix needs exactly 2 child generators"
        if path.count(".matrix.") + path.count(".merge.") >= 1:
            for child in children:
                if "matrix" in _map(child) or "merge" in _map(child):
                    yield f"{path}.matrix", "matrix/merge generators nest only once"


@rule("argocd/merge-generator", APPLICATION_SET)
def merge_generator(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """A merge has at least 2 generators and mergeKeys."""
    for path, generator in _generators(_dig(doc, "spec", "generators"), "spec.generators"):
        merge = generator.get("merge")
        if merge is None:
            continue
        if len(_list(_map(merge).get("generators"))) < 2 or not _map(merge).get("mergeKeys"):
            yield f"{path}.merge", "a merge needs >= 2 generators and mergeKeys"


@rule("argocd/destination-server-xor-name", APPLICATION_SET, APPLICATION)
def destination_server_xor_name(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """An Application's destination has exactly one of server and name."""
    base = ("spec", "template", "spec") if group_kind_of(doc) == APPLICATION_SET else ("spec",)
    destination = _map(_dig(doc, *base, "destination"))
    if bool(destination.get("server")) == bool(destination.get("name")):
        yield ".".join((*base, "destination")), "set exactly one of server and name"


@rule("argocd/project-literal", APPLICATION_SET)
def project_literal(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """A templated project is refused by `argocd appset generate`."""
    project = _dig(doc, "spec", "template", "spec", "project")
    if not isinstance(project, str) or "{{" in project:
        yield "spec.template.spec.project", f"project {project!r} must be a literal name"


@rule("argocd/project-exists", APPLICATION_SET, APPLICATION)
def project_exists(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """The Application's project is rendered alongside it (or is Argo CD's default)."""
    base = ("spec", "template", "spec") if group_kind_of(doc) == APPLICATION_SET else ("spec",)
    project = _dig(doc, *base, "project")
    if (
        isinstance(project, str)
        and "{{" not in project  # reported by argocd/project-literal
        and project != "default"
        and not ctx.find(APP_PROJECT, project)
    ):
        yield ".".join((*base, "project")), f"AppProject {project!r} is not rendered"


def _applications(doc: Doc) -> list[dict[str, Any]] | str:
    try:
        return generate_applications(doc)
    except TemplateError as error:
        return str(error)


def _application_names_elsewhere(doc: Doc, ctx: Context) -> set[str]:
    """Application names other ApplicationSets or plain Applications already claim."""
    names = {_name(a) for a in ctx.find(APPLICATION)}
    for other in ctx.find(APPLICATION_SET):
        if _name(other) != _name(doc):
            applications = _applications(other)
            if not isinstance(applications, str):
                names.update(_name(a) for a in applications)
    return names


@rule("argocd/generated-applications", APPLICATION_SET)
def generated_applications(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Generated Applications: names unique DNS-1123 <= 63 (tracking label), templates ok."""
    applications = _applications(doc)
    if isinstance(applications, str):
        yield "spec", f"cannot expand the ApplicationSet: {applications}"
        return
    elsewhere = _application_names_elsewhere(doc, ctx)
    seen: set[str] = set()
    for application in applications:
        name = _name(application)
        if name in seen or name in elsewhere:
            yield "spec.template.metadata.name", f"duplicate Application name {name!r}"
        seen.add(name)
        if not is_dns1123_subdomain(name) or len(name) > c.ARGOCD_INSTANCE_LABEL_MAX_LENGTH:
            yield (
                "spec.template.metadata.name",
                (
                    f"Application name {name!r} must be a DNS-1123 name of at most 63 characters "
                    "(the app.kubernetes.io/instance tracking label is cut at 63)"
                ),
            )


@rule("argocd/project-permits-application", APPLICATION_SET)
def project_permits(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """Own rule: the AppProject allows each generated Application's repo and destination."""
    applications = _applications(doc)
    if isinstance(applications, str):
        return
    for application in applications:
        spec = _map(application.get("spec"))
        projects = ctx.find(APP_PROJECT, spec.get("project"))
        if not projects:
            continue
        project = _map(projects[0].get("spec"))
        repo = _map(spec.get("source")).get("repoURL")
        repos = _list(project.get("sourceRepos"))
        if "*" not in repos and repo not in repos:
            yield "spec.template.spec.source.repoURL", f"{repo!r} is not in sourceRepos"
        dest = _map(spec.get("destination"))
        allowed = any(
            _map(d).get("namespace") in ("*", dest.get("namespace"))
            and (
                _map(d).get("server") in ("*", dest.get("server"))
                or _map(d).get("name") in ("*", dest.get("name"))
            )
            for d in _list(project.get("destinations"))
        )
        if not allowed:
            yield (
                "spec.template.spec.destination",
                (f"{_name(application)}: destination {dict(dest)} is not allowed by the project"),
            )


# --------------------------------------------------------------------------------------------
# Istio (istiod validation, net-istio and Knative's Istio guidance)
# --------------------------------------------------------------------------------------------


@rule("istio/peer-authentication-port-level", PEER_AUTHENTICATION)
def peer_auth_port_level(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """portLevelMtls needs a selector, and port 0 is invalid."""
    spec = _map(doc.get("spec"))
    port_level = _map(spec.get("portLevelMtls"))
    if port_level and not _map(_map(spec.get("selector")).get("matchLabels")):
        yield "spec.portLevelMtls", "portLevelMtls requires a workload selector"
    for port in port_level:
        if str(port) == "0":
            yield "spec.portLevelMtls", "port must not be 0"


@rule("istio/knative-serving-permissive", PEER_AUTHENTICATION)
def knative_serving_permissive(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """knative-serving stays PERMISSIVE (net-istio's webhook PeerAuthentication)."""
    mode = _dig(doc, "spec", "mtls", "mode")
    if _namespace(doc) == c.KNATIVE_SERVING_NAMESPACE and mode == "STRICT":
        yield "spec.mtls.mode", "knative-serving must keep PERMISSIVE for its webhooks"


@rule("istio/authorization-policy-rules", AUTHORIZATION_POLICY)
def authz_rules(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """DENY and CUSTOM policies need rules; CUSTOM needs provider.name."""
    spec = _map(doc.get("spec"))
    action = spec.get("action", "ALLOW")
    if action in ("DENY", "CUSTOM") and not _list(spec.get("rules")):
        yield "spec.rules", f"{action} requires rules"
    if action == "CUSTOM" and not _map(spec.get("provider")).get("name"):
        yield "spec.provider", "CUSTOM requires provider.name"


@rule("istio/authorization-policy-empty-source", AUTHORIZATION_POLICY)
def authz_empty_source(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """`from: []` and an empty source are errors."""
    for index, raw in enumerate(_list(_dig(doc, "spec", "rules"))):
        entry = _map(raw)
        if "from" in entry and not _list(entry.get("from")):
            yield f"spec.rules[{index}].from", "from must not be empty"
        for pos, source in enumerate(_list(entry.get("from"))):
            if not _map(_map(source).get("source")):
                yield f"spec.rules[{index}].from[{pos}].source", "source must not be empty"


@rule("istio/authorization-policy-single-target", AUTHORIZATION_POLICY)
def authz_single_target(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """At most one of selector, targetRef, targetRefs."""
    present = [k for k in ("selector", "targetRef", "targetRefs") if k in _map(doc.get("spec"))]
    if len(present) > 1:
        yield "spec", f"only one of selector, targetRef, targetRefs: {present}"


@rule("istio/authorization-policy-allows-knative", AUTHORIZATION_POLICY)
def authz_allows_knative(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """An ALLOW policy admits knative-serving (the activator forwards requests)."""
    spec = _map(doc.get("spec"))
    if spec.get("action", "ALLOW") != "ALLOW" or not _list(spec.get("rules")):
        return
    for entry in _list(spec.get("rules")):
        for source in _list(_map(entry).get("from")):
            namespaces = _list(_map(_map(source).get("source")).get("namespaces"))
            if c.KNATIVE_SERVING_NAMESPACE in namespaces:
                return
    yield "spec.rules", "allow source namespace knative-serving (activator-forwarded traffic)"


@rule("istio/no-private-destination-rule", DESTINATION_RULE)
def no_private_destination_rule(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """net-istio owns <rev>-private DestinationRules; rely on auto-mTLS."""
    host = _dig(doc, "spec", "host")
    if isinstance(host, str) and host.split(".")[0].endswith("-private"):
        yield "spec.host", f"{host!r}: net-istio owns the -private hosts' DestinationRules"


@rule("istio/destination-rule-mutual-certs", DESTINATION_RULE)
def destination_rule_mutual(doc: Doc, ctx: Context) -> Iterator[Finding]:
    """MUTUAL TLS needs client certificates (ISTIO_MUTUAL does not)."""
    tls = _map(_dig(doc, "spec", "trafficPolicy", "tls"))
    if tls.get("mode") == "MUTUAL" and not (
        tls.get("credentialName") or (tls.get("clientCertificate") and tls.get("privateKey"))
    ):
        yield "spec.trafficPolicy.tls", "MUTUAL needs credentialName or client certificates"


# --------------------------------------------------------------------------------------------
# Running the rules
# --------------------------------------------------------------------------------------------


def _applies(kinds: tuple[tuple[str, str], ...], group_kind: tuple[str, str]) -> bool:
    return ANY_KIND in kinds or group_kind in kinds


def _findings(doc: Doc, ctx: Context, *, warnings: bool) -> list[Violation]:
    """The rules of one severity on one document (after Knative defaulting)."""
    if not isinstance(doc, Mapping):
        return [] if warnings else [Violation("k8s/name", "a manifest must be a mapping")]
    defaulted = apply_knative_defaults(doc)
    group_kind = group_kind_of(doc)
    kind, name = group_kind[1], _name(doc)
    found = []
    for rule_name, function in RULES.items():
        if rule_name in VERSIONED_RULES and rule_name not in ctx.version.rules:
            continue
        if (rule_name in WARNING_RULES) is warnings and _applies(RULE_KINDS[rule_name], group_kind):
            for path, message in function(defaulted, ctx):
                found.append(Violation(rule_name, message, kind, name, path))
    return found


def check_document(doc: Doc, ctx: Context) -> list[Violation]:
    """Every rule that is no warning on one document (after Knative defaulting)."""
    return _findings(doc, ctx, warnings=False)


def _context(docs: list[dict[str, Any]], version: versions.KnativeVersion | None) -> Context:
    return Context(
        documents=[d for d in docs if isinstance(d, Mapping)],
        version=version or versions.get(None),
    )


def rules_for(version: versions.KnativeVersion) -> list[str]:
    """The names of the rules that run for ``version`` (every unversioned rule included)."""
    return [n for n in RULES if n not in VERSIONED_RULES or n in version.rules]


def check_documents(
    docs: list[dict[str, Any]], version: versions.KnativeVersion | None = None
) -> list[Violation]:
    """Every rule of ``version`` (default: the unstated version) on every document;
    cross-document rules see all of ``docs``.

    Returns the violations; the warning rules' findings are ``check_warnings``'.
    """
    ctx = _context(docs, version)
    violations: list[Violation] = []
    for doc in docs:
        violations.extend(check_document(doc, ctx))
    return violations


def check_warnings(
    docs: list[dict[str, Any]], version: versions.KnativeVersion | None = None
) -> list[Violation]:
    """The findings of the warning rules (``WARNING_RULES``) on every document."""
    ctx = _context(docs, version)
    warnings: list[Violation] = []
    for doc in docs:
        warnings.extend(_findings(doc, ctx, warnings=True))
    return warnings
