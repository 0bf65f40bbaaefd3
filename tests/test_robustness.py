"""Robustness of the rendered service under a real uvicorn: shutdown, fuzzing, bad handlers.

Each test starts the default render with the uvicorn command line of its Dockerfile
(uvloop, httptools, one worker) on 127.0.0.1 and drives it with a raw asyncio client
(see robustness_support.py). Tests that need misbehaving handlers register them through
a wrapper module on the PYTHONPATH, so the shared render stays untouched.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import statistics
import string
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from robustness_support import (
    Connection,
    ConnectionClosed,
    Response,
    ServerProcess,
    event_type_of,
    request_bytes,
    rss_bytes,
    run,
    start_server,
)

pytestmark = pytest.mark.slow


def binary_event(event_type: str, data: Any, *, event_id: str = "1") -> bytes:
    headers = {
        "Content-Type": "application/json",
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-source": "/tests/robustness",
        "ce-type": event_type,
    }
    return request_bytes("POST", "/", headers, json.dumps(data).encode())


# ---------------------------------------------------------------------------
# SIGTERM during sustained load
# ---------------------------------------------------------------------------

GRACEFUL_SECONDS = 5
SLOW_SECONDS = 1.5


@dataclass
class Shutdown:
    """What the clients saw around the SIGTERM, with monotonic timestamps."""

    killed_at: float = 0.0
    exited_at: float = 0.0
    load: list[tuple[float, int | str]] = field(default_factory=list)
    in_flight: list[int | str] = field(default_factory=list)
    pipelined: list[int | str] = field(default_factory=list)
    readiness: list[tuple[float, float, int | str]] = field(default_factory=list)


async def _shutdown_scenario(server: ServerProcess, event_type: str) -> Shutdown:
    seen = Shutdown()
    stop = asyncio.Event()
    fast = binary_event(event_type, {"n": 1})
    slow = binary_event("test.slow", {"seconds": SLOW_SECONDS})
    ready_probe = request_bytes("GET", "/health/ready", {}, b"")

    async def load_worker() -> None:
        connection: Connection | None = None
        while not stop.is_set():
            if connection is None:
                try:
                    connection = await Connection.open(server.port)
                except OSError:
                    seen.load.append((time.monotonic(), "refused"))
                    await asyncio.sleep(0.01)
                    continue
            sent = time.monotonic()
            try:
                response = await connection.request(fast, timeout=20)
            except (ConnectionClosed, ConnectionError):
                seen.load.append((sent, "closed"))
                connection.close()
                connection = None
                continue
            seen.load.append((sent, response.status))
            if response.closes:
                connection.close()
                connection = None
        if connection is not None:
            connection.close()

    async def in_flight_request() -> None:
        connection = await Connection.open(server.port)
        try:
            seen.in_flight.append((await connection.request(slow, timeout=20)).status)
        except (ConnectionClosed, ConnectionError) as exc:
            seen.in_flight.append(f"closed: {exc}")
        finally:
            connection.close()

    async def pipelined() -> None:
        # A readiness probe queued behind a slow event on one connection: uvicorn answers
        # it during the drain, after the event, which makes the 503 observable every time.
        connection = await Connection.open(server.port)
        connection.writer.write(slow + ready_probe)
        try:
            for _ in range(2):
                seen.pipelined.append((await connection.read_response()).status)
        except (ConnectionClosed, ConnectionError) as exc:
            seen.pipelined.append(f"closed: {exc}")
        finally:
            connection.close()

    async def readiness_poller() -> None:
        while not stop.is_set():
            sent = time.monotonic()
            try:
                connection = await Connection.open(server.port)
            except OSError:
                seen.readiness.append((sent, time.monotonic(), "refused"))
                await asyncio.sleep(0.005)
                continue
            try:
                status: int | str = (await connection.request(ready_probe)).status
            except (ConnectionClosed, ConnectionError):
                status = "closed"
            finally:
                connection.close()
            seen.readiness.append((sent, time.monotonic(), status))
            await asyncio.sleep(0.002)

    tasks = [asyncio.create_task(load_worker()) for _ in range(16)]
    tasks.append(asyncio.create_task(readiness_poller()))
    await asyncio.sleep(0.6)
    tasks += [asyncio.create_task(in_flight_request()) for _ in range(6)]
    tasks.append(asyncio.create_task(pipelined()))
    await asyncio.sleep(0.5)
    seen.killed_at = time.monotonic()
    os.kill(server.pid, signal.SIGTERM)
    while server.process.poll() is None and time.monotonic() - seen.killed_at < 30:
        await asyncio.sleep(0.01)
    seen.exited_at = time.monotonic()
    stop.set()
    await asyncio.gather(*tasks)
    return seen


def test_sigterm_under_load_drains_in_flight_and_exits(default_render: Path, tmp_path: Path):
    """SIGTERM under load: readiness 503 at once, in-flight events finish, no failures."""
    server = start_server(
        default_render,
        tmp_path,
        env={"HANDLER_TIMEOUT_SECONDS": "10"},
        test_handlers=True,
        graceful_seconds=GRACEFUL_SECONDS,
    )
    try:
        seen = run(_shutdown_scenario(server, event_type_of(default_render)))
    finally:
        server.stop()
    log = server.log()
    killed = seen.killed_at

    # Load: every answered request succeeded, and every request sent before the signal was
    # answered (50 ms of slack for one the server had not read yet). uvicorn closes idle
    # keep-alive connections when it starts shutting down, so a request written after
    # SIGTERM may get no answer; on Knative none arrive then: the user container's preStop
    # waits for the queue-proxy to drain before the container gets SIGTERM.
    answered = [(t, s) for t, s in seen.load if isinstance(s, int)]
    unanswered = [t - killed for t, s in seen.load if s == "closed"]
    print(
        f"load: {len(answered)} answered, "
        f"{len(unanswered)} closed unanswered (earliest sent "
        f"{min(unanswered, default=0):+.3f} s from the signal), "
        f"{sum(1 for _, s in seen.load if s == 'refused')} refused; readiness after the signal: "
        f"{Counter(s for t, _, s in seen.readiness if t > killed)}; "
        f"exit {seen.exited_at - killed:.2f} s after SIGTERM"
    )
    assert len([1 for t, _ in answered if t < killed]) > 200, "too little load before SIGTERM"
    failed = [(round(t - killed, 3), s) for t, s in answered if not 200 <= s < 300]  # type: ignore[operator]
    assert failed == [], f"requests failed during shutdown: {failed[:10]}\n{log}"
    lost_early = [round(t - killed, 3) for t, s in seen.load if s == "closed" and t < killed - 0.05]
    assert lost_early == [], f"requests sent before SIGTERM got no answer: {lost_early}"

    # In-flight slow events (started 0.5 s before the signal) all finish with 202.
    assert seen.in_flight == [202] * 6, f"in-flight events: {seen.in_flight}\n{log}"

    # Readiness: the probe answered during the drain says 503; after the signal no probe
    # (polled every few ms on fresh connections) gets 200.
    assert seen.pipelined == [202, 503], f"event then readiness during drain: {seen.pipelined}"
    before = [s for _, answered_at, s in seen.readiness if answered_at < killed]
    after = [(round(t - killed, 4), s) for t, _, s in seen.readiness if t > killed + 0.005]
    assert before and all(s == 200 for s in before), f"readiness before SIGTERM: {before}"
    assert after, "readiness was not polled after SIGTERM"
    assert all(s != 200 for _, s in after), f"ready after SIGTERM: {after[:10]}"

    # The process drains the 1.5 s handlers, then exits within the graceful timeout.
    took = seen.exited_at - killed
    assert server.process.returncode is not None, "the server did not exit"
    assert SLOW_SECONDS * 0.5 < took < GRACEFUL_SECONDS + 2, f"exit took {took:.2f} s"
    assert "Traceback" not in log, log


# ---------------------------------------------------------------------------
# Fuzz: random and mutated requests
# ---------------------------------------------------------------------------

FUZZ_REQUESTS = 100_000
FUZZ_CONNECTIONS = 32
FUZZ_SEED_ENV = "ROBUSTNESS_FUZZ_SEED"
FUZZ_TIMEOUT_SECONDS = 400
HEADER_SAFE = string.ascii_letters + string.digits + "-._~:/?#[]@!$&'()*+,;=% "


@dataclass
class FuzzRequest:
    """One generated request and how to send it."""

    raw: bytes
    kind: str
    # A complete, well-formed request sent on a keep-alive connection; otherwise it goes on
    # a fresh connection that is half-closed after sending (the server sees EOF).
    keep_alive: bool = True
    head: bool = False
    must_accept: bool = False


class Fuzzer:
    """Generates requests from one seeded ``random.Random`` (reproducible by seed)."""

    METHODS = ("GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE")
    PATHS = (
        "/health/ready", "/health/live", "/docs", "/openapi.json", "/problems/invalid-event",
        "/nope", "/?x=1&y=%ff", "//", "/%ff%fe", "/%00", "/" + "a" * 3000, "/health/../",
    )  # fmt: skip
    CONTENT_TYPES = (
        "application/json", "application/cloudevents+json", "application/cloudevents-batch+json",
        "application/cloudevents+json; charset=utf-8", "APPLICATION/CLOUDEVENTS+JSON",
        "application/cloudevents+xml", "application/cloudevents+avro",
        "application/cloudevents-batch+protobuf", "text/plain", "text/plain; charset=latin-1",
        "application/xml", "application/octet-stream", "image/png", "application/vnd.x+json",
        "multipart/form-data; boundary=x", "", "garbage", ";;;", "application/", "/json",
    )  # fmt: skip

    def __init__(self, seed: int, event_type: str) -> None:
        self.rng = random.Random(seed)
        self.event_type = event_type
        self.types = (event_type, event_type, "com.example.other", "test.unknown")
        # Drawing a fresh nested value per request would cost more client CPU than the
        # server spends answering; events draw their data from a pool made per worker.
        self.data_pool = [self.json_value() for _ in range(64)]

    def token(self, low: int = 1, high: int = 12, alphabet: str = string.ascii_lowercase) -> str:
        return "".join(self.rng.choices(alphabet, k=self.rng.randint(low, high)))

    def json_value(self, depth: int = 0) -> Any:
        r = self.rng.random()
        if depth > 3 or r < 0.35:
            return self.rng.choice([
                self.rng.randint(-(2**53), 2**53), self.rng.uniform(-1e9, 1e9), True, False,
                None, self.token(0, 20, string.printable), "é😀\u2028",
            ])  # fmt: skip
        if r < 0.7:
            return {self.token(): self.json_value(depth + 1) for _ in range(self.rng.randint(0, 5))}
        return [self.json_value(depth + 1) for _ in range(self.rng.randint(0, 5))]

    def extensions(self) -> dict[str, Any]:
        return {
            "ext" + self.token(1, 8, string.ascii_lowercase + string.digits): self.rng.choice(
                [self.token(1, 20), self.rng.randint(-(2**31), 2**31 - 1), True]
            )
            for _ in range(self.rng.randint(0, 3))
        }

    def structured(self) -> dict[str, Any]:
        event: dict[str, Any] = {
            "specversion": "1.0",
            "id": self.token(1, 36, string.ascii_letters + string.digits + "-"),
            "source": "/fuzz/" + self.token(),
            "type": self.rng.choice(self.types),
            "data": self.rng.choice(self.data_pool),
        }
        if self.rng.random() < 0.3:
            event["time"] = "2024-05-01T12:00:00.123Z"
        if self.rng.random() < 0.2:
            event["subject"] = self.token()
        event.update(self.extensions())
        return event

    def mutate_event(self, event: dict[str, Any]) -> dict[str, Any]:
        event = dict(event)
        for _ in range(self.rng.randint(1, 3)):
            choice = self.rng.randrange(9)
            if choice == 0 and event:
                event.pop(self.rng.choice(list(event)))
            elif choice == 1:
                event[self.rng.choice(["id", "source", "type", "specversion", "time"])] = (
                    self.json_value()
                )
            elif choice == 2:
                event["specversion"] = self.rng.choice(["0.3", "2.0", 1.0, "", None])
            elif choice == 3:
                event["data_base64"] = self.rng.choice(["!!notbase64", "aGVsbG8=", 12])
            elif choice == 4:
                event["time"] = self.rng.choice(["yesterday", "2024-13-45T99:99:99Z", 0, ""])
            elif choice == 5:
                event[self.rng.choice(["Bad-Name", "UPPER", "data", "x" * 300])] = "v"
            elif choice == 6:
                event["source"] = self.rng.choice(["has space", "%zz", "", "::", "\u00e9"])
            elif choice == 7:
                event["extensions"] = self.json_value()
            else:
                event[self.token()] = self.rng.choice([2**40, 1.5, [1], {"a": 1}, None])
        return event

    def mutate_bytes(self, body: bytes) -> bytes:
        choice = self.rng.randrange(7)
        if choice == 0 and body:
            return body[: self.rng.randrange(len(body))]
        if choice == 1:
            return bytes(self.rng.randrange(256) for _ in range(self.rng.randint(0, 200)))
        if choice == 2:
            return b"\xff\xfe\xc3\x28" + body
        if choice == 3:
            depth = self.rng.choice([100, 2000])
            return b"[" * depth + b"]" * depth
        if choice == 4 and body:
            i = self.rng.randrange(len(body))
            return body[:i] + bytes([self.rng.randrange(256)]) + body[i + 1 :]
        if choice == 5:
            return (
                b'{"specversion":"1.0","id":"1","source":"/s","type":"t","data":'
                + (b"9" * 400)
                + b"}"
            )
        return b""

    def binary_headers(self, event: dict[str, Any]) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        for name, value in event.items():
            if name in ("data", "datacontenttype"):
                continue
            headers["ce-" + name] = value if isinstance(value, str) else json.dumps(value)
        return headers

    def next(self) -> FuzzRequest:
        r = self.rng.random()
        if r < 0.30:  # valid binary event
            event = self.structured()
            return FuzzRequest(
                request_bytes("POST", "/", self.binary_headers(event),
                              json.dumps(event["data"]).encode()),
                "valid-binary",
                must_accept=event["type"] == self.event_type,
            )  # fmt: skip
        if r < 0.50:  # valid structured event
            event = self.structured()
            return FuzzRequest(
                request_bytes("POST", "/", {"Content-Type": "application/cloudevents+json"},
                              json.dumps(event).encode()),
                "valid-structured",
                must_accept=event["type"] == self.event_type,
            )  # fmt: skip
        if r < 0.58:  # batch, valid or not
            events: Any = [self.structured() for _ in range(self.rng.randint(0, 4))]
            valid = all(e["type"] == self.event_type for e in events)
            if self.rng.random() < 0.4 and events:
                events[self.rng.randrange(len(events))] = self.mutate_event(events[0])
                valid = False
            if self.rng.random() < 0.1:
                events, valid = self.json_value(), False
            return FuzzRequest(
                request_bytes("POST", "/", {"Content-Type": "application/cloudevents-batch+json"},
                              json.dumps(events).encode()),
                "batch",
                must_accept=valid,
            )  # fmt: skip
        if r < 0.72:  # mutated structured event
            body = json.dumps(self.mutate_event(self.structured())).encode()
            if self.rng.random() < 0.4:
                body = self.mutate_bytes(body)
            content_type = self.rng.choice(self.CONTENT_TYPES[:5])
            return FuzzRequest(
                request_bytes("POST", "/", {"Content-Type": content_type}, body), "mutated"
            )
        if r < 0.84:  # mutated binary event: headers and body
            event = self.mutate_event(self.structured())
            headers = {
                k: "".join(c for c in v if c in HEADER_SAFE)
                for k, v in self.binary_headers(event).items()
            }
            headers["Content-Type"] = self.rng.choice(self.CONTENT_TYPES)
            body = self.mutate_bytes(json.dumps(event.get("data")).encode())
            return FuzzRequest(request_bytes("POST", "/", headers, body), "mutated-binary")
        if r < 0.93:  # other methods and paths
            method = self.rng.choice(self.METHODS)
            path = self.rng.choice(("/", *self.PATHS))
            return FuzzRequest(
                request_bytes(method, path, {}, b"" if method in ("GET", "HEAD") else b"{}"),
                "method-path",
                head=method == "HEAD",
            )
        return self.broken_http()

    def broken_http(self) -> FuzzRequest:
        """Requests the HTTP layer itself must survive: sent on their own connection."""
        choice = self.rng.randrange(8)
        body = json.dumps(self.structured()).encode()
        structured = {"Content-Type": "application/cloudevents+json"}
        if choice == 0:  # huge Content-Length, little body
            raw = request_bytes("POST", "/", structured, b"", length=False)
            raw = raw.replace(b"\r\n\r\n", b"\r\nContent-Length: 99999999999\r\n\r\n", 1) + body
        elif choice == 1:  # negative or non-numeric Content-Length
            value = self.rng.choice(
                [b"-1", b"-99999", b"abc", b"1e3", b" 12 ", b"0x10", b"9" * 5000, b"0" * 80 + b"5"]
            )
            raw = request_bytes("POST", "/", structured, b"", length=False)
            raw = raw.replace(b"\r\n\r\n", b"\r\nContent-Length: " + value + b"\r\n\r\n", 1)
            raw += body
        elif choice == 2:  # declared longer than sent (truncated upload)
            raw = request_bytes("POST", "/", structured, b"", length=False)
            raw = raw.replace(
                b"\r\n\r\n", f"\r\nContent-Length: {len(body) + 500}\r\n\r\n".encode(), 1
            )
            raw += body
        elif choice == 3:  # invalid UTF-8 and control bytes in ce- headers
            raw = binary_event(self.event_type, {"a": 1}).replace(
                b"ce-id: 1", b"ce-id: \xff\xfe\x80" + bytes([self.rng.randrange(1, 32)]), 1
            )
        elif choice == 4:  # random methods and garbage request lines
            raw = self.rng.choice([
                self.token(1, 10, string.ascii_uppercase).encode() + b" / HTTP/1.1\r\n\r\n",
                b"POST / HTTP/9.9\r\nContent-Length: 0\r\n\r\n",
                b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",  # a TLS ClientHello start
                bytes(self.rng.randrange(256) for _ in range(64)) + b"\r\n\r\n",
                b"GET " + b"/" * 70000 + b" HTTP/1.1\r\n\r\n",
            ])  # fmt: skip
        elif choice == 5:  # body over MAX_BODY_BYTES (1 MiB), rarely: it is slow to send
            size = 1024 * 1024 + 1 if self.rng.random() < 0.05 else 20_000
            raw = request_bytes("POST", "/", structured, b"x" * size)
        elif choice == 6:  # chunked upload, sometimes malformed
            chunk = body if self.rng.random() < 0.5 else body[: len(body) // 2]
            raw = (
                request_bytes(
                    "POST", "/", {**structured, "Transfer-Encoding": "chunked"}, b"", length=False
                )
                + f"{len(body):x}\r\n".encode()
                + chunk
                + b"\r\n0\r\n\r\n"
            )
        else:  # duplicated and oversized headers
            raw = request_bytes(
                "POST", "/", {**structured, "ce-x": "y" * 20000, "X-Dup": "1"}, body
            ).replace(b"X-Dup: 1", b"Content-Type: text/plain\r\nContent-Type: application/json")
        return FuzzRequest(raw, f"broken-{choice}", keep_alive=False)


@dataclass
class FuzzStats:
    statuses: Counter[int] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    server_errors: list[tuple[str, int, bytes]] = field(default_factory=list)
    not_accepted: list[tuple[str, int, bytes, bytes]] = field(default_factory=list)
    dropped: list[tuple[str, bytes]] = field(default_factory=list)
    done: int = 0
    rss_warm: int = 0


async def _send_alone(port: int, request: FuzzRequest) -> Response | None:
    """Send on a fresh connection, half-close it, read a response if one comes."""
    connection = await Connection.open(port)
    try:
        connection.writer.write(request.raw)
        try:
            await connection.writer.drain()
            if connection.writer.can_write_eof():
                connection.writer.write_eof()
        except ConnectionError:
            pass
        try:
            return await asyncio.wait_for(connection.read_response(head=request.head), 15)
        except (ConnectionClosed, ConnectionError, ValueError, IndexError):
            return None
    finally:
        connection.close()


async def _fuzz(server: ServerProcess, seed: int, event_type: str, total: int) -> FuzzStats:
    stats = FuzzStats()
    per_worker = total // FUZZ_CONNECTIONS

    def record(request: FuzzRequest, response: Response) -> None:
        stats.statuses[response.status] += 1
        if response.status >= 500:
            stats.server_errors.append((request.kind, response.status, request.raw[:300]))
        if request.must_accept and not 200 <= response.status < 300:
            stats.not_accepted.append(
                (request.kind, response.status, response.body[:300], request.raw[:300])
            )
        stats.done += 1
        if stats.done == total // 10:
            stats.rss_warm = rss_bytes(server.pid)

    async def worker(index: int) -> None:
        fuzzer = Fuzzer(seed * 1000 + index, event_type)
        connection: Connection | None = None
        for _ in range(per_worker):
            request = fuzzer.next()
            stats.kinds[request.kind] += 1
            if not request.keep_alive:
                response = await _send_alone(server.port, request)
                if response is not None:
                    record(request, response)
                continue
            if connection is None:
                connection = await Connection.open(server.port)
            try:
                response = await connection.request(request.raw, head=request.head, timeout=None)
            except (ConnectionClosed, ConnectionError):
                stats.dropped.append((request.kind, request.raw[:300]))
                connection.close()
                connection = None
                continue
            record(request, response)
            if response.closes:
                connection.close()
                connection = None
        if connection is not None:
            connection.close()

    # One bound for the whole run instead of a timer per request: a hang fails the test.
    await asyncio.wait_for(
        asyncio.gather(*(worker(i) for i in range(FUZZ_CONNECTIONS))), FUZZ_TIMEOUT_SECONDS
    )
    return stats


def test_fuzz_100k_requests_no_5xx_alive_bounded_memory(default_render: Path, tmp_path: Path):
    """100k random and mutated requests: zero 5xx, valid events accepted, RSS bounded."""
    seed = int(os.environ.get(FUZZ_SEED_ENV, random.randrange(2**31)))
    print(f"fuzz seed: {seed} (rerun with {FUZZ_SEED_ENV}={seed})")
    event_type = event_type_of(default_render)
    server = start_server(default_render, tmp_path)
    started = time.monotonic()
    try:
        stats = run(_fuzz(server, seed, event_type, FUZZ_REQUESTS))
        took = time.monotonic() - started
        alive = server.process.poll() is None
        rss_end = rss_bytes(server.pid) if alive else 0
        after = run(_one_event(server.port, event_type))
    finally:
        server.stop()
    sent = sum(stats.kinds.values())
    context = (
        f"seed {seed}: {sent} requests in {took:.1f} s, statuses {dict(stats.statuses)}, "
        f"kinds {dict(stats.kinds)}"
    )
    print(context)
    assert sent >= FUZZ_REQUESTS * 0.99, context
    assert stats.server_errors == [], f"{context}\n5xx: {stats.server_errors[:5]}"
    assert stats.dropped == [], f"{context}\nno answer on keep-alive: {stats.dropped[:5]}"
    assert stats.not_accepted == [], f"{context}\nvalid refused: {stats.not_accepted[:5]}"
    assert stats.statuses[202] > FUZZ_REQUESTS * 0.2, context
    assert sum(n for s, n in stats.statuses.items() if 400 <= s < 500) > FUZZ_REQUESTS * 0.2
    assert alive and after == 202, f"server not serving after the fuzz: {after}\n{server.log()}"
    assert stats.rss_warm and rss_end < 1.5 * stats.rss_warm, (
        f"RSS grew from {stats.rss_warm / 2**20:.1f} MiB to {rss_end / 2**20:.1f} MiB"
    )
    assert "Traceback" not in server.log(), server.log()


async def _one_event(port: int, event_type: str) -> int:
    connection = await Connection.open(port)
    try:
        return (await connection.request(binary_event(event_type, {"after": "fuzz"}))).status
    finally:
        connection.close()


# ---------------------------------------------------------------------------
# Slow and failing handlers
# ---------------------------------------------------------------------------

TIMEOUT_SECONDS = 2.0
CONCURRENCY = 16


async def _timed(connection: Connection, raw: bytes) -> tuple[float, Response]:
    started = time.monotonic()
    response = await connection.request(raw, timeout=30)
    return time.monotonic() - started, response


async def _fast_latencies(port: int, event_type: str, per_connection: int, connections: int):
    async def one() -> list[tuple[float, int]]:
        connection = await Connection.open(port)
        out = []
        try:
            for i in range(per_connection):
                took, response = await _timed(connection, binary_event(event_type, {"i": i}))
                out.append((took, response.status))
        finally:
            connection.close()
        return out

    results = await asyncio.gather(*(one() for _ in range(connections)))
    return [item for result in results for item in result]


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def _handler_scenario(port: int, event_type: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    out["baseline"] = await _fast_latencies(port, event_type, 100, 4)

    # Contention: 8 slow (0.8 s) and 4 raising handlers run in loops next to fast events.
    stop = asyncio.Event()
    slow_statuses: list[int] = []
    raise_statuses: list[tuple[int, str]] = []

    async def loop(raw: bytes, sink: list[Any], problem: bool) -> None:
        connection = await Connection.open(port)
        try:
            while not stop.is_set():
                response = await connection.request(raw, timeout=30)
                sink.append(
                    (response.status, response.headers.get("content-type", ""))
                    if problem
                    else response.status
                )
        finally:
            connection.close()

    background = [
        asyncio.create_task(loop(binary_event("test.slow", {"seconds": 0.8}), slow_statuses, False))
        for _ in range(8)
    ] + [
        asyncio.create_task(loop(binary_event("test.raise", {}), raise_statuses, True))
        for _ in range(4)
    ]
    await asyncio.sleep(0.3)
    out["loaded"] = await _fast_latencies(port, event_type, 100, 4)
    stop.set()
    await asyncio.gather(*background)
    out["slow"], out["raise"] = slow_statuses, raise_statuses

    # At the limit: CONCURRENCY slow handlers hold every slot; more events get 503 at once.
    held = [await Connection.open(port) for _ in range(CONCURRENCY)]
    holders = [
        asyncio.create_task(_timed(c, binary_event("test.slow", {"seconds": 1.5}))) for c in held
    ]
    await asyncio.sleep(0.5)
    over = await _fast_latencies(port, event_type, 5, 2)
    out["over_limit"] = over
    out["holders"] = [r.status for _, r in await asyncio.gather(*holders)]
    for connection in held:
        connection.close()
    out["after_limit"] = await _fast_latencies(port, event_type, 10, 2)

    # Timeouts: CONCURRENCY handlers that would sleep 30 s all get 504 after the timeout,
    # and free their slots: fast events are accepted right after.
    held = [await Connection.open(port) for _ in range(CONCURRENCY)]
    out["timeouts"] = await asyncio.gather(
        *(_timed(c, binary_event("test.slow", {"seconds": 30})) for c in held)
    )
    for connection in held:
        connection.close()
    out["after_timeouts"] = await _fast_latencies(port, event_type, 10, 2)
    return out


def test_slow_and_raising_handlers_do_not_hold_up_other_events(
    default_render: Path, tmp_path: Path
):
    """Slow or failing handlers: others stay fast, the limit answers 503, timeouts give 504."""
    event_type = event_type_of(default_render)
    server = start_server(
        default_render,
        tmp_path,
        env={
            "HANDLER_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
            "MAX_CONCURRENT_HANDLERS": str(CONCURRENCY),
        },
        test_handlers=True,
    )
    try:
        out = run(_handler_scenario(server.port, event_type))
        alive = server.process.poll() is None
    finally:
        server.stop()

    baseline = [t for t, _ in out["baseline"]]
    loaded = [t for t, _ in out["loaded"]]
    assert {s for _, s in out["baseline"] + out["loaded"]} == {202}
    summary = (
        f"fast events p50/p99 ms: alone {_p(baseline, 50) * 1e3:.1f}/{_p(baseline, 99) * 1e3:.1f}"
        f", next to slow+raising {_p(loaded, 50) * 1e3:.1f}/{_p(loaded, 99) * 1e3:.1f}"
    )
    print(summary)
    # A handler that blocked the loop would add its 0.8 s to the events queued behind it.
    assert _p(loaded, 50) < 0.05 and _p(loaded, 99) < 0.4, summary
    assert out["slow"] and set(out["slow"]) == {202}, out["slow"]
    assert out["raise"] and {s for s, _ in out["raise"]} == {500}, out["raise"][:5]
    assert {c for _, c in out["raise"]} == {"application/problem+json"}, out["raise"][:5]

    over = out["over_limit"]
    assert {s for _, s in over} == {503}, over
    assert max(t for t, _ in over) < 0.5, f"refusals over the limit were not immediate: {over}"
    assert out["holders"] == [202] * CONCURRENCY
    assert {s for _, s in out["after_limit"]} == {202}

    for took, response in out["timeouts"]:
        assert response.status == 504, (response.status, response.body[:200])
        assert TIMEOUT_SECONDS * 0.9 < took < TIMEOUT_SECONDS + 2.5, took
        assert b"HANDLER_TIMEOUT_SECONDS" in response.body
    assert {s for _, s in out["after_timeouts"]} == {202}, "slots were not released"
    assert alive
