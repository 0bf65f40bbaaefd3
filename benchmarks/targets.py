"""The servers under test, how to start them, and the probes every one must pass first.

A target is an ASGI app plus the ``PYTHONPATH`` that imports it. Every target runs under
the very same uvicorn command line (one worker, uvloop, httptools, no access log), pinned
to one CPU core, so the comparison is between apps, never between servers.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
PEERS_DIR = BENCH_DIR / "peers"
WORK_DIR = BENCH_DIR / ".work"
# The runtime and tooling packages a rendered service runs on (installed editable in .venv).
PACKAGE_SOURCES = (
    REPO_ROOT / "packages" / "knative-events" / "src",
    REPO_ROOT / "packages" / "knative-manifests" / "src",
)
DOCS = REPO_ROOT / "docs" / "performance.md"  # run.py and instructions.py each fill a block
MODES = ("binary", "structured")  # the two ways an event travels over HTTP
_VENV_PYTHON = REPO_ROOT / ".venv" / "bin" / "python"
PYTHON = Path(
    os.environ.get("BENCH_PYTHON") or (_VENV_PYTHON if _VENV_PYTHON.exists() else sys.executable)
)

EVENT_SOURCE = "/benchmarks/load"
DEFAULT_EVENT_TYPE = "com.example.sample.created"


@dataclass(frozen=True)
class Target:
    """One server: a display name, the ``module:attr`` of its ASGI app and its import path."""

    name: str
    app: str
    pythonpath: tuple[Path, ...]
    env: dict[str, str] = field(default_factory=dict)
    is_ours: bool = False
    is_upper_bound: bool = False
    # A peer as its users deploy it, on its own server: reported, never the "best peer".
    as_shipped: tuple[str, ...] = ()
    # A variant of ours cut short at one stage of the event path (the CPU breakdown),
    # and what that stage adds to the one before.
    is_stage: bool = False
    # Ours at an earlier release, for a before/after comparison in one run: reported,
    # never the "best peer".
    is_baseline: bool = False
    note: str = ""


def peer_targets() -> list[Target]:
    """The peers, in the order the tables list them."""
    peers = (PEERS_DIR,)
    return [
        Target("func-python", "func_python_peer:app", peers),
        Target("FastAPI + CloudEvents SDK", "fastapi_sdk_peer:app", peers),
        Target("fastapi-cloudevents", "fastapi_cloudevents_peer:app", peers),
        Target("raw ASGI (no parsing)", "raw_asgi:app", peers, is_upper_bound=True),
        Target(
            "func-python as shipped (hypercorn)",
            "func_python_peer:app",
            peers,
            env={"LISTEN_ADDRESS": "127.0.0.1:{port}"},
            as_shipped=(
                "-c",
                "import func_python.cloudevent as c, func_python_peer as f; c.serve(f.new)",
            ),
        ),
    ]


def our_target(render: Path) -> Target:
    """The rendered default service, served through its real ``main:app``.

    Its ``main.py`` builds the ``knative_events`` app from the service's settings and
    handlers; the runtime itself comes from the environment (the workspace packages).
    """
    render = render.resolve()
    package = read_answers(render)["package_name"]
    return Target("ours", f"{package}.main:app", (render / "src",), is_ours=True)


def baseline_target(render: Path, ref: str) -> Target:
    """An earlier release's default render (its runtime copied into it), served as ours was."""
    render = render.resolve()
    package = read_answers(render)["package_name"]
    return Target(f"ours at {ref}", f"{package}.main:app", (render / "src",), is_baseline=True)


def stage_targets(render: Path) -> list[Target]:
    """Ours stopped after reading the body, and after parsing (``peers/ours_stages.py``).

    Built from the render's settings and handlers on ``knative_events``' endpoint.
    """
    render = render.resolve()
    env = {"BENCH_PACKAGE": read_answers(render)["package_name"]}
    path = (PEERS_DIR, render / "src")
    return [
        Target(
            "ours, read only",
            "ours_stages:read_only_app",
            path,
            env,
            is_stage=True,
            note="routing, one scan of the headers, the Content-Length check, the body read",
        ),
        Target(
            "ours, read + parse",
            "ours_stages:parsed_app",
            path,
            env,
            is_stage=True,
            note="orjson parse and the CloudEvents attribute checks, the event object",
        ),
    ]


def read_answers(render: Path) -> dict[str, Any]:
    """The answers Copier recorded, plus the package name it derives from the service name."""
    import yaml

    answers = yaml.safe_load((render / ".copier-answers.yml").read_text())
    answers.setdefault("package_name", answers["service_name"].replace("-", "_"))
    return dict(answers)


def event_type_of(render: Path | None) -> str:
    """The first answered event type: the one the default render has a handler for."""
    if render is None:
        return DEFAULT_EVENT_TYPE
    types = read_answers(render).get("event_types") or [DEFAULT_EVENT_TYPE]
    return str(types[0])


def render_default(
    dest: Path = WORK_DIR / "render", *, committed: bool = False, vcs_ref: str = "HEAD"
) -> Path:
    """Render ``copier copy --defaults`` of this repository into ``dest``.

    By default the working tree is rendered, uncommitted edits included (what Copier does
    with ``-r HEAD`` on a dirty repository). ``committed`` renders the last commit only,
    from a fresh clone, so edits in progress elsewhere in the tree cannot leak in.
    ``vcs_ref`` renders an earlier release instead (the before/after comparison).
    """
    import copier

    if dest.exists():
        shutil.rmtree(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    source = REPO_ROOT
    if committed:
        source = dest.parent / "template-clone"
        if source.exists():
            shutil.rmtree(source)
        subprocess.run(
            ["git", "clone", "-q", "--no-hardlinks", str(REPO_ROOT), str(source)], check=True
        )
    copier.run_copy(
        str(source), str(dest), defaults=True, vcs_ref=vcs_ref, quiet=True, unsafe=False
    )
    compile_bytecode(dest / "src", *PACKAGE_SOURCES)
    return dest


def compile_bytecode(*trees: Path) -> None:
    """Compile ``trees`` to ``.pyc`` as the image does (``UV_COMPILE_BYTECODE=1``).

    Run on the rendered code, the peers' apps and the environment's site-packages, so
    no target compiles anything at start-up: uv installs without bytecode by default,
    and with PYTHONDONTWRITEBYTECODE set nothing would ever be cached, so every cold
    start of every uvicorn target would compile uvicorn and click again.
    Already compiled files are skipped, so a second run takes a moment.
    """
    for tree in trees:
        subprocess.run(
            [str(PYTHON), "-m", "compileall", "-q", str(tree)],
            check=True,
            capture_output=True,
            env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
        )


def site_packages() -> Path:
    """The site-packages directory of the Python that serves every target."""
    done = subprocess.run(
        [str(PYTHON), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    )
    return Path(done.stdout.strip())


# ---------------------------------------------------------------------------
# Events
# ---------------------------------------------------------------------------


def event_data(size: int = 1024) -> dict[str, Any]:
    """A JSON object whose compact encoding is ``size`` bytes, shaped like a real payload."""
    data: dict[str, Any] = {
        "orderId": "ord-000123",
        "customer": {"id": "c-42", "tier": "gold"},
        "items": [{"sku": f"sku-{i:04d}", "qty": i % 5 + 1} for i in range(8)],
        "note": "",
    }
    base = len(compact(data))
    data["note"] = "x" * max(0, size - base)
    return data


def compact(value: Any) -> bytes:
    """Compact JSON, the way a producer would send it."""
    return json.dumps(value, separators=(",", ":")).encode()


def binary_request(
    event_type: str, data: dict[str, Any], *, event_id: str | None = "1"
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a binary-mode CloudEvent (``event_id=None`` leaves ce-id out)."""
    headers = {
        "content-type": "application/json",
        "ce-specversion": "1.0",
        "ce-type": event_type,
        "ce-source": EVENT_SOURCE,
    }
    if event_id is not None:
        headers["ce-id"] = event_id
    return headers, compact(data)


def structured_request(
    event_type: str, data: dict[str, Any], *, event_id: str | None = "1"
) -> tuple[dict[str, str], bytes]:
    """Headers and body of a structured-mode CloudEvent (``event_id=None`` leaves id out)."""
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "type": event_type,
        "source": EVENT_SOURCE,
        "datacontenttype": "application/json",
        "data": data,
    }
    if event_id is not None:
        envelope["id"] = event_id
    return {"content-type": "application/cloudevents+json"}, compact(envelope)


# ---------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Scheduling priority for servers and wrk (``nice`` value; negative needs root). On a
# machine shared with other jobs a negative value keeps them from taking the pinned cores.
NICE = int(os.environ.get("BENCH_NICE", "0"))


def pinned(command: list[str], cpu: int | None) -> list[str]:
    """Prefix ``command`` with ``taskset`` for ``cpu`` and ``nice`` for NICE, when set."""
    if cpu is not None and shutil.which("taskset"):
        command = ["taskset", "-c", str(cpu), *command]
    if NICE:
        command = ["nice", "-n", str(NICE), *command]
    return command


def server_command(target: Target, port: int, *, cpu: int | None = 0) -> list[str]:
    """The uvicorn command line every target shares, pinned to ``cpu`` when given."""
    if target.as_shipped:
        command = [str(PYTHON), *target.as_shipped]
        return pinned(command, cpu)
    command = [
        str(PYTHON),
        "-m",
        "uvicorn",
        target.app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--loop",
        "uvloop",
        "--http",
        # ours as the container serves it: httptools with bounded headers (knative_events.server)
        "knative_events.server:BoundedHttpToolsProtocol" if target.is_ours else "httptools",
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    return pinned(command, cpu)


def server_env(target: Target, port: int = 0) -> dict[str, str]:
    """The environment of a target: its import path first, nothing else of ours leaks in."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in target.pythonpath)
    env.update({k: v.replace("{port}", str(port)) for k, v in target.env.items()})
    return env


class Server:
    """A running target. Use as a context manager; stops with SIGTERM, then SIGKILL."""

    def __init__(self, target: Target, *, cpu: int | None = 0, port: int | None = None) -> None:
        self.target = target
        self.port = port or free_port()
        self.cpu = cpu
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0

    def start(self) -> Server:
        self.started_at = time.perf_counter()
        self.process = subprocess.Popen(
            server_command(self.target, self.port, cpu=self.cpu),
            env=server_env(self.target, self.port),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=WORK_DIR if WORK_DIR.is_dir() else None,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def wait_accepting(self, event_type: str, timeout: float = 30.0) -> float:
        """Poll with a valid binary event until it gets 2xx; seconds since ``start``."""
        headers, body = binary_request(event_type, event_data())
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"{self.target.name} exited early:\n{self.stderr_text()}")
            try:
                status, _ = post(self.port, headers, body, timeout=2.0)
            except OSError:
                time.sleep(0.005)
                continue
            if 200 <= status < 300:
                return time.perf_counter() - self.started_at
            raise RuntimeError(f"{self.target.name} answered {status} to a valid event")
        raise TimeoutError(f"{self.target.name} did not accept an event in {timeout}s")

    def stderr_text(self) -> str:
        if self.process is None or self.process.stderr is None:
            return ""
        if self.process.poll() is None:
            return ""
        return self.process.stderr.read().decode(errors="replace")[-4000:]

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def post(
    port: int, headers: dict[str, str], body: bytes, *, path: str = "/", timeout: float = 5.0
) -> tuple[int, bytes]:
    """One POST on a fresh connection: (status, body)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


# ---------------------------------------------------------------------------
# Correctness probes
# ---------------------------------------------------------------------------

PROBES = ("valid binary", "valid structured", "binary without id", "structured without id")


def probe(port: int, event_type: str) -> dict[str, int]:
    """Status codes for a valid event and one missing ``id``, in both content modes."""
    data = event_data()
    requests = {
        "valid binary": binary_request(event_type, data, event_id=str(uuid.uuid4())),
        "valid structured": structured_request(event_type, data, event_id=str(uuid.uuid4())),
        "binary without id": binary_request(event_type, data, event_id=None),
        "structured without id": structured_request(event_type, data, event_id=None),
    }
    return {name: post(port, *requests[name])[0] for name in PROBES}


def probe_verdict(statuses: dict[str, int]) -> tuple[bool, list[str]]:
    """Whether the target accepts valid events, and each way it mishandles a missing id.

    A target that cannot accept a valid event is broken and fails the run. Accepting an
    event without ``id`` breaks CloudEvents 1.0 (``id`` is REQUIRED); that is a finding the
    table records, not a reason to leave the peer out.
    """
    accepts = all(200 <= statuses[name] < 300 for name in ("valid binary", "valid structured"))
    findings = []
    for name in ("binary without id", "structured without id"):
        status = statuses[name]
        if 200 <= status < 300:
            findings.append(f"accepts {name} ({status})")
        elif not 400 <= status < 500:
            findings.append(f"answers {status} to {name}")
    return accepts, findings


def main() -> int:
    """Probe every peer, and ours given a render: ``python benchmarks/targets.py [render]``."""
    render = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    targets = ([our_target(render)] if render else []) + peer_targets()
    event_type = event_type_of(render)
    for target in targets:
        with Server(target, cpu=None) as server:
            server.wait_accepting(event_type)
            statuses = probe(server.port, event_type)
        accepts, findings = probe_verdict(statuses)
        print(f"{target.name:28} {statuses} accepts={accepts} {'; '.join(findings)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
