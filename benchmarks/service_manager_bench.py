"""Service manager: parallel resource creation against a sequential baseline.

Renders the service with ``service_manager=true`` (this working tree, uncommitted edits
included) for its ``ManagerDefaults``, starts the Kubernetes API emulator of the
knative-events package's tests (kmock over real HTTP, the real lightkube client) with a
fixed latency per request, and creates the same number of managed services twice in one
run with ``knative_events.service_manager``:

* parallel: ServiceAccount + ConfigMap together, then Service + Trigger together (the
  manager's normal path);
* sequential: the four resources one after the other (``ServiceManager(parallel=False)``).

Each path gets a fresh emulator. Services are created one after another, so the figure is
the latency of one creation, which is what the parallel phases shorten. Prints wall times,
the speedup, API calls per creation and whether the 1.8x target is met.

    .venv/bin/python benchmarks/service_manager_bench.py [--services 50] [--latency-ms 20]
    .venv/bin/python benchmarks/service_manager_bench.py --render /tmp/existing-render
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import logging
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from types import ModuleType
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
EMULATOR = REPO_ROOT / "packages/knative-events/tests/integration/kube/kube_support.py"
TARGET_SPEEDUP = 1.8


def render(dest: Path) -> Path:
    """``copier copy --defaults -d service_manager=true`` of this working tree into ``dest``."""
    import copier

    copier.run_copy(
        str(REPO_ROOT),
        str(dest),
        data={"service_manager": True},
        defaults=True,
        vcs_ref="HEAD",
        quiet=True,
        unsafe=False,
    )
    return dest


def load_render(root: Path) -> tuple[ModuleType, ModuleType, Any]:
    """The service manager module, the emulator module and the render's ManagerDefaults."""
    answers = (root / ".copier-answers.yml").read_text(encoding="utf-8")
    service = next(
        line.split(":", 1)[1].strip()
        for line in answers.splitlines()
        if line.startswith("service_name:")
    )
    package = service.replace("-", "_")
    sys.path.insert(0, str(root / "src"))
    manager_module = importlib.import_module("knative_events.service_manager")
    defaults = importlib.import_module(f"{package}.handlers.builds").DEFAULTS
    spec = importlib.util.spec_from_file_location("kube_support", EMULATOR)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load the emulator from {EMULATOR}")
    emulator_module = importlib.util.module_from_spec(spec)
    sys.modules["kube_support"] = emulator_module
    spec.loader.exec_module(emulator_module)
    return manager_module, emulator_module, defaults


@dataclass
class PathResult:
    """One path's figures."""

    path: str
    services: int
    wall_seconds: float
    per_creation_ms_mean: float
    per_creation_ms_p50: float
    per_creation_ms_max: float
    api_calls: int
    api_calls_per_creation: float
    client_cpu_ms_per_creation: float


def serve(root: str, latency: float, conn: Connection) -> None:
    """Child process: run the emulator, report its URL, then its call count when told to stop.

    The emulator runs in its own process (its own event loop and CPU time), as a real API
    server would, so the client's event loop only pays for the client's work.
    """
    logging.disable(logging.INFO)
    _, kube, _ = load_render(Path(root))

    async def run() -> None:
        import kmock

        async with kube.KnativeApiEmulator() as emulator, kmock.Server(emulator):
            emulator.latency = latency
            conn.send(str(emulator.url))
            loop = asyncio.get_running_loop()
            while True:
                message = await loop.run_in_executor(None, conn.recv)
                if message == "reset":
                    emulator.calls.clear()
                    conn.send("ok")
                elif message == "stop":
                    conn.send(len(emulator.api_calls()))
                    return

    asyncio.run(run())


class _ProcessEmulator:
    """The emulator in a child process (``serve``), driven over a pipe."""

    def __init__(self, root: Path, latency: float) -> None:
        self.conn, child = multiprocessing.Pipe()
        self.process = multiprocessing.get_context("spawn").Process(
            target=serve, args=(str(root), latency, child), daemon=True
        )

    async def __aenter__(self) -> str:
        self.process.start()
        return str(self.conn.recv())

    def reset(self) -> None:
        self.conn.send("reset")
        self.conn.recv()

    def calls(self) -> int:
        self.conn.send("stop")
        return int(self.conn.recv())

    async def __aexit__(self, *exc_info: object) -> None:
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.terminate()


class _InProcessEmulator:
    """The emulator on this event loop (what the rendered tests use)."""

    def __init__(self, kube: ModuleType, latency: float) -> None:
        import kmock

        self.emulator = kube.KnativeApiEmulator()
        self.emulator.latency = latency
        self.server = kmock.Server(self.emulator)

    async def __aenter__(self) -> str:
        await self.emulator.__aenter__()
        await self.server.__aenter__()
        return str(self.emulator.url)

    def reset(self) -> None:
        self.emulator.calls.clear()

    def calls(self) -> int:
        return len(self.emulator.api_calls())

    async def __aexit__(self, *exc_info: object) -> None:
        await self.server.__aexit__(None, None, None)
        await self.emulator.__aexit__(None, None, None)


async def measure(
    sm: ModuleType,
    kube: ModuleType,
    defaults: Any,
    root: Path,
    *,
    parallel: bool,
    services: int,
    latency: float,
    tmp: Path,
    in_process: bool = False,
) -> PathResult:
    """Create ``services`` managed services against a fresh emulator; time each creation."""
    from prometheus_client import CollectorRegistry

    api: _ProcessEmulator | _InProcessEmulator = (
        _InProcessEmulator(kube, latency) if in_process else _ProcessEmulator(root, latency)
    )
    async with api as url:
        config = kube.write_kubeconfig(tmp / f"kubeconfig-{parallel}", url)
        os.environ["KUBECONFIG"] = str(config)
        manager = sm.ServiceManager.from_environment(
            defaults,
            namespace=kube.NAMESPACE,
            settings=sm.ServiceManagerSettings.from_defaults(defaults),
            metrics=sm.ServiceManagerMetrics(CollectorRegistry()),
        )
        manager.parallel = parallel
        durations: list[float] = []
        try:
            # One warm-up creation (connection set-up, imports) that is not counted.
            await manager.create_service("lambda-warmup", kube.make_build("warm", "up"))
            api.reset()
            started = time.perf_counter()
            cpu_started = time.process_time()
            for index in range(services):
                build = kube.make_build(f"tenant-{index}", f"parser-{index}", version=index + 1)
                name = manager.generate_service_name(build.third_party_id, build.parser_id)
                one = time.perf_counter()
                await manager.create_service(name, build)
                durations.append(time.perf_counter() - one)
            wall = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
        finally:
            await manager.aclose()
        calls = api.calls()
    return PathResult(
        path="parallel" if parallel else "sequential",
        services=services,
        wall_seconds=wall,
        per_creation_ms_mean=statistics.fmean(durations) * 1000,
        per_creation_ms_p50=statistics.median(durations) * 1000,
        per_creation_ms_max=max(durations) * 1000,
        api_calls=calls,
        api_calls_per_creation=calls / services,
        client_cpu_ms_per_creation=cpu / services * 1000,
    )


async def main_async(args: argparse.Namespace, root: Path, tmp: Path) -> dict[str, Any]:
    sm, kube, defaults = load_render(root)
    latency = args.latency_ms / 1000
    best: dict[bool, PathResult] = {}
    for _ in range(args.rounds):  # alternate the paths; keep each path's fastest round
        for parallel in (False, True):
            result = await measure(
                sm,
                kube,
                defaults,
                root,
                parallel=parallel,
                services=args.services,
                latency=latency,
                tmp=tmp,
                in_process=args.in_process,
            )
            if parallel not in best or result.wall_seconds < best[parallel].wall_seconds:
                best[parallel] = result
    sequential, parallel_result = best[False], best[True]
    speedup = sequential.wall_seconds / parallel_result.wall_seconds
    return {
        "services": args.services,
        "latency_ms": args.latency_ms,
        "rounds": args.rounds,
        "emulator": "in-process" if args.in_process else "own process",
        "sequential": asdict(sequential),
        "parallel": asdict(parallel_result),
        "speedup": round(speedup, 2),
        "target_speedup": TARGET_SPEEDUP,
        "target_met": speedup >= TARGET_SPEEDUP,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=1, help="repeat, keep the fastest round")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="run the emulator on the client's event loop instead of its own process",
    )
    parser.add_argument("--render", type=Path, help="use this service_manager=true render")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)

    logging.disable(logging.INFO)  # per-request client logs would be measured too
    tmp = Path(tempfile.mkdtemp(prefix="sm-bench-"))
    try:
        root = args.render or render(tmp / "render")
        result = asyncio.run(main_async(args, root, tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    seq, par = result["sequential"], result["parallel"]
    print(
        f"{result['services']} services, {result['latency_ms']:g} ms per API request "
        f"(kmock emulator {result['emulator']}, lightkube client, Python {result['python']}, "
        f"{result['cpus']} CPUs, load average {result['load_average_1m']})"
    )
    for row in (seq, par):
        print(
            f"  {row['path']:<10} wall {row['wall_seconds']:6.2f} s   per creation "
            f"mean {row['per_creation_ms_mean']:6.1f} ms  p50 {row['per_creation_ms_p50']:6.1f} ms"
            f"  max {row['per_creation_ms_max']:6.1f} ms   API calls/creation "
            f"{row['api_calls_per_creation']:.1f}   client CPU/creation "
            f"{row['client_cpu_ms_per_creation']:.1f} ms"
        )
    verdict = "met" if result["target_met"] else "NOT met"
    print(f"  speedup {result['speedup']:.2f}x (target {TARGET_SPEEDUP}x: {verdict})")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if result["target_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
