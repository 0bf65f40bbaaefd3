"""knative/func's Python runtime: func-python's CloudEvent middleware around a minimal function.

``func_python.cloudevent.serve`` would start hypercorn; the benchmark serves the same
``ASGIApplication`` under uvicorn instead, so every target runs on the same server and
only the middleware differs. The middleware decodes the event (binary or structured)
with the CloudEvents SDK 2.x binding into ``scope["event"]`` before calling ``handle``.
"""

from __future__ import annotations

from typing import Any

from func_python.cloudevent import ASGIApplication


class Function:
    """What ``func create -l python -t cloudevents`` scaffolds, reduced to accepting the event."""

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Accept the decoded event with 202 and no body (no reply event)."""
        await send.http(
            {"type": "http.response.start", "status": 202, "headers": [(b"content-length", b"0")]}
        )
        await send.http({"type": "http.response.body", "body": b""})


def new() -> Function:
    """The constructor ``func_python.cloudevent.serve`` expects (the as-shipped launch)."""
    return Function()


app = ASGIApplication(Function())
