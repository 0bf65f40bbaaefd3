"""The ASGI application: ``create_app()`` builds it, ``app`` is what uvicorn serves.

``uvicorn <package>.main:app`` serves a FastAPI app (OpenAPI docs, health, metrics, any
routes you add) whose ``__call__`` first sends every request for ``/`` straight to the
event endpoint, skipping Starlette's middleware and routing: that path is the service's
hot path and only needs the lean ASGI endpoint. Lifespan and all other paths go to
FastAPI as usual. (Middleware added with ``app.add_middleware`` therefore does not see
event deliveries; put cross-cutting event logic in the endpoint or the handlers.)
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .cloudevents.dependencies import problem_exception_handler
from .cloudevents.endpoint import EventEndpoint
from .cloudevents.errors import ProblemError
from .cloudevents.openapi import EVENT_PATH_ITEM
from .cloudevents.problem import PROBLEM_BASE, PROBLEM_DOCS
from .cloudevents.registry import HandlerRegistry
from .health import HealthState, drain_on_sigterm
from .health import router as health_router
from .logs import configure_logging
from .metrics import EventMetrics
from .settings import Settings

EVENT_PATH = "/"


class EventApp(FastAPI):
    """FastAPI with the CloudEvents endpoint in front of its routing."""

    def __init__(self, *, event_endpoint: EventEndpoint, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.event_endpoint = event_endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Dispatch ``/`` to the event endpoint before any middleware or routing."""
        if scope["type"] == "http" and scope["path"] == EVENT_PATH:
            await self.event_endpoint(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _lifespan(
    health: HealthState, endpoint: EventEndpoint
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        restore = drain_on_sigterm(health)
        endpoint.warm_up()
        # Everything loaded so far (FastAPI, pydantic schemas, handlers) lives as long as
        # the process: move it out of the garbage collector's view so the collections
        # that per-event garbage triggers stay short. (No gc.collect() first: it finds
        # next to nothing after imports and would add ~30 ms to every cold start.)
        gc.freeze()
        health.mark_started()
        try:
            yield
        finally:
            health.mark_draining()
            restore()
            await endpoint.close()

    return lifespan


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """OpenAPI that also documents ``POST /``, which bypasses FastAPI's routing."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            schema.setdefault("paths", {})[EVENT_PATH] = EVENT_PATH_ITEM
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


def create_app(
    settings: Settings | None = None, *, registry: HandlerRegistry | None = None
) -> EventApp:
    """Build the app. ``registry`` defaults to the handlers in ``<package>.handlers``."""
    settings = settings if settings is not None else Settings()
    configure_logging(
        settings.log_level, service=settings.k_service, revision=settings.k_revision or ""
    )
    if registry is None:
        # Imported here so the handler modules (and their imports) load once, on demand.
        from .handlers import registry as default_registry  # noqa: PLC0415

        registry = default_registry
    metrics = EventMetrics()
    health = HealthState()
    endpoint = EventEndpoint(
        registry,
        max_body_bytes=settings.max_body_bytes,
        handler_timeout_seconds=settings.handler_timeout_seconds,
        max_concurrent_handlers=settings.max_concurrent_handlers,
        retry_after_seconds=settings.retry_after_seconds,
        metrics=metrics,
    )
    app = EventApp(
        event_endpoint=endpoint,
        title=settings.k_service,
        version=settings.k_revision or "local",
        description="Receives CloudEvents on POST / (binary, structured or batch mode).",
        lifespan=_lifespan(health, endpoint),
    )
    app.state.settings = settings
    app.state.health = health
    app.state.metrics = metrics
    app.state.registry = registry
    app.add_exception_handler(ProblemError, problem_exception_handler)
    # Reached only when the app is mounted under a prefix (the fast path checks the raw path).
    app.router.routes.insert(0, Route(EVENT_PATH, endpoint=endpoint, include_in_schema=False))
    app.include_router(health_router)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        body, content_type = metrics.render()
        return Response(content=body, media_type=content_type)

    @app.get(PROBLEM_BASE + "{slug}", tags=["problems"], summary="What a problem type means")
    async def problem_type(slug: str) -> dict[str, Any]:
        """The documentation of a problem ``type`` this service returns."""
        if slug not in PROBLEM_DOCS:
            raise HTTPException(status_code=404, detail=f"no problem type {slug!r}")
        status, title, description = PROBLEM_DOCS[slug]
        return {
            "type": PROBLEM_BASE + slug,
            "status": status,
            "title": title,
            "description": description,
        }

    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app


app = create_app()
