"""The Knative versions this package checks manifests for, as data: one entry per version.

A service says which version its cluster runs (``knative-version`` in its
``[tool.knative-manifests]``, rendered from the template's ``knative_version`` answer), and
everything that differs between versions is looked up here: the CRD sets its schemas come
from (and where ``scripts/fetch-crds.sh`` downloads them), the Kubernetes version whose
built-in schemas check core kinds, the features the manifests may use, the
``config-observability`` dialect, and the version-specific rules ``validate`` runs.
Supporting Knative 1.24 means adding one ``KnativeVersion`` below (its CRD sets, its
Kubernetes version, the rules that changed); no check elsewhere compares version strings.

The table is plain data so the template's ``includes/knative.jinja`` (which Copier renders
without importing Python) can repeat it; the template's tests prove both agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Final


@dataclass(frozen=True)
class CrdFile:
    """One upstream file: its path in the repository and its name in the CRD cache."""

    path: str
    name: str


@dataclass(frozen=True)
class CrdSet:
    """The CRDs of one project at one tag.

    ``folder`` is the directory ``scripts/fetch-crds.sh`` writes them to inside the cache
    (``.crds/<folder>``); ``shared`` is where the pinned copies sit under a shared CRD root
    (the template repository's ``../shared``), so one ``--crds`` directory of either layout
    serves every version.
    """

    folder: str
    shared: str
    repository: str
    tag: str
    files: tuple[CrdFile, ...]


@dataclass(frozen=True)
class Observability:
    """What the version's ``config-observability`` (and ``config-tracing``) read.

    ``foreign_keys`` and ``foreign_prefixes`` are the other dialect's keys: a key of the
    OpenCensus/Zipkin era on an OpenTelemetry release (or the reverse) is ignored by the
    components, so tracing or metrics silently stop. ``config_maps`` are the ConfigMaps the
    version reads at all.
    """

    dialect: str
    config_maps: frozenset[str]
    foreign_keys: frozenset[str]
    foreign_prefixes: tuple[str, ...]
    hint: str


@dataclass(frozen=True)
class KnativeVersion:
    """Everything ``validate`` needs to know about one Knative minor version."""

    version: str
    kubernetes_version: str
    crd_sets: tuple[CrdSet, ...]
    observability: Observability
    #: EventPolicy (eventing.knative.dev/v1alpha1) is offered: the version's CRD set has it.
    #: (Upstream added it in eventing 1.15.0 as an early alpha; the 1.15 pins leave it out.)
    has_event_policy: bool
    #: The version-specific rules (``rule(..., versioned=True)``) this version runs.
    rules: frozenset[str] = field(default_factory=frozenset)


def _files(*paths: str) -> tuple[CrdFile, ...]:
    return tuple(CrdFile(path, path.rpartition("/")[2]) for path in paths)


_SERVING_FILES = tuple(
    f"config/core/300-resources/{n}.yaml" for n in ("service", "configuration", "route", "revision")
)
_EVENTING_FILES = tuple(
    f"config/core/resources/{n}.yaml" for n in ("broker", "trigger", "sinkbindings", "eventtype")
)
_KAFKA_SOURCE = "control-plane/config/eventing-kafka-broker/100-source/100-kafka-source.yaml"
_RABBITMQ_CONFIG = "config/broker/300-rabbitmqbrokerconfig.yaml"

ARGOCD: Final = CrdSet(
    "argo-cd-3.0",
    "crds/argo-cd-3.0",
    "argoproj/argo-cd",
    "v3.0.23",
    _files(
        *(f"manifests/crds/{n}-crd.yaml" for n in ("application", "applicationset", "appproject"))
    ),
)
ISTIO: Final = CrdSet(
    "istio-1.22",
    "crds/istio-1.22",
    "istio/istio",
    "1.22.8",
    (CrdFile("manifests/charts/base/crds/crd-all.gen.yaml", "crds.yaml"),),
)

#: Keys of the OpenCensus/Zipkin era (knative.dev/pkg metrics, profiling, tracing config).
OPENCENSUS_KEYS: Final = frozenset(
    {
        "metrics.backend-destination",
        "metrics.opencensus-address",
        "metrics.opencensus-require-tls",
        "metrics.reporting-period-seconds",
        "metrics.request-metrics-backend-destination",
        "metrics.request-metrics-reporting-period-seconds",
        "profiling.enable",
        "backend",
        "zipkin-endpoint",
        "sample-rate",
        "debug",
    }
)
#: Keys of the OpenTelemetry era (knative.dev/pkg observability, Knative 1.19 and later).
OPENTELEMETRY_KEYS: Final = frozenset(
    {
        "metrics-protocol",
        "metrics-endpoint",
        "metrics-export-interval",
        "request-metrics-protocol",
        "request-metrics-endpoint",
        "request-metrics-export-interval",
        "runtime-profiling",
        "runtime-export-interval",
        "tracing-protocol",
        "tracing-endpoint",
        "tracing-sampling-rate",
    }
)

#: The ConfigMaps whose keys differ between the eras.
OBSERVABILITY_CONFIG_MAPS: Final = frozenset({"config-observability", "config-tracing"})

OPENCENSUS: Final = Observability(
    dialect="OpenCensus/Zipkin",
    config_maps=frozenset({"config-observability", "config-tracing"}),
    foreign_keys=OPENTELEMETRY_KEYS,
    foreign_prefixes=(),
    hint="this release reads metrics.* keys and Zipkin tracing from config-tracing",
)
OPENTELEMETRY: Final = Observability(
    dialect="OpenTelemetry",
    config_maps=frozenset({"config-observability"}),
    foreign_keys=OPENCENSUS_KEYS,
    foreign_prefixes=("metrics.",),
    hint=(
        "since 1.19 config-observability takes metrics-protocol/metrics-endpoint, "
        "request-metrics-*, runtime-profiling and tracing-protocol/tracing-endpoint/"
        "tracing-sampling-rate; config-tracing is no longer read"
    ),
)

KNATIVE_1_15: Final = KnativeVersion(
    version="1.15",
    kubernetes_version="1.30",
    crd_sets=(
        CrdSet(
            "knative-serving-1.15",
            "crds/knative-serving-1.15",
            "knative/serving",
            "knative-v1.15.3",
            _files(*_SERVING_FILES),
        ),
        CrdSet(
            "knative-eventing-1.15",
            "crds/knative-eventing-1.15",
            "knative/eventing",
            "knative-v1.15.5",
            _files(*_EVENTING_FILES),
        ),
        CrdSet(
            "knative-kafka-1.15",
            "crds/knative-kafka-1.15",
            "knative-extensions/eventing-kafka-broker",
            "knative-v1.15.8",
            (CrdFile(_KAFKA_SOURCE, "kafka-source.yaml"),),
        ),
        CrdSet(
            "knative-rabbitmq-1.15",
            "crds/knative-rabbitmq-1.15",
            "knative-extensions/eventing-rabbitmq",
            "knative-v1.15.0",
            (CrdFile(_RABBITMQ_CONFIG, "rabbitmqbrokerconfig.yaml"),),
        ),
        ARGOCD,
        ISTIO,
    ),
    observability=OPENCENSUS,
    has_event_policy=False,
    rules=frozenset({"eventpolicy/unsupported-version"}),
)

KNATIVE_1_23: Final = KnativeVersion(
    version="1.23",
    kubernetes_version="1.34",
    crd_sets=(
        CrdSet(
            "knative-serving-1.23",
            "crds-knative-1.23/serving",
            "knative/serving",
            "knative-v1.23.0",
            _files(*_SERVING_FILES),
        ),
        # The eventing and RabbitMQ files are those of the newest tags the pins come from
        # (../shared/crds-knative-1.23/README.md): eventing's are byte-identical to its
        # 1.23 development line.
        CrdSet(
            "knative-eventing-1.23",
            "crds-knative-1.23/eventing",
            "knative/eventing",
            "knative-v1.22.2",
            _files(
                *_EVENTING_FILES,
                "config/core/resources/eventpolicy.yaml",
                "config/core/resources/jobsink.yaml",
            ),
        ),
        CrdSet(
            "knative-kafka-1.23",
            "crds-knative-1.23/kafka",
            "knative-extensions/eventing-kafka-broker",
            "knative-v1.23.0",
            _files(_KAFKA_SOURCE),
        ),
        CrdSet(
            "knative-rabbitmq-1.23",
            "crds-knative-1.23/rabbitmq",
            "knative-extensions/eventing-rabbitmq",
            "knative-v1.22.1",
            _files(_RABBITMQ_CONFIG),
        ),
        ARGOCD,
        ISTIO,
    ),
    observability=OPENTELEMETRY,
    has_event_policy=True,
    rules=frozenset(
        {
            "serving/revision-not-owned",
            "kafka/default-partitioner-removed",
            "eventpolicy/from-ref-xor-sub",
            "eventpolicy/to-ref-xor-selector",
        }
    ),
)

#: Every supported version, oldest first.
VERSIONS: Final[dict[str, KnativeVersion]] = {v.version: v for v in (KNATIVE_1_15, KNATIVE_1_23)}
#: What a new service targets (the template's default answer).
DEFAULT_VERSION: Final = "1.23"
#: What a service that states no version targets: every service rendered before the
#: ``knative_version`` question existed was a Knative 1.15 service.
UNSTATED_VERSION: Final = "1.15"


class UnknownVersionError(ValueError):
    """A Knative version this package has no data for."""


class CrdSetMissingError(FileNotFoundError):
    """A CRD directory lacks a CRD set of the service's version."""


def get(version: str | None) -> KnativeVersion:
    """The entry for ``version`` (``None``: the unstated version); an unknown one raises."""
    key = UNSTATED_VERSION if version is None else version
    if key not in VERSIONS:
        raise UnknownVersionError(
            f"Knative {key!r} is not supported; the versions are {', '.join(VERSIONS)}"
        )
    return VERSIONS[key]


def crd_directories(crds: Path, version: KnativeVersion) -> list[Path]:
    """The directories under ``crds`` holding each CRD set of ``version``.

    ``crds`` is a cache written by ``scripts/fetch-crds.sh`` (``<crds>/<folder>``) or a
    shared root of pinned copies (``<crds>/<shared>``). A set in neither place raises
    ``CrdSetMissingError``: validating against another version's CRDs must not pass quietly.
    """
    found: list[Path] = []
    for crd_set in version.crd_sets:
        candidates = (crds / crd_set.folder, crds / crd_set.shared)
        directory = next((c for c in candidates if c.is_dir()), None)
        if directory is None:
            raise CrdSetMissingError(
                f"{crds} has no CRDs of {crd_set.repository} {crd_set.tag} for Knative "
                f"{version.version} (looked for {crd_set.folder}/ and {crd_set.shared}/); "
                f"fetch them with `scripts/fetch-crds.sh {crds}`"
            )
        found.append(directory)
    return found


def versioned_rules() -> frozenset[str]:
    """Every rule some version lists (the rest apply to every version)."""
    return frozenset().union(*(v.rules for v in VERSIONS.values()))
