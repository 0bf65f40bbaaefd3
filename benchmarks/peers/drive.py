"""Drive one ASGI app in-process with the benchmark's request: no server, no sockets.

Run by ``benchmarks/instructions.py`` under callgrind, which counts the CPU instructions
the app itself spends per event. Usage::

    python drive.py MODULE:ATTR REQUEST.json COUNT

The request file holds the headers (as a server would pass them: lowercase names, Host
and Content-Length included) and the body. Lifespan start-up runs first; then 1,000
warm-up requests and COUNT measured ones, each in its own task as uvicorn runs them, each
answered 2xx or the run fails. The difference between two runs with different COUNTs is
what COUNT events cost: start-up and warm-up cancel out.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import sys
from typing import Any

import uvloop

WARM_UP = 1000
ID = b"4f1e7c9a-0001"  # the event id of the request files (instructions.request_file)


def load(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr)


async def start_lifespan(app: Any) -> tuple[asyncio.Queue[dict[str, Any]], asyncio.Task[Any]]:
    """Run the app's lifespan until start-up completes (apps without one are fine too)."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started = asyncio.Event()

    async def send(message: dict[str, Any]) -> None:
        if message["type"].startswith("lifespan.startup"):
            if message["type"] != "lifespan.startup.complete":
                raise RuntimeError(f"lifespan start-up failed: {message}")
            started.set()

    async def run() -> None:
        try:
            await app(
                {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, inbox.get, send
            )
        finally:
            started.set()  # an app without lifespan support returns or raises at once

    await inbox.put({"type": "lifespan.startup"})
    task = asyncio.get_running_loop().create_task(run())
    await started.wait()
    return inbox, task


async def drive(app: Any, headers: list[tuple[bytes, bytes]], body: bytes, count: int) -> None:
    scope_base = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "scheme": "http",
        "method": "POST",
        "root_path": "",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": headers,
    }
    request = {"type": "http.request", "body": body, "more_body": False}
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return request

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def one() -> None:
        await app(dict(scope_base, state={}), receive, send)  # a fresh scope per request

    if os.environ.get("BENCH_UNIQUE_IDS") == "1":
        # Every request a new event id (as wrk sends them), so a service that deduplicates
        # handles each one; same length, so nothing else about the request changes.
        requests = unique_requests(headers, body, WARM_UP + count)
        numbered = iter(requests)

        async def one() -> None:
            scope_headers, body_now = next(numbered)
            message = {"type": "http.request", "body": body_now, "more_body": False}

            async def receive_now() -> dict[str, Any]:
                return message

            await app(dict(scope_base, headers=scope_headers, state={}), receive_now, send)

    loop = asyncio.get_running_loop()
    inbox, lifespan = await start_lifespan(app)
    for _ in range(WARM_UP + count):
        await loop.create_task(one())
    refused = [status for status in statuses if not 200 <= status < 300]
    if len(statuses) != WARM_UP + count or refused:
        raise SystemExit(f"expected {WARM_UP + count} 2xx answers, got {statuses[:5]}...")
    await inbox.put({"type": "lifespan.shutdown"})
    await asyncio.wait_for(lifespan, timeout=5)


def unique_requests(
    headers: list[tuple[bytes, bytes]], body: bytes, total: int
) -> list[tuple[list[tuple[bytes, bytes]], bytes]]:
    """``total`` copies of the request, the n-th with event id n (13 digits, like ID)."""
    result = []
    for n in range(total):
        new_id = f"{n:013d}".encode()
        if b"ce-id" in dict(headers):
            numbered = [(k, new_id if k == b"ce-id" else v) for k, v in headers]
            result.append((numbered, body))
        else:
            result.append((headers, body.replace(ID, new_id, 1)))
    return result


def main() -> None:
    spec, request_file, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(request_file, encoding="utf-8") as handle:
        request = json.load(handle)
    headers = [
        (name.encode("latin-1"), value.encode("latin-1")) for name, value in request["headers"]
    ]
    app = load(spec)
    uvloop.run(drive(app, headers, request["body"].encode(), count))


if __name__ == "__main__":
    main()
