"""The service's ManagerDefaults reach the settings, and SERVICE_MANAGER_* still override them."""

from __future__ import annotations

import os

import pytest
from knative_manifests import constants as c

from knative_events import service_manager as sm
from knative_events.cloudevents.errors import SenderNotAllowedError

RESOURCES = {
    "cpu_request": "100m",
    "cpu_limit": "1000m",
    "memory_request": "256Mi",
    "memory_limit": "1Gi",
    "istio_sidecar": True,
}
DEFAULTS = sm.ManagerDefaults(
    manager_name="hello-events",
    event_prefix="com.example",
    broker="events",
    broker_class="RabbitMQBroker",
    rabbitmq_parallelism=7,
    delivery_retry=2,
    delivery_backoff_policy="linear",
    delivery_backoff_delay="PT2S",
    dead_letter_sink="dead-letters",
    service_settings={"max_scale": 4, "timeout_seconds": 60, **RESOURCES},
    allowed_sources=("/builds",),
    allowed_registries=("ghcr.io/example/",),
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SERVICE_MANAGER_* variable of the shell leaks into these tests."""
    for name in list(os.environ):
        if name.upper().startswith(sm.ENV_PREFIX):
            monkeypatch.delenv(name)


def test_settings_default_to_the_service_defaults() -> None:
    settings = sm.ServiceManagerSettings.from_defaults(DEFAULTS)
    assert settings.broker == "events"
    assert settings.broker_class == "RabbitMQBroker"
    assert settings.rabbitmq_parallelism == 7
    assert settings.delivery_retry == 2
    assert settings.delivery_backoff_policy == "linear"
    assert settings.delivery_backoff_delay == "PT2S"
    assert settings.dead_letter_sink == "dead-letters"
    assert settings.delivery().dead_letter_sink == "dead-letters"
    assert settings.event_type == "com.example.parser.start"
    assert settings.source_prefix == "com.example"
    assert settings.name_prefix == sm.DEFAULT_NAME_PREFIX


def test_the_environment_overrides_the_service_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICE_MANAGER_BROKER", "from-env")
    monkeypatch.setenv("service_manager_delivery_retry", "9")  # any case, as pydantic-settings
    monkeypatch.setenv("SERVICE_MANAGER_EVENT_TYPE", "com.other.go")
    settings = sm.ServiceManagerSettings.from_defaults(DEFAULTS)
    assert (settings.broker, settings.delivery_retry) == ("from-env", 9)
    assert settings.event_type == "com.other.go"
    assert settings.broker_class == "RabbitMQBroker"  # not in the environment: the default
    assert settings.dead_letter_sink == "dead-letters"


def test_arguments_win_over_environment_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVICE_MANAGER_BROKER", "from-env")
    settings = sm.ServiceManagerSettings.from_defaults(DEFAULTS, broker="from-code")
    assert settings.broker == "from-code"


def test_neutral_defaults_are_knatives() -> None:
    defaults = sm.ManagerDefaults(
        manager_name="m",
        event_prefix="io.example",
        service_settings=RESOURCES,
        allowed_sources=(),
        allowed_registries=(),
    )
    settings = sm.ServiceManagerSettings.from_defaults(defaults)
    assert (settings.broker, settings.broker_class) == ("default", "MTChannelBasedBroker")
    assert (settings.delivery_retry, settings.delivery_backoff_policy) == (5, "exponential")
    assert settings.delivery_backoff_delay == "PT1S"
    assert settings.dead_letter_sink == ""
    assert settings.delivery().dead_letter_sink is None
    assert settings.rabbitmq_parallelism == 50
    assert dict(defaults.service_settings) == RESOURCES


def test_labels_live_under_the_managers_domain() -> None:
    assert DEFAULTS.label_domain == "builds.hello-events"
    assert DEFAULTS.label_third_party_id == "builds.hello-events/third-party-id"
    assert DEFAULTS.label_parser_id == "builds.hello-events/parser-id"
    assert DEFAULTS.label_content_hash == "builds.hello-events/content-hash"
    assert DEFAULTS.event_type == "com.example.parser.start"


def test_defaults_are_frozen() -> None:
    with pytest.raises(AttributeError):
        DEFAULTS.broker = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        DEFAULTS.service_settings["max_scale"] = 5  # type: ignore[index]


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ({"manager_name": "Not A Label"}, "manager_name"),
        ({"manager_name": ""}, "manager_name"),
        ({"event_prefix": ""}, "event_prefix"),
        ({"event_prefix": "com..example"}, "event_prefix"),
        ({"event_prefix": "com.example\n"}, "event_prefix"),
        ({"service_settings": {"max_scal": 3, **RESOURCES}}, "max_scal"),
        ({"service_settings": {"cpu_request": "1"}}, "cpu_limit, istio_sidecar, memory_limit"),
        ({"allowed_registries": ("GHCR.io/acme",)}, "allowed_registries"),
        ({"allowed_registries": ("ghcr.io/acme\n",)}, "allowed_registries"),
    ],
)
def test_bad_defaults_are_refused(values: dict[str, object], problem: str) -> None:
    arguments: dict[str, object] = {
        "manager_name": "m",
        "event_prefix": "com.example",
        "service_settings": RESOURCES,
        "allowed_sources": (),
        "allowed_registries": (),
    }
    arguments.update(values)
    with pytest.raises(ValueError, match=problem):
        sm.ManagerDefaults(**arguments)  # type: ignore[arg-type]


def test_limits_come_from_the_constants() -> None:
    assert len(sm.generate_service_name("a" * 300, "b" * 300)) == c.SERVICE_NAME_MAX_LENGTH
    fields = sm.ServiceManagerSettings.model_fields["rabbitmq_parallelism"].metadata
    bounds = {type(m).__name__: m for m in fields}
    assert bounds["Ge"].ge == c.RABBITMQ_PARALLELISM_MIN
    assert bounds["Le"].le == c.RABBITMQ_PARALLELISM_MAX


def test_a_manager_resolves_empty_event_type_and_source_from_its_defaults() -> None:
    class NoClient:
        async def close(self) -> None:
            return None

    settings = sm.ServiceManagerSettings(broker="b")
    manager = sm.ServiceManager(
        NoClient(),  # type: ignore[arg-type]
        namespace="ns",
        defaults=DEFAULTS,
        settings=settings,
    )
    assert manager.settings.event_type == "com.example.parser.start"
    assert manager.settings.source_prefix == "com.example"
    assert manager.settings.broker == "b"
    resources = manager.build_resources(
        "lambda-x",
        sm.BuildCompletion(
            third_party_id="t",
            parser_id="p",
            content_hash="0123456789abcdef",
            image_uri="registry.example.com/parsers/p:1",
        ),
    )
    labels = resources.service["metadata"]["labels"]
    assert labels[sm.LABEL_MANAGED_BY] == "hello-events"
    annotations = resources.service["spec"]["template"]["metadata"]["annotations"]
    assert annotations[c.ANNOTATION_MAX_SCALE] == "4"
    assert resources.service["spec"]["template"]["spec"]["timeoutSeconds"] == 60


def test_an_allowed_source_passes() -> None:
    DEFAULTS.check_source("/builds")


@pytest.mark.parametrize("source", ["/builds/", "/builds\n", "/other", "", "//builds"])
def test_any_other_source_is_a_403_naming_source(source: str) -> None:
    with pytest.raises(SenderNotAllowedError) as caught:
        DEFAULTS.check_source(source)
    assert (caught.value.status, caught.value.attribute) == (403, "source")


@pytest.mark.parametrize(
    ("image", "allowed"),
    [
        ("ghcr.io/example/parser:build-7", True),
        ("ghcr.io/example/team/parser@sha256:" + "a" * 64, True),
        ("ghcr.io/example-evil/parser:1", False),  # a prefix matches at a path boundary only
        ("ghcr.io/examples/parser:1", False),
        ("attacker.example.com:5000/miner/xmrig:1", False),
        ("ghcr.io/parser:1", False),
    ],
)
def test_images_come_only_from_the_allowed_registries(image: str, allowed: bool) -> None:
    if allowed:
        DEFAULTS.check_image(image)
        return
    with pytest.raises(SenderNotAllowedError) as caught:
        DEFAULTS.check_image(image)
    assert (caught.value.status, caught.value.attribute) == (403, "image_uri")


def test_no_allowed_registry_or_source_refuses_everything() -> None:
    nothing = sm.ManagerDefaults(
        manager_name="m",
        event_prefix="com.example",
        service_settings=RESOURCES,
        allowed_sources=(),
        allowed_registries=(),
    )
    with pytest.raises(SenderNotAllowedError, match="none are configured"):
        nothing.check_source("/builds")
    with pytest.raises(SenderNotAllowedError, match="none are configured"):
        nothing.check_image("ghcr.io/example/parser:1")
