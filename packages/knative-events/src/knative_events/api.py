"""The FastAPI side of the service: OpenAPI docs, problem-type pages and your routes.

``app.ServiceApp`` answers ``POST /`` (events), the health probes and ``/metrics`` itself
and builds this app only when another path is first requested (``/docs``,
``/openapi.json``, ``/problems/<slug>``, a route of yours), so a pod scaled from zero
accepts its first event without importing FastAPI. The app is ``app.api``.

Add your routes on the service's app (``app.api.include_router(orders.router)`` in its
``main.py``; touching ``app.api`` builds it at once, so routes added at import give up
the lazy FastAPI import). Routes that take a CloudEvent use ``CloudEventDep`` from
``cloudevents/dependencies.py``; its errors become ``application/problem+json`` through
the exception handler installed here. Start-up and shutdown work belongs in
``ServiceApp.lifespan`` (``app.py``), which runs whether or not this app exists.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, HTTPException
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from starlette.routing import Route

from .cloudevents.dependencies import problem_exception_handler
from .cloudevents.endpoint import EVENT_PATH
from .cloudevents.errors import ProblemError
from .cloudevents.openapi import EVENT_PATH_ITEM
from .cloudevents.problem import PROBLEM_BASE, PROBLEM_DOCS
from .health import LIVE_PATH, READY_PATH, liveness, readiness
from .metrics import METRICS_PATH

if TYPE_CHECKING:
    from .app import ServiceApp


def build_api(service: ServiceApp) -> FastAPI:
    """The FastAPI app for every path ``service`` does not answer itself."""
    settings = service.state.settings
    api = FastAPI(
        title=settings.k_service or "CloudEvents service",
        version=settings.k_revision or "local",
        description="Receives CloudEvents on POST / (binary, structured or batch mode).",
        docs_url="/docs" if settings.api_docs else None,
        redoc_url="/redoc" if settings.api_docs else None,
        openapi_url="/openapi.json" if settings.api_docs else None,
    )
    # Dependencies read the limits from here (``request.app`` is this app).
    api.state.settings = settings
    api.state.health = service.state.health
    api.state.metrics = service.state.metrics
    api.state.registry = service.state.registry
    api.add_exception_handler(ProblemError, problem_exception_handler)
    # Reached only when this app is served on its own (ServiceApp sends "/" to the endpoint).
    api.router.routes.append(
        Route(EVENT_PATH, endpoint=service.event_endpoint, include_in_schema=False)
    )
    # The fast path answers GET/HEAD of these first; here they are documented and other
    # methods get FastAPI's 405.
    api.include_router(_health_router(service))

    @api.get(METRICS_PATH, include_in_schema=False)
    async def prometheus_metrics() -> Response:
        body, content_type = service.state.metrics.render()
        return Response(content=body, media_type=content_type)

    @api.get(PROBLEM_BASE + "{slug}", tags=["problems"], summary="What a problem type means")
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

    api.openapi = _openapi(api)  # type: ignore[method-assign]
    return api


def _health_router(service: ServiceApp) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get(LIVE_PATH, summary="Liveness probe")
    async def live() -> dict[str, str]:
        """200 while the process serves requests."""
        return liveness()[1]

    @router.get(
        READY_PATH, summary="Readiness probe", responses={503: {"description": "Not ready"}}
    )
    async def ready() -> JSONResponse:
        """200 once start-up completed; 503 while starting and from the moment shutdown begins."""
        status, document = readiness(service.state.health)
        return JSONResponse(document, status_code=status)

    return router


def _openapi(api: FastAPI) -> Callable[[], dict[str, Any]]:
    """OpenAPI that also documents ``POST /``, which ServiceApp serves outside FastAPI."""

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            schema = get_openapi(
                title=api.title,
                version=api.version,
                description=api.description,
                routes=api.routes,
            )
            schema.setdefault("paths", {})[EVENT_PATH] = EVENT_PATH_ITEM
            api.openapi_schema = schema
        return api.openapi_schema

    return openapi
