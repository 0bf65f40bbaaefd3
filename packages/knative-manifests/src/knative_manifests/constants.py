"""Annotation keys, defaults and limits for Knative manifests: the one source of truth.

Every module that writes or checks a manifest imports its keys and bounds from here, so a
limit cannot be 600 in one place and 900 in another. The defaults equal the defaults of the
template's questions (copier.yml); the template's own tests prove that they agree. Values
are those of Knative 1.15, Istio 1.22 and Argo CD 3.0.
"""

from __future__ import annotations

from typing import Final

# --- Autoscaling annotation keys (autoscaling.knative.dev, register.go) -------------------
AUTOSCALING_GROUP: Final = "autoscaling.knative.dev"
AUTOSCALING_PREFIX: Final = AUTOSCALING_GROUP + "/"

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
DEFAULT_TIMEOUT_SECONDS: Final = 300
RESERVED_PORTS: Final = (8012, 8013, 8022, 9090, 9091, 8008)
PORT_MIN: Final = 1
PORT_MAX: Final = 65535
DEFAULT_CONTAINER_PORT: Final = 8080
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
FORBIDDEN_CONTAINER_FIELDS: Final = ("lifecycle", "stdin", "stdinOnce", "tty", "volumeDevices")

# --- Traffic -------------------------------------------------------------------------------
TRAFFIC_TOTAL_PERCENT: Final = 100
PERCENT_MIN: Final = 0
PERCENT_MAX: Final = 100
CANARY_PERCENT_MIN: Final = 1
CANARY_PERCENT_MAX: Final = 99
DEFAULT_CANARY_PERCENT: Final = 10
STABLE_TAG: Final = "stable"
CANARY_TAG: Final = "canary"

# --- Defaults of the template's questions ---------------------------------------------------
DEFAULT_PORT: Final = DEFAULT_CONTAINER_PORT
DEFAULT_AUTOSCALING_CLASS: Final = KPA
DEFAULT_AUTOSCALING_METRIC: Final = "concurrency"
DEFAULT_TARGET_FOR_METRIC: Final[dict[str, float]] = {
    "concurrency": 100,
    "rps": 200,
    "cpu": 80,
    "memory": 200,
}
DEFAULT_AUTOSCALING_TARGET: Final = DEFAULT_TARGET_FOR_METRIC[DEFAULT_AUTOSCALING_METRIC]
DEFAULT_MIN_SCALE_FOR_CLASS: Final[dict[str, int]] = {KPA: 0, HPA: 1}
DEFAULT_MIN_SCALE: Final = DEFAULT_MIN_SCALE_FOR_CLASS[DEFAULT_AUTOSCALING_CLASS]
DEFAULT_MAX_SCALE: Final = 10
DEFAULT_SCALE_DOWN_DELAY: Final = "30s"
DEFAULT_CONTAINER_CONCURRENCY: Final = 100
DEFAULT_CPU_REQUEST: Final = "100m"
DEFAULT_CPU_LIMIT: Final = "1000m"
DEFAULT_MEMORY_REQUEST: Final = "256Mi"
DEFAULT_MEMORY_LIMIT: Final = "1Gi"
DEFAULT_ISTIO_SIDECAR: Final = True
DEFAULT_ENVIRONMENTS: Final = ("dev", "staging", "prod")
ENVIRONMENTS: Final = ("dev", "staging", "prod")

# --- Istio ---------------------------------------------------------------------------------
ISTIO_INJECT_KEY: Final = "sidecar.istio.io/inject"
ISTIO_MTLS_MODES: Final = ("STRICT", "PERMISSIVE")
DEFAULT_ISTIO_MTLS_MODE: Final = "STRICT"
KNATIVE_SERVING_NAMESPACE: Final = "knative-serving"

# --- Eventing ------------------------------------------------------------------------------
BROKER_CLASS_ANNOTATION: Final = "eventing.knative.dev/broker.class"
BROKER_CLASSES: Final = ("MTChannelBasedBroker", "Kafka", "KafkaNamespaced", "RabbitMQBroker")
TEMPLATE_BROKER_CLASSES: Final = ("MTChannelBasedBroker", "Kafka", "RabbitMQBroker")
DEFAULT_BROKER_CLASS: Final = "MTChannelBasedBroker"
DEFAULT_BROKER_NAME: Final = "default"
DELIVERY_BACKOFF_POLICIES: Final = ("exponential", "linear")
DEFAULT_DELIVERY_BACKOFF_POLICY: Final = "exponential"
DEFAULT_DELIVERY_BACKOFF_DELAY: Final = "PT1S"
DELIVERY_RETRY_MIN: Final = 0
DELIVERY_RETRY_MAX: Final = 100
DEFAULT_DELIVERY_RETRY: Final = 5
DELIVERY_FORMATS: Final = ("json", "binary")
TRIGGER_FILTER_DIALECTS: Final = ("exact", "prefix", "suffix", "all", "any", "not", "cesql")
TRIGGER_ATTRIBUTE_KEY_PATTERN: Final = r"^[a-z][a-z0-9]*$"

RABBITMQ_PARALLELISM_ANNOTATION: Final = "rabbitmq.eventing.knative.dev/parallelism"
RABBITMQ_RESOURCE_ANNOTATIONS: Final = (
    "rabbitmq.eventing.knative.dev/cpu-request",
    "rabbitmq.eventing.knative.dev/cpu-limit",
    "rabbitmq.eventing.knative.dev/memory-request",
    "rabbitmq.eventing.knative.dev/memory-limit",
)
RABBITMQ_PARALLELISM_MIN: Final = 1
RABBITMQ_PARALLELISM_MAX: Final = 1000
DEFAULT_RABBITMQ_PARALLELISM: Final = 50
DEFAULT_RABBITMQ_CLUSTER: Final = "rabbitmq"
RABBITMQ_CONFIG_KINDS: Final[dict[str, str]] = {
    "RabbitmqCluster": "rabbitmq.com/v1beta1",
    "RabbitmqBrokerConfig": "eventing.knative.dev/v1alpha1",
}

KAFKA_BOOTSTRAP_SERVERS_KEY: Final = "bootstrap.servers"
KAFKA_PARTITIONS_KEY: Final = "default.topic.partitions"
KAFKA_REPLICATION_KEY: Final = "default.topic.replication.factor"
KAFKA_EXTERNAL_TOPIC_ANNOTATION: Final = "kafka.eventing.knative.dev/external.topic"
KAFKA_DELIVERY_ORDER_ANNOTATION: Final = "kafka.eventing.knative.dev/delivery.order"
KAFKA_ORDERINGS: Final = ("ordered", "unordered")
KAFKA_INITIAL_OFFSETS: Final = ("latest", "earliest")
DEFAULT_KAFKA_INITIAL_OFFSET: Final = "latest"
DEFAULT_KAFKA_BOOTSTRAP_SERVERS: Final = "my-cluster-kafka-bootstrap.kafka:9092"

# --- Argo CD -------------------------------------------------------------------------------
ARGOCD_SYNC_WAVE_ANNOTATION: Final = "argocd.argoproj.io/sync-wave"
ARGOCD_APPLICATIONS_SYNC_POLICIES: Final = ("create-only", "create-update", "create-delete", "sync")
ARGOCD_AUTOMATED_FIELDS: Final = ("prune", "selfHeal", "allowEmpty")
ARGOCD_INSTANCE_LABEL_MAX_LENGTH: Final = 63
ARGOCD_NAMESPACE: Final = "argocd"

# --- API groups and kinds the checks know --------------------------------------------------
SERVING_API_VERSION: Final = "serving.knative.dev/v1"
EVENTING_API_VERSION: Final = "eventing.knative.dev/v1"
KAFKA_SOURCE_API_VERSION: Final = "sources.knative.dev/v1beta1"
