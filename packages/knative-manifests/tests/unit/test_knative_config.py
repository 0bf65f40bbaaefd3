"""Configuration models refuse what a cluster would refuse, naming the rule."""

from __future__ import annotations

from decimal import Decimal

import pytest
from service_tree import REQUIRED_SETTINGS

from knative_manifests import constants as c
from knative_manifests.config import (
    DeliveryConfig,
    KnativeServiceConfig,
    TrafficConfig,
    TrafficTarget,
    TriggerConfig,
)
from knative_manifests.errors import (
    InvalidAutoscalingConfigError,
    InvalidTrafficConfigError,
    KnativeManifestError,
)
from knative_manifests.formats import (
    parse_go_duration,
    parse_iso8601_duration,
    parse_quantity,
)
from knative_manifests.manifest import (
    config_map_manifest,
    deserialize_knative_service,
    serialize_knative_service,
    service_account_manifest,
    service_to_manifest,
    trigger_manifest,
)
from knative_manifests.rules import check_documents

IMAGE = "ghcr.io/example/app@sha256:" + "0f" * 32  # overlays name digests, not tags


def service(**overrides: object) -> KnativeServiceConfig:
    settings = {"name": "app", "image": IMAGE, **REQUIRED_SETTINGS, **overrides}
    return KnativeServiceConfig(**settings)


def test_defaults_are_what_knative_does_without_the_field() -> None:
    config = service()
    assert config.port == c.KNATIVE_DEFAULT_CONTAINER_PORT == 8080
    assert config.autoscaling_class == c.KPA_CLASS
    assert config.autoscaling_metric == "concurrency"
    assert (config.min_scale, config.max_scale) == (0, 0)  # scale to zero, no upper bound
    assert config.timeout_seconds == c.KNATIVE_DEFAULT_TIMEOUT_SECONDS == 300
    assert config.container_concurrency == c.KNATIVE_DEFAULT_CONTAINER_CONCURRENCY == 0
    annotations = service_to_manifest(config)["spec"]["template"]["metadata"]["annotations"]
    assert c.ANNOTATION_TARGET not in annotations  # the cluster's default target applies
    assert c.ANNOTATION_SCALE_DOWN_DELAY not in annotations


@pytest.mark.parametrize("missing", sorted(REQUIRED_SETTINGS))
def test_resources_and_the_sidecar_have_no_default(missing: str) -> None:
    settings = {k: v for k, v in REQUIRED_SETTINGS.items() if k != missing}
    with pytest.raises(TypeError, match=missing):
        KnativeServiceConfig("app", IMAGE, **settings)


def test_short_class_names_are_accepted() -> None:
    assert service(autoscaling_class="hpa", autoscaling_metric="cpu", min_scale=1) == service(
        autoscaling_class=c.HPA_CLASS, autoscaling_metric="cpu", min_scale=1
    )


@pytest.mark.parametrize(
    ("overrides", "rule"),
    [
        ({"autoscaling_class": "kpa", "autoscaling_metric": "cpu"}, "autoscaling/metric-for-class"),
        (
            {"autoscaling_class": "hpa", "autoscaling_metric": "rps", "min_scale": 1},
            "autoscaling/metric-for-class",
        ),
        ({"autoscaling_class": "custom"}, "autoscaling/class"),
        ({"autoscaling_target": 0.001}, "autoscaling/target-minimum"),
        ({"min_scale": 5, "max_scale": 2}, "autoscaling/min-not-above-max"),
        ({"min_scale": -1}, "autoscaling/min-scale-range"),
        (
            {"autoscaling_class": "hpa", "autoscaling_metric": "cpu", "min_scale": 0},
            "autoscaling/hpa-no-scale-to-zero",
        ),
        ({"scale_down_delay": "2h"}, "autoscaling/scale-down-delay"),
        ({"scale_down_delay": "PT30S"}, "autoscaling/scale-down-delay"),
        (
            {"annotations": {c.ANNOTATION_MIN_SCALE: "1"}},
            "serving/autoscaling-annotations-on-template",
        ),
    ],
)
def test_bad_autoscaling_raises_naming_the_rule(overrides: dict[str, object], rule: str) -> None:
    with pytest.raises(InvalidAutoscalingConfigError) as caught:
        service(**overrides)
    assert caught.value.rule == rule
    assert rule in str(caught.value)


@pytest.mark.parametrize(
    ("overrides", "rule"),
    [
        ({"port": 8012}, "serving/reserved-port"),
        ({"container_concurrency": 1001}, "serving/container-concurrency-range"),
        ({"timeout_seconds": 601}, "serving/timeout-range"),
        ({"timeout_seconds": 0}, "serving/timeout-range"),
        ({"cpu_request": "2", "cpu_limit": "1"}, "security/request-not-above-limit"),
        ({"memory_limit": "lots"}, "security/resources-set"),
        ({"env": {"K_SERVICE": "x"}}, "serving/reserved-env"),
        ({"container_name": "queue-proxy"}, "serving/container-name"),
        ({"revision_name": "other-1"}, "serving/revision-name"),
        ({"port_name": "grpc"}, "serving/port-name"),
    ],
)
def test_bad_revision_settings_raise(overrides: dict[str, object], rule: str) -> None:
    with pytest.raises(KnativeManifestError) as caught:
        service(**overrides)
    assert caught.value.rule == rule


def test_bad_service_name_is_refused() -> None:
    with pytest.raises(KnativeManifestError, match="DNS-1035"):
        KnativeServiceConfig(name="1app", image=IMAGE, **REQUIRED_SETTINGS)


def test_traffic_validate_is_the_sum_rule() -> None:
    assert TrafficConfig((TrafficTarget(None, 100, latest_revision=True),)).validate()
    assert not TrafficConfig((TrafficTarget("app-1", 60), TrafficTarget("app-2", 30))).validate()
    assert not TrafficConfig(()).validate()


@pytest.mark.parametrize(
    ("targets", "rule"),
    [
        ([TrafficTarget("app-1", 50), TrafficTarget("app-2", 40)], "traffic/percent-sum"),
        ([], "traffic/percent-sum"),
        (
            [TrafficTarget("app-1", 50, tag="a"), TrafficTarget("app-2", 50, tag="a")],
            "traffic/tag-unique",
        ),
    ],
)
def test_traffic_check_names_the_rule(targets: list[TrafficTarget], rule: str) -> None:
    with pytest.raises(InvalidTrafficConfigError) as caught:
        TrafficConfig(tuple(targets)).check()
    assert caught.value.rule == rule


@pytest.mark.parametrize(
    ("kwargs", "rule"),
    [
        ({"revision_name": "app-1", "percent": 101}, "traffic/percent-range"),
        ({"revision_name": "app-1", "percent": -1}, "traffic/percent-range"),
        ({"revision_name": "app-1", "percent": 10, "tag": "Canary"}, "traffic/tag-dns1035"),
        (
            {"revision_name": "app-1", "percent": 10, "latest_revision": True},
            "traffic/latest-revision-xor-revision-name",
        ),
        ({"revision_name": None, "percent": 10}, "traffic/latest-revision-xor-revision-name"),
    ],
)
def test_bad_traffic_target_raises(kwargs: dict[str, object], rule: str) -> None:
    with pytest.raises(InvalidTrafficConfigError) as caught:
        TrafficTarget(**kwargs)  # type: ignore[arg-type]
    assert caught.value.rule == rule


def test_service_with_bad_traffic_cannot_be_built() -> None:
    split = TrafficConfig((TrafficTarget("app-1", 90), TrafficTarget("app-2", 20)))
    with pytest.raises(InvalidTrafficConfigError):
        service(traffic=split)


def test_canary_split_is_written_and_read_back() -> None:
    split = TrafficConfig(
        (
            TrafficTarget("app-v1", 90, tag=c.STABLE_TAG),
            TrafficTarget(None, 10, tag=c.CANARY_TAG, latest_revision=True),
        )
    )
    config = service(traffic=split, revision_name="app-v2")
    text = serialize_knative_service(config)
    assert deserialize_knative_service(text) == config
    assert check_documents([service_to_manifest(config)]) == []


def test_reading_refuses_fields_the_model_cannot_hold() -> None:
    text = serialize_knative_service(service()).replace("    spec:\n", "    spec:\n      x: 1\n", 1)
    with pytest.raises(KnativeManifestError, match="not represented"):
        deserialize_knative_service(text)


def test_reading_refuses_non_yaml_and_other_kinds() -> None:
    with pytest.raises(KnativeManifestError, match="YAML"):
        deserialize_knative_service("a: [")
    with pytest.raises(KnativeManifestError, match=r"expected serving\.knative\.dev/v1 Service"):
        deserialize_knative_service("apiVersion: v1\nkind: ConfigMap\nmetadata: {}\nspec: {}\n")


def test_trigger_and_companions_pass_the_rules() -> None:
    trigger = TriggerConfig(
        name="app-created",
        broker="default",
        subscriber="app",
        filters={"type": "com.example.created"},
        namespace="team",
        delivery=DeliveryConfig(dead_letter_sink="https://dlq.example.com/events"),
        annotations={c.RABBITMQ_PARALLELISM_ANNOTATION: "10"},
    )
    docs = [
        trigger_manifest(trigger),
        service_account_manifest("app", "team"),
        config_map_manifest("app-config", {"LOG_LEVEL": "INFO"}, "team"),
    ]
    assert check_documents(docs) == []
    spec = docs[0]["spec"]
    assert spec["subscriber"]["ref"]["name"] == "app"
    # Only what the configuration sets is written: the broker's delivery settings do the rest.
    assert spec["delivery"] == {"deadLetterSink": {"uri": "https://dlq.example.com/events"}}


def test_delivery_settings_are_written_as_given() -> None:
    delivery = DeliveryConfig(
        retry=4, backoff_policy="linear", backoff_delay="PT3S", timeout="PT9S"
    )
    trigger = TriggerConfig(name="t", broker="b", subscriber="app", delivery=delivery)
    assert trigger_manifest(trigger)["spec"]["delivery"] == {
        "retry": 4,
        "backoffPolicy": "linear",
        "backoffDelay": "PT3S",
        "timeout": "PT9S",
    }


@pytest.mark.parametrize(
    ("kwargs", "rule"),
    [
        ({"retry": -1}, "delivery/retry-range"),
        ({"retry": c.DELIVERY_RETRY_MAX + 1}, "delivery/retry-range"),
        ({"retry": True}, "delivery/retry-range"),
        ({"backoff_policy": "random"}, "delivery/backoff-policy"),
        ({"backoff_delay": "2s"}, "delivery/backoff-delay-iso8601"),
        ({"timeout": "PT0S"}, "delivery/timeout-iso8601"),
        ({"dead_letter_sink": "ftp://x"}, "destination/uri-absolute"),
    ],
)
def test_bad_delivery_raises(kwargs: dict[str, object], rule: str) -> None:
    with pytest.raises(KnativeManifestError) as caught:
        DeliveryConfig(**kwargs)  # type: ignore[arg-type]
    assert caught.value.rule == rule


@pytest.mark.parametrize("key", ["Type", "type\n", "1type", ""])
def test_trigger_filter_keys_are_checked(key: str) -> None:
    with pytest.raises(KnativeManifestError) as caught:
        TriggerConfig(name="t", broker="default", subscriber="app", filters={key: "x"})
    assert caught.value.rule == "trigger/filter-attribute-keys"


@pytest.mark.parametrize(
    ("overrides", "rule"),
    [
        ({"image": IMAGE + "\n"}, "serving/image-required"),
        ({"env": {"LOG_LEVEL\n": "x"}}, "serving/reserved-env"),
        ({"namespace": "team\n"}, "k8s/namespace"),
        ({"service_account_name": "app\n"}, "k8s/name"),
    ],
)
def test_a_trailing_newline_is_not_a_valid_value(overrides: dict[str, object], rule: str) -> None:
    with pytest.raises(KnativeManifestError) as caught:
        service(**overrides)
    assert caught.value.rule == rule


def test_config_map_values_must_be_strings() -> None:
    with pytest.raises(KnativeManifestError, match="strings: PORT"):
        config_map_manifest("c", {"PORT": 8080})  # type: ignore[dict-item]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("1m30s", 90), ("1h", 3600), ("0", 0), ("1.5s", Decimal("1.5")), ("-5s", -5)],
)
def test_go_durations(text: str, seconds: Decimal) -> None:
    assert parse_go_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "PT30S", "5 s", "1d", "s"])
def test_bad_go_durations(text: str) -> None:
    with pytest.raises(ValueError, match="Go duration"):
        parse_go_duration(text)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT1S", 1), ("PT0.5S", Decimal("0.5")), ("PT2M", 120), ("P1D", 86400), ("PT1H30M", 5400)],
)
def test_iso_durations(text: str, seconds: Decimal) -> None:
    assert parse_iso8601_duration(text) == seconds


@pytest.mark.parametrize("text", ["2s", "P", "PT", "PT1", "1S", "P1H"])
def test_bad_iso_durations(text: str) -> None:
    with pytest.raises(ValueError, match="ISO-8601"):
        parse_iso8601_duration(text)


@pytest.mark.parametrize(
    ("text", "value"),
    [("100m", Decimal("0.1")), ("1", 1), ("1Gi", 1024**3), ("256Mi", 256 * 1024**2), ("1k", 1000)],
)
def test_quantities(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "1GB", "m", "1.2.3", "ten"])
def test_bad_quantities(text: str) -> None:
    with pytest.raises(ValueError, match="quantity"):
        parse_quantity(text)
