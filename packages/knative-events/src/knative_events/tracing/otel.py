"""One server span per event, continued from the sender's W3C trace context, and passed on.

Needs the ``tracing`` extra. :func:`install` sets it up from the standard ``OTEL_*``
variables (the SDK reads them: OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_TRACES_SAMPLER,
OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, ...) and exports over OTLP/HTTP in batches.

Where the parent comes from: the request's ``traceparent``/``tracestate`` headers first,
else the event's distributed-tracing extension (``ce-traceparent`` in binary mode, the
``traceparent`` member in structured mode). A Knative broker sets the headers to its own
dispatch span, which is the hop just before this one; the extension may still name the
original producer, a few hops back. Both are W3C trace context.

The span (kind SERVER, named ``CloudEvents Process <type>``) carries the CloudEvents
semantic-convention attributes and the HTTP status the event got. It is the current span
while the handler runs, so the handler's own spans and logs join it; a reply event and
every event sent with the :class:`~knative_events.emitter.EventEmitter` get its context as
the extension and, for the emitter, also as the HTTP headers.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ..cloudevents.errors import ProblemError
from ..cloudevents.models import CloudEvent
from . import hooks

if TYPE_CHECKING:
    from ..app import ServiceApp
    from ..cloudevents.endpoint import EventEndpoint
    from ..settings import Settings

Scope = MutableMapping[str, Any]
Asgi = Callable[[Scope, Any, Any], Awaitable[None]]
Run = Callable[[CloudEvent], Awaitable[CloudEvent | None]]

_W3C: Final = TraceContextTextMapPropagator()
_TRACE_HEADERS: Final = {b"traceparent": "traceparent", b"tracestate": "tracestate"}
# The CloudEvents semantic conventions (OpenTelemetry), written out: the incubating
# semconv module that names them is not a stable import.
EVENT_ID: Final = "cloudevents.event_id"
EVENT_SOURCE: Final = "cloudevents.event_source"
EVENT_SPEC_VERSION: Final = "cloudevents.event_spec_version"
EVENT_TYPE: Final = "cloudevents.event_type"
EVENT_SUBJECT: Final = "cloudevents.event_subject"
HTTP_STATUS: Final = "http.response.status_code"
ERROR_TYPE: Final = "error.type"

_inbound: ContextVar[dict[str, str] | None] = ContextVar("inbound_trace_headers", default=None)
"""The trace headers of the request being served (set by :class:`InboundHeaders`)."""


class InboundHeaders:
    """ASGI wrapper of the event endpoint: keeps the request's W3C headers for the span."""

    def __init__(self, endpoint: Asgi) -> None:
        self.endpoint = endpoint

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        carrier: dict[str, str] | None = None
        for name, value in scope["headers"]:
            key = _TRACE_HEADERS.get(name)
            if key is not None:
                if carrier is None:
                    carrier = {}
                carrier[key] = value.decode("latin-1")
        token = _inbound.set(carrier)
        try:
            await self.endpoint(scope, receive, send)
        finally:
            _inbound.reset(token)


def with_current_context(event: CloudEvent) -> tuple[CloudEvent, dict[str, str]]:
    """A copy of ``event`` whose tracing extension is the current span; and as headers."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    if not carrier:
        return event, carrier
    traced = copy.copy(event)
    extensions = dict(event.extensions)
    extensions.pop("tracestate", None)  # a stale state must not travel with a new parent
    extensions.update(carrier)
    traced.__dict__["extensions"] = extensions
    return traced, carrier


def current_trace_id() -> str | None:
    """The current span's trace id in hex, or None outside a recorded span."""
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None


class TracedRun:
    """The endpoint's ``run`` inside one server span per event."""

    def __init__(self, run: Run, tracer: trace.Tracer) -> None:
        self._run = run
        self._tracer = tracer

    async def __call__(self, event: CloudEvent) -> CloudEvent | None:
        carrier = _inbound.get()
        if carrier is None or "traceparent" not in carrier:
            parent_id = event.extensions.get("traceparent")
            carrier = None
            if isinstance(parent_id, str):
                carrier = {"traceparent": parent_id}
                state = event.extensions.get("tracestate")
                if isinstance(state, str):
                    carrier["tracestate"] = state
        parent = _W3C.extract(carrier) if carrier else None
        attributes: dict[str, str] = {
            EVENT_ID: event.id,
            EVENT_SOURCE: event.source,
            EVENT_SPEC_VERSION: event.specversion,
            EVENT_TYPE: event.type,
        }
        if event.subject is not None:
            attributes[EVENT_SUBJECT] = event.subject
        span = self._tracer.start_span(
            f"CloudEvents Process {event.type}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attributes,
        )
        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            reply = await self._run(event)
            span.set_attribute(HTTP_STATUS, 202 if reply is None else 200)
            if reply is not None:
                reply = with_current_context(reply)[0]
        except ProblemError as exc:
            span.set_attribute(HTTP_STATUS, exc.status)
            span.set_attribute(ERROR_TYPE, exc.slug)
            if exc.status >= 500:
                span.set_status(Status(StatusCode.ERROR, exc.detail))
            raise
        except BaseException as exc:
            span.set_attribute(ERROR_TYPE, type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            otel_context.detach(token)
            span.end()
        return reply


def tracer_provider(settings: Settings) -> TracerProvider:
    """A provider exporting over OTLP/HTTP in batches, named after the service.

    OTEL_SERVICE_NAME (or ``service.name`` in OTEL_RESOURCE_ATTRIBUTES) wins over K_SERVICE.
    """
    attributes: dict[str, str] = {}
    if not os.environ.get("OTEL_SERVICE_NAME") and settings.k_service:
        attributes["service.name"] = settings.k_service
    if settings.k_revision:
        attributes["service.version"] = settings.k_revision
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    return provider


def install(app: ServiceApp, endpoint: EventEndpoint, settings: Settings) -> TracerProvider:
    """Trace every event of ``app``; the provider is shut down (and flushed) with the app."""
    provider = tracer_provider(settings)
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        # The first app of the process also serves the handlers' own tracers.
        trace.set_tracer_provider(provider)
    tracer = provider.get_tracer("knative_events")
    endpoint.run = TracedRun(endpoint.run, tracer)  # type: ignore[method-assign]
    app.serve_events = InboundHeaders(app.serve_events)
    hooks.outgoing = with_current_context
    hooks.current_trace_id = current_trace_id

    async def shutdown() -> None:
        provider.shutdown()

    app.on_shutdown.append(shutdown)
    return provider
