"""FastAPI with the official CloudEvents SDK HTTP binding in a ``POST /`` route.

The SDK is the 2.x line (the one installed with func-python and the rendered service):
``cloudevents.core.bindings.http.from_http_event`` is its documented HTTP entry point and
detects binary or structured mode. (The 1.x ``cloudevents.http.from_http`` lives on as
``cloudevents.v1.http.from_http`` and is about twice as slow per event, so the faster,
current binding is the fairer peer.)
"""

from __future__ import annotations

from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from cloudevents.core.exceptions import BaseCloudEventException
from fastapi import FastAPI, Request, Response

app = FastAPI()


@app.post("/", status_code=202)
async def receive_event(request: Request) -> Response:
    """Parse the request as a CloudEvent; 400 when it is not one, 202 when it is."""
    body = await request.body()
    try:
        from_http_event(HTTPMessage(headers=dict(request.headers), body=body))
    except (BaseCloudEventException, ValueError, TypeError) as error:
        return Response(content=str(error), status_code=400, media_type="text/plain")
    return Response(status_code=202)
