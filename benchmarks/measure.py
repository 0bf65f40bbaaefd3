"""The measurements besides throughput: cold start, memory under load, import time."""

from __future__ import annotations

import math
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil

from benchmarks.loadgen import lua_script, run_wrk
from benchmarks.targets import PYTHON, Server, Target, server_env


def cold_start(target: Target, event_type: str) -> float:
    """Seconds from process spawn to the first accepted (2xx) event."""
    with Server(target) as server:
        return server.wait_accepting(event_type)


@dataclass(frozen=True)
class MemoryResult:
    """Resident set size (MiB) after the first and second event counts."""

    first_events: int
    second_events: int
    rss_first_mib: float
    rss_second_mib: float

    @property
    def growth(self) -> float:
        """RSS at the second count relative to the first (1.0 = no growth)."""
        return self.rss_second_mib / self.rss_first_mib


def send_events(port: int, event_type: str, count: int, *, rate_hint: float = 5000.0) -> int:
    """Send at least ``count`` binary events through wrk; returns how many were answered.

    wrk's threads stop at the script's limit but its main thread sleeps for the whole
    duration, so the work is cut into runs sized from the measured rate.
    """
    sent = 0
    rate = rate_hint
    while sent < count:
        remaining = count - sent
        seconds = max(1, math.ceil(remaining / rate * 1.1))
        result = run_wrk(port, lua_script("binary", event_type, limit=remaining), seconds=seconds)
        if result.requests == 0:
            raise RuntimeError("the server answered no events")
        rate = max(100.0, result.requests / seconds)
        sent += result.requests
    return sent


def rss_mib(pid: int) -> float:
    """Resident set size of ``pid`` and its children (uvicorn runs one process here)."""
    process = psutil.Process(pid)
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        total += child.memory_info().rss
    return total / 2**20


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the server process has used so far.

    Requests per server CPU-second is the noise-robust twin of requests per second: on a
    shared machine the server may not get its core all the time, but the CPU it spends
    per request stays the same.
    """
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def server_pid(server: Server) -> int:
    """The Python process itself (nice and taskset exec it, so the pid is the same)."""
    return server.pid


def memory(
    target: Target, event_type: str, *, first: int = 10_000, second: int = 100_000
) -> MemoryResult:
    """RSS after ``first`` events and after ``second`` events in total."""
    with Server(target) as server:
        server.wait_accepting(event_type)
        done = send_events(server.port, event_type, first)
        rss_first = rss_mib(server_pid(server))
        done += send_events(server.port, event_type, second - done)
        rss_second = rss_mib(server_pid(server))
    return MemoryResult(first, done, rss_first, rss_second)


@dataclass(frozen=True)
class ImportEntry:
    """One line of ``python -X importtime``: self and cumulative microseconds."""

    module: str
    self_us: int
    cumulative_us: int


def import_profile(target: Target) -> tuple[float, list[ImportEntry]]:
    """Wall seconds to import the target's app, and ``-X importtime`` entries."""
    module = target.app.split(":", 1)[0]
    env = server_env(target)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    # Warm the bytecode cache first: a container image ships compiled modules.
    subprocess.run(
        [str(PYTHON), "-c", f"import {module}"], env=env, check=True, capture_output=True
    )
    done = subprocess.run(
        [str(PYTHON), "-X", "importtime", "-c", f"import {module}"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    entries = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|", 2)
        entries.append(ImportEntry(name.rstrip(), int(self_us), int(cumulative_us)))
    root = next((e for e in entries if e.module.strip() == module), None)
    total = (root.cumulative_us if root else sum(e.self_us for e in entries)) / 1e6
    return total, entries


def costliest_imports(entries: list[ImportEntry], limit: int = 15) -> list[ImportEntry]:
    """The entries with the largest cumulative time; names keep importtime's nesting indent."""
    ranked = sorted(entries, key=lambda e: e.cumulative_us, reverse=True)
    return ranked[:limit]


def machine_note() -> str:
    """CPU model and core count, for the table's caption."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"
