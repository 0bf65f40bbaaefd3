"""``knative-events send`` against a real uvicorn server on 127.0.0.1, in each content mode."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from knative_events.testing import wait_until_ready

pytestmark = pytest.mark.integration


def find_free_port() -> int:
    """A TCP port nobody listens on right now (bind port 0)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


TESTS = Path(__file__).resolve().parents[1]
REGISTRY = "send_service:registry"


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    port = find_free_port()
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    command = [
        sys.executable, "-m", "uvicorn", "send_service:app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process=process)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def send(*args: str, cwd: Path = TESTS) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(TESTS)}
    return subprocess.run(
        [sys.executable, "-m", "knative_events", "send", *args],
        check=False, cwd=cwd, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def reply_events(stdout: str) -> list[dict[str, object]]:
    """The JSON documents printed after each 'reply event:' line."""
    decoder = json.JSONDecoder()
    replies = []
    for part in stdout.split("reply event:\n")[1:]:
        replies.append(decoder.raw_decode(part)[0])
    return replies


@pytest.mark.parametrize("mode", ["binary", "structured", "batch"])
def test_an_example_from_the_model_is_accepted_and_the_reply_printed(
    server_url: str, mode: str
) -> None:
    done = send(
        "--url", server_url, "--type", "com.example.order.created", "--mode", mode,
        "--registry", REGISTRY, "--extension", "tenant=acme",
        *(["--count", "2"] if mode == "batch" else []),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "HTTP 200 OK" in done.stdout
    replies = reply_events(done.stdout)
    assert len(replies) == (2 if mode == "batch" else 1)
    for reply in replies:
        assert reply["type"] == "com.example.order.accepted"
        # The example met the model's constraints (min_length=3, ge=2) and the extension arrived.
        assert reply["data"] == {"order_id": "example", "quantity": 2}
        assert reply["tenant"] == "acme"


def test_bad_data_prints_the_problem_and_exits_1(server_url: str, tmp_path: Path) -> None:
    data = tmp_path / "order.json"
    data.write_text('{"order_id": "x", "quantity": 5}')
    done = send("--url", server_url, "--type", "com.example.order.created", "--data", f"@{data}")
    assert done.returncode == 1
    assert "HTTP 422 Unprocessable Entity" in done.stdout
    problem = json.JSONDecoder().raw_decode(done.stdout.split("problem:\n")[1])[0]
    assert problem["type"] == "/problems/invalid-data"
    assert problem["errors"][0]["loc"] == ["order_id"]


def test_an_unknown_type_is_a_400_problem(server_url: str) -> None:
    done = send("--url", server_url, "--type", "com.example.nobody", "--data", "{}", "--id", "x1")
    assert done.returncode == 1
    assert "id=x1" in done.stdout
    assert "/problems/unhandled-event-type" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "{nope"], "is not JSON"),
        (["--data", "@/nonexistent/file.json"], "cannot read it"),
        (["--extension", "Bad=1", "--data", "{}"], "must be name=value"),
        (["--count", "2", "--data", "{}"], "--count must be 1"),
        (["--registry", "send_service:nothing"], "cannot import the handler registry"),
        (["--url", "ftp://x", "--data", "{}"], "must be an http(s) URL"),
    ],
)
def test_unusable_options_are_refused_before_anything_is_sent(
    args: list[str], message: str
) -> None:
    done = send("--type", "com.example.order.created", *args)
    assert done.returncode == 2
    assert message in done.stderr


def test_nothing_listening_is_reported_clearly() -> None:
    url = f"http://127.0.0.1:{find_free_port()}/"
    done = send("--url", url, "--type", "a.b", "--data", "{}")
    assert done.returncode == 2
    assert f"cannot reach {url}" in done.stderr
