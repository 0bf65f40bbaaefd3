"""One log line per event outcome: failures always, successes at the owner's level and rate."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from knative_events.app import create_app
from knative_events.cloudevents.models import CloudEvent
from knative_events.cloudevents.registry import HandlerRegistry
from knative_events.settings import Settings
from knative_events.testing import EventClient


def build_registry() -> HandlerRegistry:
    registry = HandlerRegistry()

    @registry.on("test.accept")
    async def accept(event: CloudEvent, data: object) -> None:
        return None

    @registry.on("test.fail")
    async def fail(event: CloudEvent, data: object) -> None:
        raise RuntimeError("fails on purpose")

    return registry


def build_settings(**values: Any) -> Settings:
    return Settings(environ={}, **{"log_level": "WARNING", **values})


def outcome_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "knative_events.events"]


async def send(settings: Any, event_type: str, caplog: pytest.LogCaptureFixture) -> int:
    app = create_app(settings, registry=build_registry())
    with caplog.at_level(logging.DEBUG, logger="knative_events.events"):
        async with EventClient(app) as client:
            result = await client.send(event_type, {"a": 1}, source="/log", id="l-1")
    return result.status


async def test_a_failure_is_one_warning_line_with_the_event_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert await send(build_settings(), "test.fail", caplog) == 500
    [line] = outcome_lines(caplog)
    assert line.levelno == logging.WARNING
    fields = line.__dict__
    assert (fields["event_type"], fields["event_source"], fields["event_id"]) == (
        "test.fail",
        "/log",
        "l-1",
    )
    assert (fields["status"], fields["outcome"]) == (500, "handler-failed")
    assert fields["duration_ms"] >= 0
    assert "trace_id" not in fields  # tracing is off


async def test_a_refusal_is_an_info_line(caplog: pytest.LogCaptureFixture) -> None:
    assert await send(build_settings(), "test.nobody", caplog) == 400
    [line] = outcome_lines(caplog)
    assert (line.levelno, line.__dict__["status"]) == (logging.INFO, 400)


async def test_successes_follow_the_owner_settings(caplog: pytest.LogCaptureFixture) -> None:
    assert await send(build_settings(log_level="INFO"), "test.accept", caplog) == 202
    assert outcome_lines(caplog) == []  # DEBUG by default, below LOG_LEVEL=INFO
    caplog.clear()
    settings = build_settings(log_level="INFO", log_success_level="INFO")
    assert await send(settings, "test.accept", caplog) == 202
    [line] = outcome_lines(caplog)
    assert (line.levelno, line.__dict__["status"], line.__dict__["outcome"]) == (
        logging.INFO,
        202,
        "accepted",
    )
    caplog.clear()
    settings = build_settings(
        log_level="INFO", log_success_level="INFO", log_success_sample_rate=0.0
    )
    assert await send(settings, "test.accept", caplog) == 202
    assert outcome_lines(caplog) == []
