"""The service manager's defaults are this service's answers, in one place."""

from __future__ import annotations

from {{ package_name }}.handlers import builds
from {{ package_name }}.knative import constants as c
from {{ package_name }}.knative import service_manager as sm


def test_settings_default_to_the_answers() -> None:
    settings = sm.ServiceManagerSettings()
    assert settings.broker == "{{ broker_name }}"
    assert settings.broker_class == "{{ broker_class }}"
    assert settings.rabbitmq_parallelism == {{ rabbitmq_parallelism }}
    assert settings.delivery_retry == {{ delivery_retry }}
    assert settings.delivery_backoff_policy == "{{ delivery_backoff_policy }}"
    assert settings.delivery_backoff_delay == "{{ delivery_backoff_delay }}"
    assert settings.dead_letter_sink == "{{ dead_letter_sink }}"
{%- if dead_letter_sink %}
    assert settings.delivery().dead_letter_sink == "{{ dead_letter_sink }}"
{%- else %}
    assert settings.delivery().dead_letter_sink is None
{%- endif %}


def test_limits_come_from_the_constants() -> None:
    assert sm.generate_service_name("a" * 300, "b" * 300).__len__() == c.SERVICE_NAME_MAX_LENGTH
    fields = sm.ServiceManagerSettings.model_fields["rabbitmq_parallelism"].metadata
    bounds = {type(m).__name__: m for m in fields}
    assert bounds["Ge"].ge == c.RABBITMQ_PARALLELISM_MIN
    assert bounds["Le"].le == c.RABBITMQ_PARALLELISM_MAX


def test_event_types_do_not_clash_with_the_answered_ones() -> None:
    answered = {{ event_types | tojson }}
    assert builds.BUILD_COMPLETED_TYPE not in answered
    assert builds.SERVICE_DELETE_TYPE not in answered
    assert builds.BUILD_COMPLETED_TYPE != builds.SERVICE_DELETE_TYPE
