"""Create, update and delete Knative resources at run time, from build events.

A build-complete event deploys one Knative Service per (third-party id, parser id) with its
ServiceAccount, ConfigMap and Trigger; a delete event removes all four. The resources come
from the same config models and generators the GitOps manifests use
(``knative_manifests.config`` and ``knative_manifests.manifest``), so a run-time Service
obeys the same admission rules as the GitOps one. Install with the ``service-manager``
extra (``knative-events[service-manager]``).

Nothing here knows the service that manages: it passes a :class:`ManagerDefaults` (its
name, its event prefix, its broker and revision settings), which ``SERVICE_MANAGER_*``
environment variables override. Its handlers hold a :class:`ManagerProvider`::

    defaults = ManagerDefaults(
        manager_name="builder",
        event_prefix="com.acme",
        service_settings={
            "cpu_request": "100m", "cpu_limit": "1", "memory_request": "256Mi",
            "memory_limit": "1Gi", "istio_sidecar": False,
        },
    )
    provider = ManagerProvider(defaults)

    @registry.on("com.acme.build.completed", data=BuildCompletion)
    async def build_completed(event: CloudEvent, data: BuildCompletion) -> None:
        manager = provider.get()
        name = manager.generate_service_name(data.third_party_id, data.parser_id)
        await manager.create_service(name, data)

Why lightkube and not kubernetes-asyncio: lightkube is small, typed (mypy sees real
signatures), async over httpx, and talks to CRDs such as Knative's Service and Trigger
through ``create_namespaced_resource`` without generated code. kubernetes-asyncio is a
generated client of the whole API whose CRD access goes through untyped
``CustomObjectsApi`` dicts and which pulls in aiohttp plus a large generated package.

Behaviour worth knowing:

* Creation order: ServiceAccount and ConfigMap first (the Service's pods need both), then
  the Service and the Trigger at the same time. Resources of one phase run concurrently;
  ``parallel=False`` runs the four one after the other (the benchmark's baseline).
* Create on an existing service is an update: a fresh read gives the resourceVersion sent
  with a JSON merge patch, so a concurrent writer makes the server answer 409 Conflict;
  that is re-read and retried a bounded number of times. A new image changes the revision
  template, so Knative rolls out a new revision and shifts traffic once it is ready.
* A change to an immutable field (a Trigger's ``spec.broker``) deletes and recreates.
* If a resource of a phase fails, both errors are reported (``ServiceCreationError``) and
  the resources this call created are deleted again; resources that existed before the
  call are never deleted by a failed update. A cancelled call (a handler timeout) waits
  for the answers of the creates it already sent, shielded, and removes what they made.
* Delete removes Trigger, Service, ConfigMap, ServiceAccount in that order; a 404 counts
  as success, so deleting twice is fine.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, NamedTuple, TypeVar

from knative_manifests import constants as c
from knative_manifests.config import DeliveryConfig, KnativeServiceConfig, TriggerConfig
from knative_manifests.formats import is_dns1035_label
from knative_manifests.manifest import (
    config_map_manifest,
    service_account_manifest,
    service_to_manifest,
    trigger_manifest,
)
from lightkube import ApiError, AsyncClient, ConfigError, KubeConfig
from lightkube.generic_resource import create_namespaced_resource
from lightkube.resources.core_v1 import ConfigMap, ServiceAccount
from lightkube.types import PatchType
from prometheus_client import CollectorRegistry, Counter, Histogram
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .cloudevents.errors import DependencyUnavailableError, SenderNotAllowedError
from .metrics import SHARED_COLLECTORS

logger = logging.getLogger(__name__)

T = TypeVar("T")

# --- What a service's managed services get by default -------------------------------------
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
LABEL_NAME: Final = "app.kubernetes.io/name"
DEFAULT_NAME_PREFIX: Final = "lambda"
#: Container of a managed service; its ConfigMap provides the ids as env vars.
CONTAINER_NAME: Final = "parser"
#: The revision settings a service may choose for its managed services (``service_settings``).
SERVICE_SETTING_KEYS: Final = frozenset(
    {
        "autoscaling_class",
        "autoscaling_metric",
        "autoscaling_target",
        "min_scale",
        "max_scale",
        "scale_down_delay",
        "container_concurrency",
        "timeout_seconds",
        "cpu_request",
        "cpu_limit",
        "memory_request",
        "memory_limit",
        "istio_sidecar",
    }
)
#: The revision settings Knative has no default for: every service must say them.
REQUIRED_SERVICE_SETTING_KEYS: Final = frozenset(
    {"cpu_request", "cpu_limit", "memory_request", "memory_limit", "istio_sidecar"}
)


@dataclass(frozen=True)
class ManagerDefaults:
    """What one service's ServiceManager deploys unless SERVICE_MANAGER_* settings say otherwise.

    The service that manages builds passes its own (its name, its event types' prefix, its
    broker and revision settings); the package knows none of them. ``service_settings``
    takes the revision settings of ``SERVICE_SETTING_KEYS`` and must name the resources
    and the Istio sidecar (``REQUIRED_SERVICE_SETTING_KEYS``), which Knative has no
    default for; a key left out keeps the Knative default of
    ``knative_manifests.config.KnativeServiceConfig``.
    """

    manager_name: str
    """Who manages the run-time resources (``app.kubernetes.io/managed-by``, field manager)."""
    event_prefix: str
    """Prefix of the CloudEvent types and sources of managed services' Triggers."""
    broker: str = "default"
    broker_class: str = "MTChannelBasedBroker"
    rabbitmq_parallelism: int = 50
    delivery_retry: int = 5
    delivery_backoff_policy: str = "exponential"
    delivery_backoff_delay: str = "PT1S"
    dead_letter_sink: str = ""
    service_settings: Mapping[str, Any] = field(kw_only=True)
    """Revision settings of every managed service (keys of ``SERVICE_SETTING_KEYS``)."""
    allowed_sources: Sequence[str] = field(kw_only=True)
    """The CloudEvent ``source`` values build and delete events may come from (exact
    matches); an event from any other source is a 403. Empty refuses every event."""
    allowed_registries: Sequence[str] = field(kw_only=True)
    """Image prefixes (``registry[/path]``) a build may deploy from, matched at a path
    boundary; any other image is a 403. Empty refuses every image. Both lists are kept
    as tuples."""

    def __post_init__(self) -> None:
        if not is_dns1035_label(self.manager_name):
            raise ValueError(
                f"manager_name {self.manager_name!r} must be a DNS-1035 label (it is a label "
                "value and part of the label domain)"
            )
        if not self.event_prefix or not _EVENT_PREFIX.fullmatch(self.event_prefix):
            raise ValueError(
                f"event_prefix {self.event_prefix!r} must be dot-separated words such as "
                "'com.example'"
            )
        unknown = set(self.service_settings) - SERVICE_SETTING_KEYS
        if unknown:
            raise ValueError(
                f"service_settings has unknown keys {', '.join(sorted(unknown))}; known: "
                f"{', '.join(sorted(SERVICE_SETTING_KEYS))}"
            )
        missing = REQUIRED_SERVICE_SETTING_KEYS - set(self.service_settings)
        if missing:
            raise ValueError(
                f"service_settings must give {', '.join(sorted(missing))}: Knative has no "
                "default for them"
            )
        object.__setattr__(self, "service_settings", MappingProxyType(dict(self.service_settings)))
        object.__setattr__(self, "allowed_sources", tuple(self.allowed_sources))
        registries = tuple(prefix.rstrip("/") for prefix in self.allowed_registries)
        for prefix in registries:
            if not _REGISTRY_PREFIX.fullmatch(prefix):
                raise ValueError(
                    f"allowed_registries entry {prefix!r} must be a lowercase registry host "
                    "with an optional path, such as 'ghcr.io/acme'"
                )
        object.__setattr__(self, "allowed_registries", registries)

    def check_source(self, source: str) -> None:
        """Refuse (403, naming ``source``) an event whose source is not an allowed one."""
        if source not in self.allowed_sources:
            allowed = ", ".join(self.allowed_sources) or "none are configured"
            raise SenderNotAllowedError(
                f"events from source {source!r} may not manage services (allowed: {allowed})",
                attribute="source",
            )

    def check_image(self, image_uri: str) -> None:
        """Refuse (403, naming ``image_uri``) an image outside the allowed registries."""
        if not any(image_uri.startswith(prefix + "/") for prefix in self.allowed_registries):
            allowed = ", ".join(self.allowed_registries) or "none are configured"
            raise SenderNotAllowedError(
                f"image_uri {image_uri!r} is not in an allowed registry (allowed: {allowed})",
                attribute="image_uri",
            )

    @property
    def label_domain(self) -> str:
        """Labels and annotations of managed resources live under this prefix."""
        return f"builds.{self.manager_name}"

    @property
    def label_third_party_id(self) -> str:
        """Label (and annotation) key of the third-party id."""
        return f"{self.label_domain}/third-party-id"

    @property
    def label_parser_id(self) -> str:
        """Label (and annotation) key of the parser id."""
        return f"{self.label_domain}/parser-id"

    @property
    def label_content_hash(self) -> str:
        """Label (and annotation) key of the build's content hash."""
        return f"{self.label_domain}/content-hash"

    @property
    def event_type(self) -> str:
        """The type every managed service's Trigger filters on."""
        return f"{self.event_prefix}.parser.start"

    @property
    def source_prefix(self) -> str:
        """Triggers filter on the source ``<source_prefix>.<third_party_id>``."""
        return self.event_prefix

    def settings_values(self) -> dict[str, Any]:
        """These defaults as ``ServiceManagerSettings`` field values."""
        return {
            "broker": self.broker,
            "broker_class": self.broker_class,
            "event_type": self.event_type,
            "source_prefix": self.source_prefix,
            "delivery_retry": self.delivery_retry,
            "delivery_backoff_policy": self.delivery_backoff_policy,
            "delivery_backoff_delay": self.delivery_backoff_delay,
            "dead_letter_sink": self.dead_letter_sink,
            "rabbitmq_parallelism": self.rabbitmq_parallelism,
        }


# --- Names and label values -------------------------------------------------------------------
#: Hex digits of the SHA-256 suffix that keeps generated names and label values apart.
HASH_LENGTH: Final = 10
NAME_PREFIX_MAX_LENGTH: Final = 20
_NOT_NAME_CHARS = re.compile(r"[^a-z0-9]+")
_NOT_LABEL_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_CONTENT_HASH = re.compile(r"(?:[a-z0-9]+:)?[0-9a-f]{8,128}")
_IMAGE_REFERENCE = re.compile(
    r"(?P<repository>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?"
)
_REGISTRY_PREFIX = re.compile(
    r"[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
)
_EVENT_PREFIX = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9][A-Za-z0-9_-]*)*")
ID_MAX_LENGTH: Final = 253


def _digest(*parts: str) -> str:
    """A stable short hash of the exact inputs (JSON keeps ("a-b", "c") != ("a", "b-c"))."""
    encoded = json.dumps(list(parts), ensure_ascii=False).encode()
    return hashlib.sha256(encoded).hexdigest()[:HASH_LENGTH]


def _slug(value: str) -> str:
    return _NOT_NAME_CHARS.sub("-", value.lower()).strip("-")


def check_name_prefix(prefix: str) -> str:
    """A name prefix must itself be a short DNS-1035 label (it starts every service name)."""
    if not is_dns1035_label(prefix) or len(prefix) > NAME_PREFIX_MAX_LENGTH:
        raise ValueError(
            f"name prefix {prefix!r} must be a DNS-1035 label of at most "
            f"{NAME_PREFIX_MAX_LENGTH} characters (lowercase letters, digits, '-', "
            "starting with a letter)"
        )
    return prefix


def generate_service_name(
    third_party_id: str,
    parser_id: str,
    *,
    prefix: str = DEFAULT_NAME_PREFIX,
    max_length: int = c.SERVICE_NAME_MAX_LENGTH,
) -> str:
    """``<prefix>-<third-party>-<parser>-<hash>``: a DNS-1035 label of at most ``max_length``.

    The readable middle is lowercased, with every run of other characters turned into one
    '-', and cut to fit. The hash of the exact ids always follows, because the readable
    part alone is not injective: ("a-b", "c") and ("a", "b-c") read the same, and so do
    "Customer_1" and "customer-1". ``max_length`` defaults to the service-name limit that
    leaves room for revision suffixes (``-00001``) inside Kubernetes' 63.
    """
    check_name_prefix(prefix)
    digest = _digest(third_party_id, parser_id)
    budget = max_length - len(prefix) - len(digest) - 2
    if budget < 0:
        raise ValueError(f"max_length {max_length} leaves no room for prefix and hash")
    readable = "-".join(part for part in (_slug(third_party_id), _slug(parser_id)) if part)
    readable = readable[:budget].strip("-")
    return "-".join(part for part in (prefix, readable, digest) if part)


def label_value(raw: str) -> str:
    """``raw`` if it is a valid label value, else a cleaned, cut form with a hash suffix."""
    if len(raw) <= c.DNS_LABEL_MAX_LENGTH and _LABEL_VALUE.fullmatch(raw):
        return raw
    digest = _digest(raw)
    cleaned = _NOT_LABEL_CHARS.sub("-", raw)[: c.DNS_LABEL_MAX_LENGTH - HASH_LENGTH - 1]
    cleaned = cleaned.strip("-_.")
    return f"{cleaned}-{digest}" if cleaned else digest


# --- Event data -------------------------------------------------------------------------------
def _check_id(value: str, what: str) -> str:
    if not value or len(value) > ID_MAX_LENGTH or not _ID.fullmatch(value):
        raise ValueError(
            f"{what} must be 1 to {ID_MAX_LENGTH} letters, digits, '.', '_' or '-', starting "
            f"with a letter or digit, not {value!r}"
        )
    return value


class ServiceRef(BaseModel):
    """Which managed service an event is about: the two ids its name derives from."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    third_party_id: str = Field(description="Owner of the parser (part of name and source).")
    parser_id: str = Field(description="The parser (part of the name, the Trigger's subject).")

    @field_validator("third_party_id")
    @classmethod
    def _third_party_id(cls, value: str) -> str:
        return _check_id(value, "third_party_id")

    @field_validator("parser_id")
    @classmethod
    def _parser_id(cls, value: str) -> str:
        return _check_id(value, "parser_id")


class BuildCompletion(ServiceRef):
    """Data of a build-complete event: what was built and where the image is."""

    content_hash: str = Field(description="Hash of the built source, e.g. a sha256 hex digest.")
    image_uri: str = Field(description="Pinned image reference: registry/repo:tag or @sha256:.")

    @field_validator("content_hash")
    @classmethod
    def _content_hash(cls, value: str) -> str:
        if not _CONTENT_HASH.fullmatch(value):
            raise ValueError(
                "content_hash must be 8 to 128 lowercase hex digits, optionally prefixed with "
                f"an algorithm such as 'sha256:', not {value!r}"
            )
        return value

    @field_validator("image_uri")
    @classmethod
    def _image_uri(cls, value: str) -> str:
        match = _IMAGE_REFERENCE.fullmatch(value)
        if match is None:
            raise ValueError(
                "image_uri must be a lowercase image reference registry/repository[:tag]"
                f"[@sha256:<64 hex>], not {value!r}"
            )
        if match.group("tag") is None and match.group("digest") is None:
            raise ValueError(
                f"image_uri {value!r} must be pinned with a tag or a digest: a build result "
                "without one would silently follow 'latest'"
            )
        if match.group("tag") == "latest":
            raise ValueError(
                f"image_uri {value!r} uses the tag 'latest', which moves with every push; "
                "send the build's own tag or a digest"
            )
        return value


# --- Settings ---------------------------------------------------------------------------------
ENV_PREFIX: Final = "SERVICE_MANAGER_"


class ServiceManagerSettings(BaseSettings):
    """What every managed service shares; each field reads ``SERVICE_MANAGER_<FIELD>``.

    Build it with :meth:`from_defaults` so the service's :class:`ManagerDefaults` fill in
    what the environment does not set. Built directly, the fields default to Knative's own
    defaults, and an empty ``event_type``/``source_prefix`` means "from the
    ManagerDefaults" (the manager resolves them).
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True)

    namespace: str | None = None
    broker: str = "default"
    broker_class: str = "MTChannelBasedBroker"
    name_prefix: str = DEFAULT_NAME_PREFIX
    event_type: str = ""
    source_prefix: str = ""
    delivery_retry: int = 5
    delivery_backoff_policy: str = "exponential"
    delivery_backoff_delay: str = "PT1S"
    dead_letter_sink: str = ""
    rabbitmq_parallelism: int = Field(
        default=50,
        ge=c.RABBITMQ_PARALLELISM_MIN,
        le=c.RABBITMQ_PARALLELISM_MAX,
    )
    require_digest: bool = False
    """Refuse images not pinned by ``@sha256:`` digest (docs/security.md says why it is off)."""
    max_conflict_retries: int = Field(default=5, ge=0, le=50)
    conflict_backoff_seconds: float = Field(default=0.05, ge=0, le=5)

    @field_validator("name_prefix")
    @classmethod
    def _name_prefix(cls, value: str) -> str:
        return check_name_prefix(value)

    @field_validator("broker_class")
    @classmethod
    def _broker_class(cls, value: str) -> str:
        if value not in c.BROKER_CLASSES:
            raise ValueError(f"broker_class must be one of {', '.join(c.BROKER_CLASSES)}")
        return value

    @classmethod
    def from_defaults(cls, defaults: ManagerDefaults, **values: Any) -> ServiceManagerSettings:
        """``values``, else ``SERVICE_MANAGER_*`` from the environment, else ``defaults``.

        pydantic-settings lets keyword arguments win over the environment, so a default
        is passed only for a field whose variable is not set.
        """
        in_environment = {name.upper() for name in os.environ}
        chosen = {
            name: value
            for name, value in defaults.settings_values().items()
            if f"{ENV_PREFIX}{name.upper()}" not in in_environment
        }
        return cls(**{**chosen, **values})

    def delivery(self) -> DeliveryConfig:
        """The Trigger delivery policy; DeliveryConfig enforces Knative's rules on it."""
        return DeliveryConfig(
            retry=self.delivery_retry,
            backoff_policy=self.delivery_backoff_policy,
            backoff_delay=self.delivery_backoff_delay,
            dead_letter_sink=self.dead_letter_sink or None,
        )


# --- Resource kinds ---------------------------------------------------------------------------
KnativeService = create_namespaced_resource("serving.knative.dev", "v1", "Service", "services")
KnativeTrigger = create_namespaced_resource("eventing.knative.dev", "v1", "Trigger", "triggers")

Path = tuple[str, ...]


@dataclass(frozen=True)
class ResourceKind:
    """A kind the manager writes, with the fields that need more than a merge patch."""

    kind: str
    resource: Any
    #: Fields the API server refuses to change: a difference means delete and recreate.
    immutable: tuple[Path, ...] = ()
    #: Optional fields the manager owns: absent in the desired object means remove them.
    owned_optional: tuple[Path, ...] = ()


SERVICE_ACCOUNT: Final = ResourceKind("ServiceAccount", ServiceAccount)
CONFIG_MAP: Final = ResourceKind("ConfigMap", ConfigMap)
SERVICE: Final = ResourceKind("Service", KnativeService)
TRIGGER: Final = ResourceKind(
    "Trigger",
    KnativeTrigger,
    immutable=(("spec", "broker"),),
    owned_optional=(
        ("spec", "delivery", "deadLetterSink"),
        ("metadata", "annotations", c.RABBITMQ_PARALLELISM_ANNOTATION),
    ),
)
#: ServiceAccount and ConfigMap before the Service that mounts them, then Service + Trigger.
CREATE_PHASES: Final = ((SERVICE_ACCOUNT, CONFIG_MAP), (SERVICE, TRIGGER))
#: Stop the event flow first, then the workload, then what the workload used.
DELETE_ORDER: Final = (TRIGGER, SERVICE, CONFIG_MAP, SERVICE_ACCOUNT)


_VERBS: Final = ("get", "create", "patch", "delete")
#: The Role rules a managing service needs, exactly: the verbs the manager calls (a fresh
#: read, create, merge patch, delete) on the four kinds it writes; no list, watch or secrets.
#: A service's Role grants these; the package's tests prove the manager uses no more.
RBAC_RULES: Final[tuple[Mapping[str, tuple[str, ...]], ...]] = (
    MappingProxyType(
        {"apiGroups": ("serving.knative.dev",), "resources": ("services",), "verbs": _VERBS}
    ),
    MappingProxyType(
        {"apiGroups": ("eventing.knative.dev",), "resources": ("triggers",), "verbs": _VERBS}
    ),
    MappingProxyType(
        {"apiGroups": ("",), "resources": ("serviceaccounts", "configmaps"), "verbs": _VERBS}
    ),
)


class ManagedResources(NamedTuple):
    """The four desired objects of one managed service, as API dicts."""

    service_account: dict[str, Any]
    config_map: dict[str, Any]
    service: dict[str, Any]
    trigger: dict[str, Any]

    def for_kind(self, kind: ResourceKind) -> dict[str, Any]:
        """The desired object of ``kind``."""
        by_kind = {
            SERVICE_ACCOUNT.kind: self.service_account,
            CONFIG_MAP.kind: self.config_map,
            SERVICE.kind: self.service,
            TRIGGER.kind: self.trigger,
        }
        return by_kind[kind.kind]


class ApplyOutcome(enum.Enum):
    """What one apply did; only CREATED resources are removed again on failure."""

    CREATED = "created"
    UPDATED = "updated"
    RECREATED = "recreated"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class CreationResult:
    """What ``create_service`` did to each kind."""

    name: str
    outcomes: Mapping[str, ApplyOutcome]
    seconds: float


# --- Errors -----------------------------------------------------------------------------------
class ServiceManagerError(Exception):
    """Base class: something the service manager could not do in the cluster."""


class KubernetesApiError(ServiceManagerError):
    """One failed API call, naming the verb, the resource and the server's answer."""

    def __init__(
        self,
        verb: str,
        kind: str,
        namespace: str,
        name: str,
        *,
        status: int | None,
        reason: str,
        message: str,
    ) -> None:
        self.verb = verb
        self.kind = kind
        self.namespace = namespace
        self.name = name
        self.status = status
        self.reason = reason
        self.message = message
        code = status if status is not None else "no response"
        super().__init__(f"{verb} {kind} {namespace}/{name} failed: {code} {reason}: {message}")

    @property
    def resource(self) -> str:
        """``Kind namespace/name`` for logs."""
        return f"{self.kind} {self.namespace}/{self.name}"


class ConflictRetriesExhaustedError(KubernetesApiError):
    """Every re-read and retry of an update met a newer resourceVersion (409 Conflict)."""


class ServiceCreationError(ServiceManagerError):
    """A create or update failed: every error of the failing phase and what was removed."""

    def __init__(
        self,
        name: str,
        errors: Mapping[str, Exception],
        removed: list[str],
        cleanup_errors: Mapping[str, Exception],
    ) -> None:
        self.name = name
        self.errors = dict(errors)
        self.removed = list(removed)
        self.cleanup_errors = dict(cleanup_errors)
        parts = [f"{kind}: {error}" for kind, error in self.errors.items()]
        message = f"creating service {name} failed: " + "; ".join(parts)
        message += f"; removed what this call created: {', '.join(removed) or 'nothing'}"
        if self.cleanup_errors:
            left = "; ".join(f"{kind}: {error}" for kind, error in self.cleanup_errors.items())
            message += f"; could not remove: {left}"
        super().__init__(message)

    @property
    def exceptions(self) -> list[Exception]:
        """The errors of the failed phase (both, when Service and Trigger failed)."""
        return list(self.errors.values())


def _no_answer(error: ServiceManagerError) -> bool:
    """Whether the API server never answered (connection refused, DNS, timeout).

    Such a failure says nothing about the event, and a later delivery may well succeed,
    so the handler answers 503 (retried) instead of 500 with a generic body.
    """
    if isinstance(error, KubernetesApiError):
        return error.status is None
    if isinstance(error, ServiceCreationError):
        found = error.exceptions
        return bool(found) and all(
            isinstance(e, KubernetesApiError) and e.status is None for e in found
        )
    return False


def _unavailable(action: str, error: ServiceManagerError) -> DependencyUnavailableError:
    return DependencyUnavailableError(
        f"the ServiceManager could not {action}: the Kubernetes API is unavailable ({error})"
    )


def _api_error(
    verb: str, kind: ResourceKind, namespace: str, name: str, error: Exception
) -> KubernetesApiError:
    if isinstance(error, ApiError):
        status = error.status
        code = status.code if status.code is not None else error.response.status_code
        return KubernetesApiError(
            verb,
            kind.kind,
            namespace,
            name,
            status=code,
            reason=status.reason or "",
            message=status.message or "",
        )
    return KubernetesApiError(
        verb,
        kind.kind,
        namespace,
        name,
        status=None,
        reason=type(error).__name__,
        message=str(error),
    )


# --- Metrics ----------------------------------------------------------------------------------
class ServiceManagerMetrics:
    """Creation and deletion counters (by status) and latencies.

    ``registry=None`` leaves them unregistered: ``default_metrics()`` hands them to every
    app's registry instead (``metrics.SHARED_COLLECTORS``), so ``/metrics`` serves them.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.creations = Counter(
            "knative_service_creation_total",
            "Knative services created or updated by the service manager, by status.",
            ["status"],
            registry=registry,
        )
        self.creation_seconds = Histogram(
            "knative_service_creation_duration_seconds",
            "Time to create or update a managed Knative service and its resources.",
            registry=registry,
        )
        self.deletions = Counter(
            "knative_service_deletion_total",
            "Knative services deleted by the service manager, by status.",
            ["status"],
            registry=registry,
        )
        self.deletion_seconds = Histogram(
            "knative_service_deletion_duration_seconds",
            "Time to delete a managed Knative service and its resources.",
            registry=registry,
        )
        for status in ("success", "failure"):  # zeros on the dashboard, not gaps
            self.creations.labels(status=status)
            self.deletions.labels(status=status)

    @property
    def collectors(self) -> tuple[Counter | Histogram, ...]:
        """The four metrics, for registering in a registry."""
        return (self.creations, self.creation_seconds, self.deletions, self.deletion_seconds)


_default_metrics: list[ServiceManagerMetrics] = []


def default_metrics() -> ServiceManagerMetrics:
    """The process-wide metrics, served by every app's ``/metrics`` (created once)."""
    if not _default_metrics:
        metrics = ServiceManagerMetrics()
        _default_metrics.append(metrics)
        SHARED_COLLECTORS.extend(metrics.collectors)
    return _default_metrics[0]


# --- Merge patches ----------------------------------------------------------------------------
def _is_subset(desired: Any, current: Any) -> bool:
    """True when ``current`` already says everything ``desired`` says (server defaults aside)."""
    if isinstance(desired, dict):
        return isinstance(current, dict) and all(
            key in current and _is_subset(value, current[key]) for key, value in desired.items()
        )
    if isinstance(desired, list):
        return (
            isinstance(current, list)
            and len(desired) == len(current)
            and all(_is_subset(d, c_) for d, c_ in zip(desired, current, strict=True))
        )
    return bool(desired == current)


def _diff(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    for key, value in desired.items():
        if key not in current:
            patch[key] = value
        elif isinstance(value, dict) and isinstance(current[key], dict):
            nested = _diff(current[key], value)
            if nested:
                patch[key] = nested
        elif not _is_subset(value, current[key]):
            patch[key] = value
    return patch


def _lookup(obj: Mapping[str, Any], path: Path) -> Any:
    node: Any = obj
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _set_path(obj: dict[str, Any], path: Path, value: Any) -> None:
    node = obj
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def merge_patch(
    current: Mapping[str, Any], desired: Mapping[str, Any], kind: ResourceKind
) -> dict[str, Any]:
    """A JSON merge patch (RFC 7386) that takes ``current`` to ``desired``; {} if none needed.

    Only differences are sent: fields the server or other controllers added (Knative's
    creator annotations, defaulted probes) stay. Optional fields the manager owns are
    removed with ``null`` when the desired object no longer has them.
    """
    patch = _diff(current, {k: v for k, v in desired.items() if k not in ("status",)})
    for path in kind.owned_optional:
        if _lookup(desired, path) is None and _lookup(current, path) is not None:
            _set_path(patch, path, None)
    return patch


def immutable_changes(
    current: Mapping[str, Any], desired: Mapping[str, Any], kind: ResourceKind
) -> list[str]:
    """The immutable fields whose value would change (dotted paths)."""
    return [
        ".".join(path)
        for path in kind.immutable
        if _lookup(current, path) is not None and _lookup(current, path) != _lookup(desired, path)
    ]


# --- The manager ------------------------------------------------------------------------------
class ServiceManager:
    """Creates, updates and deletes managed Knative services in one namespace."""

    def __init__(
        self,
        client: AsyncClient,
        *,
        namespace: str,
        defaults: ManagerDefaults,
        settings: ServiceManagerSettings | None = None,
        metrics: ServiceManagerMetrics | None = None,
        parallel: bool = True,
    ) -> None:
        self._client = client
        self.namespace = namespace
        self.defaults = defaults
        settings = (
            settings if settings is not None else ServiceManagerSettings.from_defaults(defaults)
        )
        unset = {
            name: value
            for name, value in (
                ("event_type", defaults.event_type),
                ("source_prefix", defaults.source_prefix),
            )
            if not getattr(settings, name)
        }
        self.settings = settings.model_copy(update=unset) if unset else settings
        self.metrics = metrics if metrics is not None else default_metrics()
        self.parallel = parallel

    @classmethod
    def from_environment(
        cls,
        defaults: ManagerDefaults,
        *,
        namespace: str | None = None,
        broker: str | None = None,
        settings: ServiceManagerSettings | None = None,
        metrics: ServiceManagerMetrics | None = None,
    ) -> ServiceManager:
        """In-cluster credentials when running in a pod, else ``KUBECONFIG`` (~/.kube/config).

        Settings not given are ``ServiceManagerSettings.from_defaults(defaults)``: the
        ``SERVICE_MANAGER_*`` environment over the service's defaults. The namespace is, in
        order: the argument, ``SERVICE_MANAGER_NAMESPACE``, the pod's own namespace
        (in-cluster) or the kubeconfig context's namespace.
        """
        settings = (
            settings if settings is not None else ServiceManagerSettings.from_defaults(defaults)
        )
        if broker is not None:
            settings = settings.model_copy(update={"broker": broker})
        try:
            config = KubeConfig.from_env()
        except ConfigError as error:
            raise ServiceManagerError(
                "no Kubernetes credentials: not running in a pod with a service account, "
                f"and no kubeconfig ({error}); set KUBECONFIG"
            ) from error
        selected = config.get()
        resolved = namespace or settings.namespace or (selected.namespace if selected else None)
        if not resolved:
            raise ServiceManagerError("no namespace: pass namespace= or set one in kubeconfig")
        client = AsyncClient(config=config, namespace=resolved, field_manager=defaults.manager_name)
        return cls(
            client, namespace=resolved, defaults=defaults, settings=settings, metrics=metrics
        )

    async def aclose(self) -> None:
        """Close the HTTP connections of the client."""
        await self._client.close()

    async def __aenter__(self) -> ServiceManager:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- names and desired objects ----------------------------------------------------------
    def generate_service_name(self, third_party_id: str, parser_id: str) -> str:
        """The managed service's name for these ids (see ``generate_service_name``)."""
        return generate_service_name(third_party_id, parser_id, prefix=self.settings.name_prefix)

    def labels(self, build: ServiceRef) -> dict[str, str]:
        """Labels every managed resource carries (label-value-safe forms of the ids)."""
        defaults = self.defaults
        labels = {
            LABEL_MANAGED_BY: defaults.manager_name,
            defaults.label_third_party_id: label_value(build.third_party_id),
            defaults.label_parser_id: label_value(build.parser_id),
        }
        if isinstance(build, BuildCompletion):
            labels[defaults.label_content_hash] = label_value(build.content_hash)
        return labels

    def build_resources(self, name: str, build: BuildCompletion) -> ManagedResources:
        """The four desired objects, from the same models and generators as the manifests."""
        _check_service_name(name)
        settings = self.settings
        defaults = self.defaults
        labels = {LABEL_NAME: name, **self.labels(build)}
        annotations = {  # exact ids, which labels may have had to shorten
            defaults.label_third_party_id: build.third_party_id,
            defaults.label_parser_id: build.parser_id,
            defaults.label_content_hash: build.content_hash,
        }
        data = {
            "THIRD_PARTY_ID": build.third_party_id,
            "PARSER_ID": build.parser_id,
            "CONTENT_HASH": build.content_hash,
            "IMAGE_URI": build.image_uri,
        }
        service = KnativeServiceConfig(
            name=name,
            image=build.image_uri,
            namespace=self.namespace,
            container_name=CONTAINER_NAME,
            labels=MappingProxyType(labels),
            annotations=MappingProxyType(annotations),
            template_labels=MappingProxyType(labels),
            service_account_name=name,
            config_map_name=name,
            **defaults.service_settings,
        )
        trigger_annotations: dict[str, str] = {}
        if settings.broker_class == "RabbitMQBroker":
            trigger_annotations[c.RABBITMQ_PARALLELISM_ANNOTATION] = str(
                settings.rabbitmq_parallelism
            )
        trigger = TriggerConfig(
            name=name,
            broker=settings.broker,
            subscriber=name,
            namespace=self.namespace,
            filters=MappingProxyType(
                {
                    "type": settings.event_type,
                    "source": f"{settings.source_prefix}.{build.third_party_id}",
                    "subject": build.parser_id,
                }
            ),
            delivery=settings.delivery(),
            labels=MappingProxyType(labels),
            annotations=MappingProxyType(trigger_annotations),
        )
        return ManagedResources(
            service_account=service_account_manifest(
                name, self.namespace, labels=labels, automount_token=False
            ),
            config_map=config_map_manifest(name, data, self.namespace, labels=labels),
            service=service_to_manifest(service),
            trigger=trigger_manifest(trigger),
        )

    # -- public operations -----------------------------------------------------------------
    def check_image(self, image_uri: str) -> None:
        """The allowed registries, and a digest when ``require_digest`` is set (403 if not)."""
        self.defaults.check_image(image_uri)
        if self.settings.require_digest and "@sha256:" not in image_uri:
            raise SenderNotAllowedError(
                f"image_uri {image_uri!r} has no @sha256: digest, which "
                "SERVICE_MANAGER_REQUIRE_DIGEST requires",
                attribute="image_uri",
            )

    async def create_service(self, name: str, build: BuildCompletion) -> CreationResult:
        """Create or update the service ``name`` and its three companions for ``build``.

        The image is checked first (:meth:`check_image`): nothing reaches the cluster for
        an image from elsewhere.
        """
        self.check_image(build.image_uri)
        started = time.perf_counter()
        status = "failure"
        try:
            result = await self._create(name, build, started)
            status = "success"
            return result
        except ServiceManagerError as error:
            if _no_answer(error):
                raise _unavailable(f"create or update {name}", error) from error
            raise
        finally:
            self.metrics.creations.labels(status=status).inc()
            self.metrics.creation_seconds.observe(time.perf_counter() - started)

    async def delete_service(self, name: str) -> list[str]:
        """Delete Trigger, Service, ConfigMap, ServiceAccount; returns the kinds that existed."""
        _check_service_name(name)
        started = time.perf_counter()
        status = "failure"
        try:
            deleted = [kind.kind for kind in DELETE_ORDER if await self._delete(kind, name)]
            status = "success"
            return deleted
        except KubernetesApiError as error:
            logger.error(
                "deleting %s failed at %s: %s",
                name,
                error.resource,
                error,
                extra={"resource": error.resource, "status_code": error.status},
            )
            if _no_answer(error):
                raise _unavailable(f"delete {name}", error) from error
            raise
        finally:
            self.metrics.deletions.labels(status=status).inc()
            self.metrics.deletion_seconds.observe(time.perf_counter() - started)

    async def service_exists(self, name: str) -> bool:
        """Whether the Knative Service ``name`` exists in the namespace."""
        _check_service_name(name)
        return await self._read(SERVICE, name) is not None

    # -- internals -------------------------------------------------------------------------
    async def _create(self, name: str, build: BuildCompletion, started: float) -> CreationResult:
        resources = self.build_resources(name, build)
        phases = (
            CREATE_PHASES
            if self.parallel
            else tuple((kind,) for phase in CREATE_PHASES for kind in phase)
        )
        outcomes: dict[str, ApplyOutcome] = {}
        created = _Created()
        try:
            for phase in phases:
                await self._run_phase(name, phase, resources, outcomes, created)
        except asyncio.CancelledError:
            # E.g. the handler timed out. Creates already sent still complete on the server,
            # so wait for their answers and remove what they made, then stop.
            await asyncio.shield(self._clean_up_cancelled(name, created))
            raise
        seconds = time.perf_counter() - started
        logger.info(
            "service %s ready: %s",
            name,
            ", ".join(f"{kind} {outcome.value}" for kind, outcome in outcomes.items()),
        )
        return CreationResult(name=name, outcomes=outcomes, seconds=seconds)

    async def _run_phase(
        self,
        name: str,
        phase: tuple[ResourceKind, ...],
        resources: ManagedResources,
        outcomes: dict[str, ApplyOutcome],
        created: _Created,
    ) -> None:
        """Apply one phase's kinds at once; on any failure report all and roll back."""
        results = await asyncio.gather(
            *(self._apply(kind, resources.for_kind(kind), created) for kind in phase),
            return_exceptions=True,
        )
        errors: dict[str, Exception] = {}
        for kind, result in zip(phase, results, strict=True):
            if isinstance(result, ApplyOutcome):
                outcomes[kind.kind] = result
            elif isinstance(result, Exception):
                errors[kind.kind] = result
            else:  # KeyboardInterrupt and friends: nothing to report, just stop
                raise result
        if errors:
            for error in errors.values():
                logger.error(
                    "creating %s failed: %s",
                    name,
                    error,
                    extra={
                        "resource": getattr(error, "resource", name),
                        "status_code": getattr(error, "status", None),
                    },
                )
            removed, cleanup_errors = await self._roll_back(name, created.kinds)
            raise ServiceCreationError(name, errors, removed, cleanup_errors)

    async def _clean_up_cancelled(self, name: str, created: _Created) -> None:
        await asyncio.gather(*created.pending, return_exceptions=True)
        removed, cleanup_errors = await self._roll_back(name, created.kinds)
        logger.warning(
            "creating %s was cancelled; removed %s",
            name,
            ", ".join(removed) or "nothing",
            extra={"cleanup_errors": {k: str(e) for k, e in cleanup_errors.items()}},
        )

    async def _roll_back(
        self, name: str, created: set[str]
    ) -> tuple[list[str], dict[str, Exception]]:
        removed: list[str] = []
        cleanup_errors: dict[str, Exception] = {}
        for kind in DELETE_ORDER:
            if kind.kind not in created:
                continue
            try:
                await self._delete(kind, name)
                removed.append(kind.kind)
            except KubernetesApiError as error:
                cleanup_errors[kind.kind] = error
        return removed, cleanup_errors

    async def _call(self, verb: str, kind: ResourceKind, name: str, call: Awaitable[T]) -> T:
        try:
            return await call
        except Exception as error:
            raise _api_error(verb, kind, self.namespace, name, error) from error

    async def _read(self, kind: ResourceKind, name: str) -> dict[str, Any] | None:
        try:
            obj = await self._call(
                "get", kind, name, self._client.get(kind.resource, name, namespace=self.namespace)
            )
        except KubernetesApiError as error:
            if error.status == 404:
                return None
            raise
        return _as_dict(obj)

    async def _delete(self, kind: ResourceKind, name: str) -> bool:
        try:
            await self._call(
                "delete",
                kind,
                name,
                self._client.delete(kind.resource, name, namespace=self.namespace),
            )
        except KubernetesApiError as error:
            if error.status == 404:
                return False
            raise
        return True

    async def _post(
        self, kind: ResourceKind, desired: dict[str, Any], created: _Created | None = None
    ) -> bool:
        """Create; False when it already exists (409).

        With ``created``, a successful create is recorded there even if this coroutine is
        cancelled while waiting: the request runs shielded in its own task.
        """
        name = desired["metadata"]["name"]
        call = self._call(
            "create", kind, name, self._client.create(kind.resource.from_dict(desired))
        )
        try:
            if created is None:
                await call
            else:
                await asyncio.shield(created.track(kind, call))
        except KubernetesApiError as error:
            if error.status == 409:
                return False
            raise
        return True

    async def _apply(
        self, kind: ResourceKind, desired: dict[str, Any], created: _Created | None = None
    ) -> ApplyOutcome:
        """Create, or bring an existing object to ``desired`` (optimistic concurrency)."""
        name: str = desired["metadata"]["name"]
        if await self._post(kind, desired, created):
            return ApplyOutcome.CREATED
        retries = self.settings.max_conflict_retries
        for attempt in range(retries + 1):
            if attempt:
                await asyncio.sleep(self.settings.conflict_backoff_seconds * 2 ** (attempt - 1))
            current = await self._read(kind, name)
            if current is None:  # deleted since the create said it exists
                if await self._post(kind, desired, created):
                    return ApplyOutcome.CREATED
                continue
            changed = immutable_changes(current, desired, kind)
            if changed:
                logger.info(
                    "%s %s: %s cannot change in place; deleting and recreating",
                    kind.kind,
                    name,
                    ", ".join(changed),
                )
                await self._delete(kind, name)
                if await self._post(kind, desired):
                    return ApplyOutcome.RECREATED
                continue  # still terminating (finalizers): read again
            patch = merge_patch(current, desired, kind)
            if not patch:
                return ApplyOutcome.UNCHANGED
            version = _lookup(current, ("metadata", "resourceVersion"))
            if version is not None:
                patch.setdefault("metadata", {})["resourceVersion"] = version
            try:
                await self._call(
                    "patch",
                    kind,
                    name,
                    self._client.patch(
                        kind.resource,
                        name,
                        patch,
                        namespace=self.namespace,
                        patch_type=PatchType.MERGE,
                    ),
                )
            except KubernetesApiError as error:
                if error.status in (404, 409):
                    logger.info("%s %s changed meanwhile (%s); re-reading", kind.kind, name, error)
                    continue
                raise
            return ApplyOutcome.UPDATED
        raise ConflictRetriesExhaustedError(
            "patch",
            kind.kind,
            self.namespace,
            name,
            status=409,
            reason="Conflict",
            message=f"still conflicting after {retries} re-reads",
        )


def _check_service_name(name: str) -> None:
    if not is_dns1035_label(name) or len(name) > c.SERVICE_NAME_MAX_LENGTH:
        raise ValueError(
            f"service name {name!r} must be a DNS-1035 label of at most "
            f"{c.SERVICE_NAME_MAX_LENGTH} characters"
        )


def _as_dict(obj: Any) -> dict[str, Any]:
    result = obj.to_dict()
    if not isinstance(result, dict):  # pragma: no cover - lightkube always returns a dict
        raise TypeError(f"unexpected object {type(obj).__name__}")
    return result


class _Created:
    """The kinds one create_service call has created, and its creates still in flight."""

    def __init__(self) -> None:
        self.kinds: set[str] = set()
        self.pending: set[asyncio.Task[Any]] = set()

    def track(self, kind: ResourceKind, call: Awaitable[Any]) -> asyncio.Task[Any]:
        """Run ``call`` as a task; record ``kind`` when it succeeds, whoever waits for it."""
        task = asyncio.ensure_future(call)
        self.pending.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self.pending.discard(finished)
            if not finished.cancelled() and finished.exception() is None:
                self.kinds.add(kind.kind)

        task.add_done_callback(done)
        return task


# --- For the service's handlers ---------------------------------------------------------------
class ManagerProvider:
    """Builds the ServiceManager on first use, so importing the app needs no cluster.

    A service's build handlers hold one provider made from their ``ManagerDefaults`` and
    call ``get()`` per event. Tests (or an app with its own client) call ``override`` with
    a ready manager.
    """

    def __init__(self, defaults: ManagerDefaults) -> None:
        self.defaults = defaults
        self._manager: ServiceManager | None = None

    def get(self) -> ServiceManager:
        """The manager, created from the environment the first time."""
        if self._manager is None:
            try:
                self._manager = ServiceManager.from_environment(self.defaults)
            except ServiceManagerError as error:
                # No credentials or no cluster: 503, so the event waits in the broker's
                # retries (and then its dead-letter sink) until the pod can reach the API.
                raise _unavailable("start", error) from error
        return self._manager

    def for_event(self, source: str, *, image_uri: str | None = None) -> ServiceManager:
        """The manager for an event from ``source`` (about ``image_uri``, for a build).

        403 unless the source is an allowed one and the image comes from an allowed
        registry. Both are checked before the manager is built, so a refused sender never
        costs a connection to the cluster.
        """
        self.defaults.check_source(source)
        if image_uri is not None:
            self.defaults.check_image(image_uri)
        return self.get()

    def override(self, manager: ServiceManager | None) -> None:
        """Use ``manager`` from now on (None: build from the environment again)."""
        self._manager = manager
