"""create_app: events, probes and metrics in plain ASGI, the FastAPI app built on demand."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from knative_events.app import ServiceApp, create_app
from knative_events.cloudevents.problem import PROBLEM_DOCS
from knative_events.cloudevents.registry import HandlerRegistry
from knative_events.health import HealthState, Phase, drain_on_sigterm
from knative_events.settings import Settings, SettingsError


def test_create_app_builds_the_fastapi_app_on_first_use(app: ServiceApp) -> None:
    assert isinstance(app.state.settings, Settings)
    assert "test.accept" in app.state.registry
    assert not app.api_built
    api = app.api
    assert isinstance(api, FastAPI)
    assert app.api is api
    assert app.api_built
    assert api.state.settings is app.state.settings  # what CloudEventDep reads its limit from


def test_a_service_module_app_serves_its_own_registry() -> None:
    from example_service import app, registry

    assert isinstance(app, ServiceApp)
    assert app.state.registry is registry


def test_create_app_requires_a_registry() -> None:
    with pytest.raises(TypeError, match="registry"):
        create_app(Settings(environ={}))  # type: ignore[call-arg]


async def test_openapi_documents_the_event_endpoint(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    post = schema["paths"]["/"]["post"]
    assert {"200", "202", "400", "413", "415", "422", "500", "503", "504"} <= set(post["responses"])
    assert "/health/ready" in schema["paths"]
    assert (await client.get("/docs")).status_code == 200


async def test_every_problem_type_is_documented(client: httpx.AsyncClient) -> None:
    for slug, (status, title, _) in PROBLEM_DOCS.items():
        document = (await client.get(f"/problems/{slug}")).json()
        assert (document["status"], document["title"]) == (status, title)
    assert (await client.get("/problems/nope")).status_code == 404


async def test_the_app_routes_other_paths_normally(client: httpx.AsyncClient) -> None:
    assert (await client.get("/nope")).status_code == 404
    assert (await client.get("/health/live")).json() == {"status": "alive"}


async def test_metrics_are_exposed(
    client: httpx.AsyncClient, binary_headers: dict[str, str]
) -> None:
    await client.post("/", headers=binary_headers, content=b"{}")
    text = (await client.get("/metrics")).text
    assert 'cloudevents_received_total{outcome="accepted",type="test.accept"} 1.0' in text
    assert 'cloudevents_received_total{outcome="accepted",type="test.echo"} 0.0' in text
    assert "cloudevents_handlers_in_flight 0.0" in text


async def test_probes_and_metrics_answer_like_the_documented_routes(
    client: httpx.AsyncClient, app: ServiceApp
) -> None:
    """The fast path and the FastAPI routes give the same answers (and HEAD works)."""
    fast = [await client.get(path) for path in ("/health/live", "/health/ready", "/metrics")]
    head = await client.head("/metrics")
    assert not app.api_built
    api_client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app.api), base_url="http://t")
    async with api_client:
        slow = [await api_client.get(path) for path in ("/health/live", "/health/ready")]
        slow.append(await api_client.get("/metrics"))
        assert (await api_client.post("/metrics")).status_code == 405
    for one, other in zip(fast, slow, strict=True):
        assert (one.status_code, one.headers["content-type"]) == (
            other.status_code,
            other.headers["content-type"],
        )
    assert [r.json() for r in fast[:2]] == [r.json() for r in slow[:2]]
    assert fast[0].content == b'{"status":"alive"}'
    assert (head.status_code, head.content) == (200, b"")
    assert int(head.headers["content-length"]) > 0
    assert (await client.post("/health/live")).status_code == 405


async def test_a_failing_start_up_is_reported_to_the_server(app: ServiceApp) -> None:
    """The ASGI lifespan protocol: a start-up error is sent as startup.failed and raised."""

    def broken() -> None:
        raise RuntimeError("no warm-up today")

    app.event_endpoint.warm_up = broken  # type: ignore[method-assign]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "lifespan.startup"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    with pytest.raises(RuntimeError, match="no warm-up today"):
        await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    assert sent == [
        {"type": "lifespan.startup.failed", "message": "RuntimeError: no warm-up today"}
    ]


async def test_the_lifespan_protocol_starts_and_stops_the_app(app: ServiceApp) -> None:
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    sent: list[str] = []
    phases: list[str] = []

    async def receive() -> dict[str, object]:
        phases.append(app.state.health.phase.value)
        return next(messages)

    async def send(message: dict[str, object]) -> None:
        sent.append(str(message["type"]))

    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    assert phases == ["starting", "ready"]
    assert app.state.health.phase.value == "draining"
    assert not app.api_built


async def test_a_fastapi_app_built_before_start_up_gets_its_lifespan_too(
    app: ServiceApp,
) -> None:
    """Routes added at import build ``app.api`` early; its own lifespan then runs inside ours."""
    steps: list[str] = []

    @asynccontextmanager
    async def extra(_: object) -> AsyncIterator[None]:
        steps.append(f"start while {app.state.health.phase.value}")
        yield
        steps.append(f"stop while {app.state.health.phase.value}")

    app.api.router.lifespan_context = extra
    async with app.lifespan():
        assert steps == ["start while starting"]
    assert steps == ["start while starting", "stop while draining"]


async def test_readiness_follows_the_lifespan(app: ServiceApp) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/health/ready")).status_code == 503
        async with app.lifespan():
            ready = await client.get("/health/ready")
            assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
        draining = await client.get("/health/ready")
        assert (draining.status_code, draining.json()) == (503, {"status": "draining"})
        assert (await client.get("/health/live")).status_code == 200


def test_sigterm_marks_draining_then_calls_the_previous_handler() -> None:
    """Readiness flips the moment SIGTERM arrives, before the server starts to drain."""
    calls: list[int] = []
    original = signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    try:
        state = HealthState()
        state.mark_started()
        restore = drain_on_sigterm(state)
        os.kill(os.getpid(), signal.SIGTERM)
        assert state.phase is Phase.DRAINING
        assert calls == [signal.SIGTERM]
        restore()
        os.kill(os.getpid(), signal.SIGTERM)
        assert calls == [signal.SIGTERM, signal.SIGTERM]
        state.mark_started()
        assert not state.ready  # never ready again once draining
    finally:
        signal.signal(signal.SIGTERM, original)


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("K_SERVICE", "svc")
    monkeypatch.setenv("K_REVISION", "svc-00001")
    monkeypatch.setenv("K_SINK", "http://sink.example")
    monkeypatch.setenv("MAX_BODY_BYTES", "10")
    monkeypatch.setenv("HANDLER_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("MAX_CONCURRENT_HANDLERS", "3")
    settings = Settings()
    assert (settings.port, settings.k_service, settings.k_revision) == (9000, "svc", "svc-00001")
    assert settings.k_sink == "http://sink.example"
    assert (settings.max_body_bytes, settings.handler_timeout_seconds) == (10, 2.5)
    assert settings.max_concurrent_handlers == 3


def test_settings_defaults_are_knative_neutral(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORT", "MAX_BODY_BYTES", "HANDLER_TIMEOUT_SECONDS", "MAX_CONCURRENT_HANDLERS"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.port == 8080
    assert settings.max_body_bytes == 1024 * 1024
    assert settings.handler_timeout_seconds == 30.0
    assert settings.max_concurrent_handlers == 1000
    assert settings.retry_after_seconds == 1
    assert settings.log_level == "INFO"


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("PORT", "0", "must be 1 to 65535"),
        ("PORT", "http", "must be an integer"),
        ("MAX_BODY_BYTES", "0", "must be 1 or more"),
        ("HANDLER_TIMEOUT_SECONDS", "0", "greater than 0"),
        ("HANDLER_TIMEOUT_SECONDS", "nan", "must be a number"),
        ("MAX_CONCURRENT_HANDLERS", "1.5", "must be an integer"),
        ("RETRY_AFTER_SECONDS", "-1", "must be 0 or more"),
        ("LOG_LEVEL", "LOUD", "must be one of DEBUG"),
    ],
)
def test_bad_settings_are_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        Settings()
    assert str(caught.value).startswith(f"{name}=")
    assert problem in str(caught.value)


def test_settings_from_code_are_checked_too() -> None:
    with pytest.raises(SettingsError, match="MAX_CONCURRENT_HANDLERS=0"):
        Settings(max_concurrent_handlers=0)
    with pytest.raises(SettingsError, match="PORT=True"):
        Settings(port=True)


def test_values_win_over_the_environment_and_unknown_names_are_refused() -> None:
    settings = Settings(environ={"PORT": "9000", "LOG_LEVEL": "DEBUG"}, port=9001)
    assert (settings.port, settings.log_level) == (9001, "DEBUG")
    assert Settings(environ={}).port == 8080
    with pytest.raises(TypeError, match="unknown settings: prot"):
        Settings(prot=9001)


def test_create_app_builds_independent_apps() -> None:
    """Each app has its own metrics registry, so building two never collides."""
    first = create_app(Settings(environ={}), registry=HandlerRegistry())
    second = create_app(Settings(environ={}), registry=HandlerRegistry())
    assert first.state.metrics.registry is not second.state.metrics.registry


async def test_mounted_under_a_prefix_events_still_reach_the_endpoint(
    app: ServiceApp, binary_headers: dict[str, str]
) -> None:
    """The fast path reads the path below ``root_path``, as Starlette's routing does."""
    parent = FastAPI()
    parent.mount("/events", app)
    transport = httpx.ASGITransport(app=parent)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        accepted = await client.post("/events/", headers=binary_headers, content=b"{}")
        refused = await client.post("/events/", headers=binary_headers, content=b"{")
    assert accepted.status_code == 202
    assert refused.status_code == 400
    assert refused.headers["content-type"] == "application/problem+json"
    assert not app.api_built


async def test_api_docs_false_serves_no_docs_or_schema(registry: HandlerRegistry) -> None:
    """API_DOCS=false (the prod overlay): no /docs, /redoc or /openapi.json; events still work."""
    settings = Settings(environ={"API_DOCS": "false"}, log_level="WARNING")
    app = create_app(settings, registry=registry)
    async with app.lifespan():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
            for path in ("/docs", "/redoc", "/openapi.json"):
                assert (await http.get(path)).status_code == 404, path
            assert (await http.get("/problems/not-allowed")).status_code == 200
            headers = {
                "ce-specversion": "1.0",
                "ce-id": "1",
                "ce-source": "/t",
                "ce-type": "test.accept",
                "content-type": "application/json",
            }
            assert (await http.post("/", headers=headers, content=b"{}")).status_code == 202
