"""Helpers of tests/test_robustness.py: a real uvicorn server and a raw asyncio HTTP client.

The robustness tests send far more requests than httpx could in the time budget, and
many of them are not valid HTTP; a small client over asyncio streams handles both. The
server is the rendered app under the uvicorn command line the Dockerfile uses, optionally
with extra test handlers registered through a wrapper module (the render itself is
shared with other tests and is never modified).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvloop
import yaml

PYTHON = sys.executable
# The protocol the container serves with: uvicorn's httptools one with bounded headers.
BOUNDED_HTTP = "knative_events.server:BoundedHttpToolsProtocol"


def package_of(render: Path) -> str:
    """The rendered package name, from the answers Copier recorded."""
    answers = yaml.safe_load((render / ".copier-answers.yml").read_text())
    return str(answers.get("package_name") or answers["service_name"].replace("-", "_"))


def event_type_of(render: Path) -> str:
    """The first answered event type: the default render has a stub handler for it."""
    answers = yaml.safe_load((render / ".copier-answers.yml").read_text())
    return str(answers["event_types"][0])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


TEST_HANDLERS = '''
"""Test-only handlers registered on the rendered app's registry, then the app itself."""

import asyncio
from typing import Any

from {package}.handlers import registry


@registry.on("test.slow")
async def slow(event: Any, data: Any) -> None:
    """Sleeps data["seconds"]: a handler waiting on a slow dependency."""
    await asyncio.sleep(float(data["seconds"]))


@registry.on("test.raise")
async def explode(event: Any, data: Any) -> None:
    """Always fails: a handler with a bug."""
    raise RuntimeError("test handler failure")


from {package}.main import app  # noqa: E402
'''


@dataclass
class ServerProcess:
    """A uvicorn process serving the rendered app on 127.0.0.1."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(
    render: Path,
    workdir: Path,
    *,
    env: dict[str, str] | None = None,
    test_handlers: bool = False,
    graceful_seconds: int = 5,
) -> ServerProcess:
    """Start uvicorn (uvloop, httptools, one worker) and wait until /health/ready is 200."""
    package = package_of(render)
    module = f"{package}.main:app"
    pythonpath = [str(render / "src")]
    if test_handlers:
        (workdir / "robustness_app.py").write_text(
            textwrap.dedent(TEST_HANDLERS).format(package=package)
        )
        pythonpath.insert(0, str(workdir))
        module = "robustness_app:app"
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    full_env.update({"PYTHONPATH": os.pathsep.join(pythonpath), "LOG_LEVEL": "WARNING"})
    full_env.update(env or {})
    log_path = workdir / f"uvicorn-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                PYTHON, "-m", "uvicorn", module, "--host", "127.0.0.1", "--port", str(port),
                "--loop", "uvloop", "--http", BOUNDED_HTTP, "--workers", "1",
                "--no-access-log", "--timeout-graceful-shutdown", str(graceful_seconds),
            ],
            env=full_env,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    server = ServerProcess(process, port, log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {process.returncode}:\n{server.log()}")
        try:
            status = asyncio.run(_one_get(port, "/health/ready"))
        except OSError:
            time.sleep(0.05)
            continue
        if status == 200:
            return server
        time.sleep(0.05)
    server.stop()
    raise TimeoutError(f"the server was not ready within 60 s:\n{server.log()}")


async def _one_get(port: int, path: str) -> int:
    connection = await Connection.open(port)
    try:
        response = await connection.request(request_bytes("GET", path, {}, b""))
        return response.status
    finally:
        connection.close()


# ---------------------------------------------------------------------------
# HTTP/1.1 over asyncio streams
# ---------------------------------------------------------------------------


def request_bytes(
    method: str, path: str, headers: dict[str, str], body: bytes, *, length: bool = True
) -> bytes:
    """A well-formed HTTP/1.1 request (Content-Length added unless ``length`` is False)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if length:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes
    closes: bool = False


class ConnectionClosed(Exception):
    """The server closed the connection before a whole response arrived."""


@dataclass
class Connection:
    """One keep-alive connection; requests are sent and answered one at a time."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    sent: int = field(default=0)

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    def close(self) -> None:
        self.writer.close()

    async def request(
        self, raw: bytes, *, head: bool = False, timeout: float | None = 30.0
    ) -> Response:
        """Send ``raw`` and read one response (``head``: no body follows the headers).

        ``timeout=None`` skips the per-request timer (it costs a task per request); the
        caller then bounds the whole run instead.
        """
        self.writer.write(raw)
        self.sent += 1
        if timeout is None:
            return await self.read_response(head=head)
        return await asyncio.wait_for(self.read_response(head=head), timeout)

    async def read_response(self, *, head: bool = False) -> Response:
        try:
            head_bytes = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise ConnectionClosed(str(exc)) from None
        lines = head_bytes.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = b""
        try:
            if head or status in (204, 304) or 100 <= status < 200:
                pass
            elif "content-length" in headers:
                body = await self.reader.readexactly(int(headers["content-length"]))
            elif headers.get("transfer-encoding", "").lower() == "chunked":
                body = await self._chunked()
            else:
                body = await self.reader.read()
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise ConnectionClosed(str(exc)) from None
        closes = headers.get("connection", "").lower() == "close"
        return Response(status, headers, body, closes)

    async def _chunked(self) -> bytes:
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)


def run(coroutine: Any) -> Any:
    """Run a client coroutine on uvloop: the client then needs less CPU than the server."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coroutine)


def rss_bytes(pid: int) -> int:
    """Resident set size of a process, from /proc (no psutil needed)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")
