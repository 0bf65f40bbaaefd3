"""Events, probes and metrics are served before FastAPI is imported (cold start).

A fresh interpreter imports a service module built on the package (``example_service``,
as a service's ``main.py``) and drives its module-level ``app`` in-process: lifespan, an
event of every type it handles, the probes and ``/metrics`` must
leave ``fastapi`` and ``starlette`` unimported; the first ``/docs`` request builds the
FastAPI app. (A subprocess, because this test session has imported FastAPI long ago.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson

TESTS = Path(__file__).resolve().parents[1]

SCRIPT = """
import asyncio, sys

import httpx
import orjson

from example_service import EVENT_TYPES, app


def loaded() -> list[str]:
    return sorted(name for name in ("fastapi", "starlette") if name in sys.modules)


async def main() -> dict[str, object]:
    seen: dict[str, object] = {"after_import": loaded()}
    transport = httpx.ASGITransport(app=app)
    async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        statuses = []
        for event_type in EVENT_TYPES:
            headers = {
                "ce-specversion": "1.0", "ce-id": "1", "ce-source": "/lazy",
                "ce-type": event_type, "content-type": "application/json",
            }
            statuses.append((await c.post("/", headers=headers, content=b"{}")).status_code)
        statuses.append((await c.get("/health/live")).status_code)
        statuses.append((await c.get("/health/ready")).status_code)
        metrics = await c.get("/metrics")
        statuses.append(metrics.status_code)
        seen["statuses"] = statuses
        seen["counted"] = 'outcome="accepted"' in metrics.text
        seen["after_events"] = loaded()
        seen["api_built"] = app.api_built
        seen["docs"] = (await c.get("/docs")).status_code
        seen["openapi_has_events"] = "/" in (await c.get("/openapi.json")).json()["paths"]
        seen["after_docs"] = loaded()
    return seen


sys.stdout.write(orjson.dumps(asyncio.run(main())).decode())
"""


def test_events_probes_and_metrics_do_not_import_fastapi() -> None:
    env = {**os.environ, "PYTHONPATH": str(TESTS), "LOG_LEVEL": "WARNING"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    seen = orjson.loads(done.stdout.splitlines()[-1])
    assert seen["after_import"] == []
    statuses = seen["statuses"]
    assert len(statuses) > 3
    assert set(statuses[:-3]) == {202}, statuses
    assert statuses[-3:] == [200, 200, 200]
    assert seen["counted"] is True
    assert seen["after_events"] == []
    assert seen["api_built"] is False
    assert (seen["docs"], seen["openapi_has_events"]) == (200, True)
    assert seen["after_docs"] == ["fastapi", "starlette"]
