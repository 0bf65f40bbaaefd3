"""FastAPI dependencies for ordinary routes that take a CloudEvent.

    @api.post("/orders")  # on the service's app.api
    async def orders(event: CloudEventDep) -> dict[str, str]: ...

The dependency reads the body under the same MAX_BODY_BYTES limit as the event endpoint
and raises the adapter's errors; :func:`problem_exception_handler` (installed by
``api.build_api``) turns them into ``application/problem+json`` with the same status codes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.responses import Response

from .errors import PayloadTooLargeError, ProblemError
from .models import CloudEvent
from .parser import ContentMode, content_mode, from_http, parse_batch
from .problem import problem_parts

DEFAULT_MAX_BODY_BYTES = 1024 * 1024


def _limit(request: Request) -> int:
    settings = getattr(request.app.state, "settings", None)
    return int(getattr(settings, "max_body_bytes", DEFAULT_MAX_BODY_BYTES))


async def read_body(request: Request) -> bytes:
    """The request body, refused with 413 as soon as it passes the limit."""
    limit = _limit(request)
    declared = request.headers.get("content-length", "")
    # isascii first: str.isdigit() is also true of "²" and other digits int() refuses.
    if declared.isascii() and declared.isdigit() and (len(declared) > 15 or int(declared) > limit):
        raise PayloadTooLargeError(
            f"Content-Length {declared[:20]} exceeds the limit of {limit} bytes"
        )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLargeError(f"the body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def cloud_event(request: Request) -> CloudEvent:
    """The request as one CloudEvent (binary or structured mode)."""
    return from_http(request.headers, await read_body(request))


async def cloud_events(request: Request) -> list[CloudEvent]:
    """The request as a list of CloudEvents: a batch, or a one-event list otherwise."""
    body = await read_body(request)
    if content_mode(request.headers.get("content-type")) is ContentMode.BATCH:
        return parse_batch(body)
    return [from_http(request.headers, body)]


CloudEventDep = Annotated[CloudEvent, Depends(cloud_event)]
CloudEventsDep = Annotated[list[CloudEvent], Depends(cloud_events)]


async def problem_exception_handler(request: Request, exc: Exception) -> Response:
    """FastAPI exception handler: any ProblemError becomes its problem+json response."""
    if not isinstance(exc, ProblemError):  # pragma: no cover - registered for ProblemError only
        raise exc
    status, headers, body = problem_parts(exc)
    response = Response(content=body, status_code=status)
    response.raw_headers = headers
    return response
