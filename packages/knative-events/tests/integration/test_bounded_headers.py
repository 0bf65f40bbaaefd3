"""The bounded httptools protocol on a real uvicorn, over real sockets.

A subprocess serves the example service the way the container does (``--http
knative_events.server:BoundedHttpToolsProtocol``, limits from the environment); a thread
serves the test app with small limits for the timing cases.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvicorn

from knative_events.app import create_app
from knative_events.cloudevents.registry import HandlerRegistry
from knative_events.server import BoundedHttpToolsProtocol
from knative_events.settings import Settings
from knative_events.testing import wait_until_ready

pytestmark = pytest.mark.integration

TESTS = Path(__file__).resolve().parents[1]
EVENT = (
    b"POST / HTTP/1.1\r\nhost: t\r\nce-specversion: 1.0\r\nce-id: 1\r\nce-source: /t\r\n"
    b"content-type: application/json\r\ncontent-length: 2\r\n"
)


def event_with(extra: bytes, event_type: bytes = b"com.example.order.created") -> bytes:
    """A whole binary-mode request whose header block also holds ``extra``."""
    return EVENT + b"ce-type: " + event_type + b"\r\n" + extra + b"\r\n{}"


def answer(sock: socket.socket, timeout: float = 10) -> bytes:
    """Everything the server sends until it closes the connection (or ``timeout``)."""
    sock.settimeout(timeout)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (ConnectionResetError, TimeoutError):
        pass
    return b"".join(chunks)


def status_of(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def problem_of(response: bytes) -> dict[str, object]:
    document: dict[str, object] = orjson.loads(response.partition(b"\r\n\r\n")[2])
    return document


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def peak_rss_kib(pid: int) -> int:
    """The process's peak resident set (VmHWM), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[int, int]]:
    """(port, pid) of ``uvicorn example_service:app`` on the bounded protocol, defaults on."""
    port = unused_port()
    env = {**os.environ, "PYTHONPATH": str(TESTS), "LOG_LEVEL": "WARNING"}
    env.pop("MAX_HEADER_BYTES", None)
    env["HEADER_TIMEOUT_SECONDS"] = "2"
    command = [
        sys.executable, "-m", "uvicorn", "example_service:app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning",
        "--loop", "uvloop", "--http", "knative_events.server:BoundedHttpToolsProtocol",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=env)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", process=process)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(timeout=15)


def send(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        return answer(sock)


def test_a_header_block_under_64_kib_is_served(served: tuple[int, int]) -> None:
    response = send(served[0], event_with(b"x-pad: " + b"a" * 60_000 + b"\r\n"))
    assert status_of(response) == 202


def test_a_header_block_over_64_kib_is_a_431_problem(served: tuple[int, int]) -> None:
    extra = b"".join(b"x-pad-%d: %s\r\n" % (i, b"a" * 1000) for i in range(70))
    response = send(served[0], event_with(extra))
    assert status_of(response) == 431
    assert b"connection: close" in response
    problem = problem_of(response)
    assert problem["status"] == 431
    assert "65536 bytes" in str(problem["detail"])


def test_a_128_mib_header_flood_is_cut_off_early(served: tuple[int, int]) -> None:
    port, pid = served
    before = peak_rss_kib(pid)
    line = b"x-flood: " + b"a" * 65_536 + b"\r\n"
    sent = 0
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nhost: t\r\n")
        try:
            while sent < 128 * 1024 * 1024:
                sock.sendall(line)
                sent += len(line)
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = answer(sock, timeout=5)
    growth = peak_rss_kib(pid) - before
    print(f"peak RSS growth under a header flood: {growth} KiB; sent {sent} bytes")
    assert sent < 16 * 1024 * 1024, "the server kept reading the flood"
    assert growth < 16 * 1024, f"peak RSS grew by {growth} KiB"
    if response:  # the 431 may be lost to the reset when the client is still sending
        assert status_of(response) == 431


@pytest.fixture
def small_limits() -> Iterator[None]:
    """The protocol with a 4 KiB header limit and a 0.5 s header timeout."""
    saved = (
        BoundedHttpToolsProtocol.max_header_bytes,
        BoundedHttpToolsProtocol.header_timeout_seconds,
    )
    BoundedHttpToolsProtocol.max_header_bytes = 4096
    BoundedHttpToolsProtocol.header_timeout_seconds = 0.5
    yield
    BoundedHttpToolsProtocol.max_header_bytes, BoundedHttpToolsProtocol.header_timeout_seconds = (
        saved
    )


@pytest.fixture
def threaded(
    small_limits: None,
    gate: Any,
    registry: HandlerRegistry,
    make_settings: Callable[..., Settings],
    free_port: int,
) -> Iterator[tuple[int, Any]]:
    """The test app on uvicorn + the bounded protocol in a thread: (port, gate)."""
    app = create_app(make_settings(handler_timeout_seconds=10), registry=registry)
    port = free_port
    config = uvicorn.Config(  # asyncio's loop here, uvloop in the subprocess above
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        http=BoundedHttpToolsProtocol,
        loop="asyncio",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until_ready(f"http://127.0.0.1:{port}", timeout=20)
    yield port, gate
    gate.release.set()
    server.should_exit = True
    thread.join(timeout=10)


def test_headers_sent_a_byte_at_a_time_get_408_after_the_timeout(
    threaded: tuple[int, Any],
) -> None:
    with socket.create_connection(("127.0.0.1", threaded[0])) as sock:
        started = time.monotonic()
        sock.settimeout(0.1)
        response = b""
        for byte in b"POST / HTTP/1.1\r\nhost: t\r\nce-id: 1234567890\r\n":
            try:
                sock.send(bytes([byte]))
                response = sock.recv(65536)
            except TimeoutError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            if response:
                break
        response += answer(sock, timeout=2)
        elapsed = time.monotonic() - started
    assert status_of(response) == 408
    assert problem_of(response)["status"] == 408
    assert 0.4 < elapsed < 3


def test_an_idle_connection_is_closed_without_an_answer(threaded: tuple[int, Any]) -> None:
    with socket.create_connection(("127.0.0.1", threaded[0])) as sock:
        started = time.monotonic()
        assert answer(sock, timeout=3) == b""
        assert 0.4 < time.monotonic() - started < 2.5


def test_the_small_limit_refuses_and_a_running_handler_is_never_cut(
    threaded: tuple[int, Any],
) -> None:
    port, gate = threaded
    extra = b"x-pad: " + b"a" * 5000 + b"\r\n"
    assert status_of(send(port, event_with(extra, b"test.accept"))) == 431
    # many small headers in one write: the block is complete in one read, and measured
    extra = b"".join(b"x-%d: %s\r\n" % (i, b"a" * 100) for i in range(50))
    assert status_of(send(port, event_with(extra, b"test.accept"))) == 431
    assert (
        status_of(send(port, event_with(b"x-pad: " + b"a" * 3000 + b"\r\n", b"test.accept"))) == 202
    )
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(event_with(b"", b"test.block"))
        assert gate.entered.wait(5)
        time.sleep(1.2)  # more than twice the header timeout while the handler runs
        gate.release.set()
        sock.settimeout(5)
        first = sock.recv(65536)
        assert status_of(first) == 202
        sock.sendall(event_with(b"", b"test.accept"))  # the same connection, kept alive
        assert status_of(sock.recv(65536)) == 202
        sock.sendall(b"POST / HTTP/1.1\r\nhost: t\r\n")  # then a header block that stalls
        started = time.monotonic()
        assert status_of(answer(sock, timeout=3)) == 408
        assert 0.4 < time.monotonic() - started < 2.5
