"""Annotation keys, limits and Knative's own defaults: the one source of truth.

Every module that writes or checks a manifest imports its keys and bounds from here, so a
limit cannot be 600 in one place and 900 in another; what differs between Knative versions
is in ``versions.py``. The copier template that renders
services repeats some of these limits in its question validators and its tests prove they
agree with this module. Values are those of the versions below.

There are no defaults of a service's own settings here: a service's scale, resources or
broker come from its manifests (or its template answers), never from this package. The
only defaults are the ones Knative itself applies (``KNATIVE_DEFAULT_*``), which the checks
need to see a manifest the way the admission webhook sees it after defaulting.
"""

from __future__ import annotations

from typing import Final

# --- Versions the rules and schemas describe -------------------------------------------------
# The Knative versions (with the Kubernetes version of each) are data in versions.py.
ISTIO_VERSION: Final = "1.22"
ARGOCD_VERSION: Final = "3.0"

# --- Autoscaling annotation keys (autoscaling.knative.dev, register.go) -------------------
AUTOSCALING_PREFIX: Final = "autoscaling.knative.dev/"

ANNOTATION_CLASS: Final = "autoscaling.knative.dev/class"
ANNOTATION_METRIC: Final = "autoscaling.knative.dev/metric"
ANNOTATION_TARGET: Final = "autoscaling.knative.dev/target"
ANNOTATION_TARGET_UTILIZATION: Final = "autoscaling.knative.dev/target-utilization-percentage"
ANNOTATION_TARGET_BURST_CAPACITY: Final = "autoscaling.knative.dev/target-burst-capacity"
ANNOTATION_MIN_SCALE: Final = "autoscaling.knative.dev/min-scale"
ANNOTATION_MAX_SCALE: Final = "autoscaling.knative.dev/max-scale"
ANNOTATION_INITIAL_SCALE: Final = "autoscaling.knative.dev/initial-scale"
ANNOTATION_ACTIVATION_SCALE: Final = "autoscaling.knative.dev/activation-scale"
ANNOTATION_SCALE_DOWN_DELAY: Final = "autoscaling.knative.dev/scale-down-delay"
ANNOTATION_WINDOW: Final = "autoscaling.knative.dev/window"
ANNOTATION_PANIC_WINDOW_PERCENTAGE: Final = "autoscaling.knative.dev/panic-window-percentage"
ANNOTATION_PANIC_THRESHOLD_PERCENTAGE: Final = "autoscaling.knative.dev/panic-threshold-percentage"
ANNOTATION_SCALE_TO_ZERO_RETENTION: Final = (
    "autoscaling.knative.dev/scale-to-zero-pod-retention-period"
)
ANNOTATION_METRIC_AGGREGATION: Final = "autoscaling.knative.dev/metric-aggregation-algorithm"

# Knative still reads these camelCase spellings; setting both spellings of one key is an error.
LEGACY_ANNOTATION_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    ANNOTATION_MIN_SCALE: ("autoscaling.knative.dev/minScale",),
    ANNOTATION_MAX_SCALE: ("autoscaling.knative.dev/maxScale",),
    ANNOTATION_INITIAL_SCALE: ("autoscaling.knative.dev/initialScale",),
    ANNOTATION_SCALE_DOWN_DELAY: ("autoscaling.knative.dev/scaleDownDelay",),
    ANNOTATION_TARGET_UTILIZATION: ("autoscaling.knative.dev/targetUtilizationPercentage",),
    ANNOTATION_TARGET_BURST_CAPACITY: ("autoscaling.knative.dev/targetBurstCapacity",),
    ANNOTATION_PANIC_WINDOW_PERCENTAGE: ("autoscaling.knative.dev/panicWindowPercentage",),
    ANNOTATION_PANIC_THRESHOLD_PERCENTAGE: ("autoscaling.knative.dev/panicThresholdPercentage",),
    ANNOTATION_METRIC_AGGREGATION: ("autoscaling.knative.dev/metricAggregationAlgorithm",),
}

# --- Autoscaling classes and metrics -------------------------------------------------------
KPA: Final = "kpa"
HPA: Final = "hpa"
KPA_CLASS: Final = "kpa.autoscaling.knative.dev"
HPA_CLASS: Final = "hpa.autoscaling.knative.dev"
AUTOSCALING_CLASSES: Final[dict[str, str]] = {KPA: KPA_CLASS, HPA: HPA_CLASS}
METRICS_FOR_CLASS: Final[dict[str, tuple[str, ...]]] = {
    KPA: ("concurrency", "rps"),
    HPA: ("cpu", "memory"),
}
METRIC_AGGREGATION_ALGORITHMS: Final = ("linear", "weighted-exponential", "weightedExponential")

# --- Autoscaling limits (annotation_validation.go) -----------------------------------------
AUTOSCALING_TARGET_MIN: Final = 0.01
TARGET_UTILIZATION_MIN: Final = 1.0
TARGET_UTILIZATION_MAX: Final = 100.0
CPU_TARGET_MAX: Final = 100.0
PANIC_WINDOW_PERCENTAGE_MIN: Final = 1.0
PANIC_WINDOW_PERCENTAGE_MAX: Final = 100.0
PANIC_THRESHOLD_PERCENTAGE_MIN: Final = 110.0
PANIC_THRESHOLD_PERCENTAGE_MAX: Final = 1000.0
WINDOW_MIN_SECONDS: Final = 6
WINDOW_MAX_SECONDS: Final = 3600
SCALE_DOWN_DELAY_MAX_SECONDS: Final = 3600
SCALE_TO_ZERO_RETENTION_MAX_SECONDS: Final = 3600
INT32_MAX: Final = 2_147_483_647
SCALE_MIN: Final = 0
SCALE_MAX: Final = INT32_MAX
ACTIVATION_SCALE_MIN: Final = 2

# --- Revision limits -----------------------------------------------------------------------
CONTAINER_CONCURRENCY_MIN: Final = 0
CONTAINER_CONCURRENCY_MAX: Final = 1000
TIMEOUT_SECONDS_MIN: Final = 1
TIMEOUT_SECONDS_MAX: Final = 600
RESERVED_PORTS: Final = (8012, 8013, 8022, 9090, 9091, 8008)
PORT_MIN: Final = 1
PORT_MAX: Final = 65535
ALLOWED_PORT_NAMES: Final = ("", "h2c", "http1")
RESERVED_ENV_VARS: Final = ("PORT", "K_SERVICE", "K_CONFIGURATION", "K_REVISION")
QUEUE_PROXY_CONTAINER_NAME: Final = "queue-proxy"
DNS_LABEL_MAX_LENGTH: Final = 63
SERVICE_NAME_MAX_LENGTH: Final = 50
NAMESPACE_MAX_LENGTH: Final = 54
FORBIDDEN_MOUNT_PATHS: Final = ("/", "/dev", "/dev/log")
ROLLOUT_DURATION_ANNOTATION: Final = "serving.knative.dev/rollout-duration"
PROGRESS_DEADLINE_ANNOTATION: Final = "serving.knative.dev/progress-deadline"

# PodSpec and Container fields a cluster with default feature flags accepts (fieldmask.go).
POD_SPEC_FIELDS: Final = frozenset(
    {
        "serviceAccountName",
        "containers",
        "volumes",
        "imagePullSecrets",
        "enableServiceLinks",
        "automountServiceAccountToken",
        "containerConcurrency",
        "timeoutSeconds",
        "responseStartTimeoutSeconds",
        "idleTimeoutSeconds",
    }
)
CONTAINER_FIELDS: Final = frozenset(
    {
        "name",
        "args",
        "command",
        "env",
        "envFrom",
        "workingDir",
        "image",
        "imagePullPolicy",
        "livenessProbe",
        "readinessProbe",
        "startupProbe",
        "ports",
        "resources",
        "securityContext",
        "terminationMessagePath",
        "terminationMessagePolicy",
        "volumeMounts",
    }
)

# --- Traffic ---------------------------------------------------------------------------------
TRAFFIC_TOTAL_PERCENT: Final = 100
PERCENT_MIN: Final = 0
PERCENT_MAX: Final = 100
CANARY_PERCENT_MIN: Final = 1
CANARY_PERCENT_MAX: Final = 99
STABLE_TAG: Final = "stable"
CANARY_TAG: Final = "canary"

# --- Knative's own defaults (what the webhook fills in when a field is absent) --------------
#: config-defaults ``revision-timeout-seconds``.
KNATIVE_DEFAULT_TIMEOUT_SECONDS: Final = 300
#: config-defaults ``container-concurrency``: 0 = no limit per pod.
KNATIVE_DEFAULT_CONTAINER_CONCURRENCY: Final = 0
#: The port Knative sends requests to (and sets as ``PORT``) when none is declared.
KNATIVE_DEFAULT_CONTAINER_PORT: Final = 8080
#: config-autoscaler ``pod-autoscaler-class`` and the KPA's default metric.
KNATIVE_DEFAULT_AUTOSCALING_CLASS: Final = KPA_CLASS
KNATIVE_DEFAULT_AUTOSCALING_METRIC: Final = "concurrency"
#: min-scale 0 (scale to zero allowed) and max-scale 0 (no upper bound).
KNATIVE_DEFAULT_MIN_SCALE: Final = 0
KNATIVE_DEFAULT_MAX_SCALE: Final = 0
#: A Trigger without ``broker`` or ``brokerRef`` is defaulted to the Broker named "default".
KNATIVE_DEFAULT_BROKER_NAME: Final = "default"
#: KafkaSource defaults: one consumer, start at the latest offset.
KNATIVE_DEFAULT_KAFKA_CONSUMERS: Final = 1
KNATIVE_DEFAULT_KAFKA_INITIAL_OFFSET: Final = "latest"

#: The environments (overlays) a rendered service has, in order.
ENVIRONMENTS: Final = ("dev", "staging", "prod")

# --- Istio ---------------------------------------------------------------------------------
ISTIO_INJECT_KEY: Final = "sidecar.istio.io/inject"
ISTIO_MTLS_MODES: Final = ("STRICT", "PERMISSIVE")
KNATIVE_SERVING_NAMESPACE: Final = "knative-serving"

# --- Eventing ------------------------------------------------------------------------------
BROKER_CLASS_ANNOTATION: Final = "eventing.knative.dev/broker.class"
BROKER_CLASSES: Final = ("MTChannelBasedBroker", "Kafka", "KafkaNamespaced", "RabbitMQBroker")
TEMPLATE_BROKER_CLASSES: Final = ("MTChannelBasedBroker", "Kafka", "RabbitMQBroker")
DELIVERY_BACKOFF_POLICIES: Final = ("exponential", "linear")
DELIVERY_RETRY_MIN: Final = 0
DELIVERY_RETRY_MAX: Final = 100
DELIVERY_FORMATS: Final = ("json", "binary")
TRIGGER_FILTER_DIALECTS: Final = ("exact", "prefix", "suffix", "all", "any", "not", "cesql")
TRIGGER_ATTRIBUTE_KEY_PATTERN: Final = r"[a-z][a-z0-9]*"
#: The broker classes that honour a Trigger's ``spec.filters`` (the others ignore it).
FILTERS_BROKER_CLASSES: Final = ("MTChannelBasedBroker", "Kafka", "KafkaNamespaced")

RABBITMQ_PARALLELISM_ANNOTATION: Final = "rabbitmq.eventing.knative.dev/parallelism"
RABBITMQ_RESOURCE_ANNOTATIONS: Final = (
    "rabbitmq.eventing.knative.dev/cpu-request",
    "rabbitmq.eventing.knative.dev/cpu-limit",
    "rabbitmq.eventing.knative.dev/memory-request",
    "rabbitmq.eventing.knative.dev/memory-limit",
)
RABBITMQ_PARALLELISM_MIN: Final = 1
RABBITMQ_PARALLELISM_MAX: Final = 1000
RABBITMQ_CONFIG_KINDS: Final[dict[str, str]] = {
    "RabbitmqCluster": "rabbitmq.com/v1beta1",
    "RabbitmqBrokerConfig": "eventing.knative.dev/v1alpha1",
}

KAFKA_BOOTSTRAP_SERVERS_KEY: Final = "bootstrap.servers"
KAFKA_PARTITIONS_KEY: Final = "default.topic.partitions"
KAFKA_REPLICATION_KEY: Final = "default.topic.replication.factor"
#: The producer setting and the partitioners the Kafka 4 client (eventing-kafka-broker 1.22+)
#: no longer has.
KAFKA_PARTITIONER_KEY: Final = "partitioner.class"
KAFKA_REMOVED_PARTITIONERS: Final = (
    "org.apache.kafka.clients.producer.internals.DefaultPartitioner",
    "org.apache.kafka.clients.producer.UniformStickyPartitioner",
)
KAFKA_DELIVERY_ORDER_ANNOTATION: Final = "kafka.eventing.knative.dev/delivery.order"
KAFKA_ORDERINGS: Final = ("ordered", "unordered")
KAFKA_INITIAL_OFFSETS: Final = ("latest", "earliest")

# --- Argo CD -------------------------------------------------------------------------------
ARGOCD_SYNC_WAVE_ANNOTATION: Final = "argocd.argoproj.io/sync-wave"
ARGOCD_APPLICATIONS_SYNC_POLICIES: Final = ("create-only", "create-update", "create-delete", "sync")
ARGOCD_AUTOMATED_FIELDS: Final = ("prune", "selfHeal", "allowEmpty")
ARGOCD_INSTANCE_LABEL_MAX_LENGTH: Final = 63
ARGOCD_NAMESPACE: Final = "argocd"

# --- API groups and kinds the checks know --------------------------------------------------
SERVING_API_VERSION: Final = "serving.knative.dev/v1"
EVENTING_API_VERSION: Final = "eventing.knative.dev/v1"

# --- Bounds on untrusted input (yamlio.py, validate.py) ------------------------------------
#: Largest YAML file or text the tools read (the largest CRD they load is about 1 MiB).
YAML_MAX_BYTES: Final = 4 * 1024 * 1024
#: Deepest nesting of mappings and sequences a YAML text may have (the CRDs nest about 35
#: deep); libyaml's composer recurses per level and crashes the interpreter on deep input.
YAML_MAX_DEPTH: Final = 100
#: Seconds one ``kubectl kustomize`` (or ``kustomize build``) run may take.
KUSTOMIZE_TIMEOUT_SECONDS: Final = 120.0
