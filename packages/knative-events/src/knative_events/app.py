"""The ASGI application: ``create_app(settings, registry=...)`` builds it.

A service puts its handlers and settings together in one line of its ``main.py``::

    app = create_app(Settings(), registry=registry)

and ``uvicorn <package>.main:app`` serves that :class:`ServiceApp`, a small ASGI app that
runs the lifespan and answers the paths a scaled-from-zero pod needs at once without
importing FastAPI: ``POST /`` (every event, straight to the event endpoint),
``GET /health/live``, ``GET /health/ready`` and ``GET /metrics``. Every other request goes
to the FastAPI app of ``api.py`` (OpenAPI docs, problem-type pages, your routes), built on
the first such request and available as ``app.api``. Importing FastAPI is most of a cold
start, and events never need it. (Middleware added with ``app.api.add_middleware``
therefore sees neither events nor probes; put cross-cutting event logic in the endpoint or
the handlers.)
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import AsyncExitStack, asynccontextmanager
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Final

import orjson

from .cloudevents.endpoint import EVENT_PATH, EventEndpoint, Receive, Scope, Send
from .cloudevents.registry import HandlerRegistry
from .event_log import EventLog
from .health import LIVE_PATH, READY_PATH, HealthState, drain_on_sigterm, liveness, readiness
from .logs import configure_logging
from .metrics import METRICS_PATH, EventMetrics
from .settings import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from .event_auth import EventGate

_FAST_METHODS: Final = frozenset({"GET", "HEAD"})
_JSON: Final = b"application/json"


class ServiceApp:
    """Lifespan, events, probes and metrics in plain ASGI; FastAPI for the rest, on demand."""

    def __init__(
        self,
        *,
        settings: Settings,
        registry: HandlerRegistry,
        endpoint: EventEndpoint,
        health: HealthState,
        metrics: EventMetrics,
        gate: EventGate | None = None,
    ) -> None:
        self.event_endpoint = endpoint
        self.gate = gate
        self.serve_events: Callable[[Scope, Receive, Send], Awaitable[None]] = endpoint
        """What ``POST /`` goes to: the endpoint, or tracing's wrapper of it."""
        self.state = SimpleNamespace(
            settings=settings, health=health, metrics=metrics, registry=registry
        )
        self._api: FastAPI | None = None
        self.on_shutdown: list[Callable[[], Awaitable[None]]] = []
        """Closed after the endpoint at shutdown (the idempotency store, the tracer)."""

    @property
    def api(self) -> FastAPI:
        """The FastAPI app for every other path (built, and FastAPI imported, on first use)."""
        if self._api is None:  # one event loop thread: no lock needed
            from .api import build_api  # noqa: PLC0415 - the point is to import it late

            self._api = build_api(self)
        return self._api

    @property
    def api_built(self) -> bool:
        """Whether :attr:`api` has been built (and FastAPI imported) yet."""
        return self._api is not None

    @asynccontextmanager
    async def lifespan(self) -> AsyncIterator[None]:
        """Start-up and shutdown; uvicorn runs it through the ASGI lifespan protocol."""
        health: HealthState = self.state.health
        endpoint = self.event_endpoint
        restore = drain_on_sigterm(health)
        async with AsyncExitStack() as stack:
            if self._api is not None:
                # Built before start-up (routes added at import): run its own lifespan too.
                await stack.enter_async_context(self._api.router.lifespan_context(self._api))
            endpoint.warm_up()
            # Everything loaded so far (modules, handlers, caches) lives as long as the
            # process: move it out of the garbage collector's view so the collections that
            # per-event garbage triggers stay short. (No gc.collect() first: it finds next
            # to nothing after imports and would only delay every cold start.)
            gc.freeze()
            health.mark_started()
            try:
                yield
            finally:
                health.mark_draining()
                restore()
                await endpoint.close()
                for close in self.on_shutdown:
                    await close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch: events, probes and metrics here; lifespan here; the rest to FastAPI."""
        kind = scope["type"]
        if kind == "http":
            path = scope["path"]
            if scope.get("root_path"):
                path = _route_path(scope)
            if path == EVENT_PATH:
                if self.gate is None or await self.gate.admits(scope, send):
                    await self.serve_events(scope, receive, send)
                return
            if scope["method"] in _FAST_METHODS:
                answer = self._fast_answer(path)
                if answer is not None:
                    status, content_type, body = answer
                    await _respond(send, status, content_type, body, scope["method"] == "HEAD")
                    return
        elif kind == "lifespan":
            await self._serve_lifespan(receive, send)
            return
        await self.api(scope, receive, send)

    def _fast_answer(self, path: str) -> tuple[int, bytes, bytes] | None:
        if path == READY_PATH:
            status, document = readiness(self.state.health)
            return status, _JSON, orjson.dumps(document)
        if path == LIVE_PATH:
            status, document = liveness()
            return status, _JSON, orjson.dumps(document)
        if path == METRICS_PATH:
            metrics: EventMetrics = self.state.metrics
            body, content_type = metrics.render()
            return 200, content_type.encode("latin-1"), body
        return None

    async def _serve_lifespan(self, receive: Receive, send: Send) -> None:
        """The ASGI lifespan protocol around :meth:`lifespan`."""
        started = False
        await receive()  # lifespan.startup
        try:
            async with self.lifespan():
                await send({"type": "lifespan.startup.complete"})
                started = True
                await receive()  # lifespan.shutdown
        except BaseException as exc:
            failed = "lifespan.shutdown.failed" if started else "lifespan.startup.failed"
            await send({"type": failed, "message": f"{type(exc).__name__}: {exc}"})
            raise
        await send({"type": "lifespan.shutdown.complete"})


def _route_path(scope: MutableMapping[str, Any]) -> str:
    """The path below ``root_path`` (mounted apps, ``uvicorn --root-path``), as Starlette does."""
    path: str = scope["path"]
    root: str = scope["root_path"]
    if path.startswith(root) and path[len(root) : len(root) + 1] == "/":
        return path[len(root) :]
    return path


async def _respond(send: Send, status: int, content_type: bytes, body: bytes, head: bool) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


def create_app(settings: Settings | None = None, *, registry: HandlerRegistry) -> ServiceApp:
    """Build the app serving ``registry``'s handlers; ``settings`` defaults to ``Settings()``.

    The registry is explicit so the runtime never guesses where a service keeps its
    handlers, and a test can build an app around a registry of its own.
    """
    settings = settings if settings is not None else Settings()
    configure_logging(
        settings.log_level, service=settings.k_service, revision=settings.k_revision or ""
    )
    metrics = EventMetrics()
    health = HealthState()
    endpoint = EventEndpoint(
        registry,
        max_body_bytes=settings.max_body_bytes,
        handler_timeout_seconds=settings.handler_timeout_seconds,
        max_concurrent_handlers=settings.max_concurrent_handlers,
        retry_after_seconds=settings.retry_after_seconds,
        metrics=metrics,
        event_log=EventLog(
            success_level=settings.log_success_level,
            success_sample_rate=settings.log_success_sample_rate,
        ),
    )
    gate = None
    if settings.event_auth == "oidc" and settings.event_audience:
        from .event_auth import EventGate, TokenVerifier  # noqa: PLC0415 - the oidc extra

        verifier = TokenVerifier(
            settings.oidc_jwks_url, settings.event_audience, issuer=settings.oidc_issuer
        )
        gate = EventGate(verifier)
    app = ServiceApp(
        settings=settings,
        registry=registry,
        endpoint=endpoint,
        health=health,
        metrics=metrics,
        gate=gate,
    )
    if settings.idempotency != "none":  # else nothing of it is imported
        from .idempotency.setup import install_from_settings  # noqa: PLC0415

        app.on_shutdown.append(install_from_settings(endpoint, settings).close)
    if settings.tracing:  # outside idempotency: a duplicate gets its own span too
        from .tracing.otel import install  # noqa: PLC0415 - loads OpenTelemetry

        app.state.tracer_provider = install(app, endpoint, settings)
    return app
