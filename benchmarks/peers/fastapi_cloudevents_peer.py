"""fastapi-cloudevents: a FastAPI route class that parses the body as a CloudEvent model.

fastapi-cloudevents 2.0.2 imports the CloudEvents SDK 1.x module names
(``cloudevents.http``, ``cloudevents.pydantic``...). The SDK 2.x installed here ships
that 1.x code unchanged under ``cloudevents.v1``; ``_sdk1_names`` maps the old names
onto it, which is what running fastapi-cloudevents with ``cloudevents<2`` would execute.
"""

from __future__ import annotations

import _sdk1_names  # noqa: F401 - must run before fastapi_cloudevents is imported
from fastapi import FastAPI, Response
from fastapi_cloudevents import CloudEvent, install_fastapi_cloudevents

app = install_fastapi_cloudevents(FastAPI())


@app.post("/", status_code=202)
async def on_event(event: CloudEvent) -> Response:
    """The library validated ``event`` against its pydantic model; accept it."""
    return Response(status_code=202)
