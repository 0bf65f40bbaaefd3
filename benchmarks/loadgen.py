"""Drive a target with wrk and read its results exactly (no parsing of human units).

wrk is the load generator: C with LuaJIT, one thread on the other core, 32 keep-alive
connections. The Lua script gives every request a fresh CloudEvent id (a server may
deduplicate ids) and prints one JSON line from wrk's ``done`` callback with the raw
counters and latency percentiles in microseconds.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import targets
from benchmarks.targets import MODES, WORK_DIR, binary_request, event_data, structured_request

_ID_SLOT = "@@ID@@"

_LUA = r"""
local mode = "%(mode)s"
local tag = "%(tag)s-"
local limit = %(limit)d
local body = [==[%(body)s]==]
local prefix = [==[%(prefix)s]==]
local suffix = [==[%(suffix)s]==]
local headers = {}
%(headers)s
local counter = 0
local answered = 0

request = function()
  counter = counter + 1
  if mode == "binary" then
    headers["ce-id"] = tag .. counter
    return wrk.format("POST", "/", headers, body)
  end
  return wrk.format("POST", "/", headers, prefix .. tag .. counter .. suffix)
end

if limit > 0 then
  response = function(status, hdrs, text)
    answered = answered + 1
    if answered >= limit then
      wrk.thread:stop()
    end
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%%d,"duration_us":%%d,"non2xx":%%d,"connect":%%d,' ..
    '"read":%%d,"write":%%d,"timeout":%%d,"p50":%%d,"p90":%%d,"p99":%%d,"mean":%%.1f}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean))
end
"""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: throughput, latency percentiles (ms) and failures."""

    requests: int
    seconds: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def lua_script(mode: str, event_type: str, *, limit: int = 0, data_size: int = 1024) -> Path:
    """Write the Lua script for ``mode`` (binary or structured); ``limit`` stops after N answers."""
    data = event_data(data_size)
    if mode == "binary":
        headers, body = binary_request(event_type, data)
        headers.pop("ce-id")
        prefix = suffix = ""
    elif mode == "structured":
        headers, body = structured_request(event_type, data, event_id=_ID_SLOT)
        text = body.decode()
        prefix, suffix = text.split(_ID_SLOT)
        body = b""
    else:
        raise ValueError(f"unknown mode {mode!r}; expected one of {MODES}")
    header_lines = "\n".join(f'headers["{k}"] = "{v}"' for k, v in headers.items())
    for text in (body.decode(), prefix, suffix):
        if "]==]" in text:
            raise ValueError("payload would end the Lua long string early")
    script = _LUA % {
        "mode": mode,
        "tag": secrets.token_hex(4),
        "limit": limit,
        "body": body.decode(),
        "prefix": prefix,
        "suffix": suffix,
        "headers": header_lines,
    }
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    path = WORK_DIR / f"wrk-{mode}-{limit}.lua"
    path.write_text(script)
    return path


def run_wrk(
    port: int,
    script: Path,
    *,
    seconds: float,
    connections: int = 32,
    cpu: int | None = 1,
    timeout: str = "5s",
) -> WrkResult:
    """Run wrk with one thread for ``seconds`` (or until the script's limit) and read its JSON."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise RuntimeError("wrk not found: apt-get install -y wrk")
    command = [
        wrk,
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        f"--timeout={timeout}",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}/",
    ]
    command = targets.pinned(command, cpu)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRKJSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    raw: dict[str, Any] = json.loads(line.removeprefix("WRKJSON "))
    return WrkResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        non_2xx=raw["non2xx"],
        socket_errors=raw["connect"] + raw["read"] + raw["write"] + raw["timeout"],
        p50_ms=raw["p50"] / 1000,
        p90_ms=raw["p90"] / 1000,
        p99_ms=raw["p99"] / 1000,
    )
