"""A service's module-level app under uvicorn in a subprocess: handlers answer, SIGTERM drains."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest

from example_service import EVENT_TYPES
from knative_events.testing import wait_until_ready

pytestmark = pytest.mark.integration

TESTS = Path(__file__).resolve().parents[1]


def test_the_module_app_serves_every_answered_type_and_stops_on_sigterm(free_port: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(TESTS), "LOG_LEVEL": "INFO", "K_SERVICE": "it"}
    command = [
        sys.executable, "-m", "uvicorn", "example_service:app",
        "--host", "127.0.0.1", "--port", str(free_port), "--log-level", "info",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{free_port}"
    try:
        wait_until_ready(url, process=process)
        for event_type in EVENT_TYPES:
            headers = {
                "ce-specversion": "1.0",
                "ce-id": "1",
                "ce-source": "/it",
                "ce-type": event_type,
                "content-type": "application/json",
            }
            response = httpx.post(url, headers=headers, json={"any": "data"}, timeout=5)
            assert response.status_code == 202, (event_type, response.text)
        assert "/" in httpx.get(f"{url}/openapi.json", timeout=5).json()["paths"]
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    # uvicorn drains, runs the lifespan shutdown, then re-raises the SIGTERM it caught.
    assert process.returncode in (0, -signal.SIGTERM)
    records = [orjson.loads(line) for line in output.splitlines() if line.strip()]
    messages = [record["message"] for record in records]
    assert "Application shutdown complete." in messages
    assert all(record["service"] == "it" for record in records)
