"""The cost of issue 32's features, each off and on, in one run: instructions and requests/s.

    .venv/bin/python benchmarks/features.py             # writes its block of docs/performance.md
    .venv/bin/python benchmarks/features.py --rounds 1 --seconds 3 --no-write-docs

Five variants of the rendered default service, every one given a fresh event id per
request (a service that deduplicates must handle each):

* ``main (today)``: the runtime of the ``main`` branch (``git archive``), the same render;
* ``features off``: this tree's runtime, IDEMPOTENCY=none, TRACING off (the default);
* ``idempotency: memory``: every handler opted in, the per-pod store;
* ``tracing → local OTLP``: TRACING=true, spans exported over OTLP/HTTP to a receiver
  this script runs on 127.0.0.1 (it answers 200 to each export, as a collector would);
* ``tracing, 10 % sampled``: the same with OTEL_TRACES_SAMPLER=parentbased_traceidratio
  and OTEL_TRACES_SAMPLER_ARG=0.1 (the benchmark's events carry no traceparent);
* ``both``: idempotency and tracing (every event sampled) together.

Instructions per event come from callgrind (``instructions.py``'s driver, in-process, no
server): every thread counts, so the span exporter's own work is in the figure. Requests/s
come from wrk against uvicorn pinned to one core (``run.py``'s harness), the median of the
rounds, with the variants in a rotating order so drift hits each alike.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import instructions, report
from benchmarks import targets as targets_module
from benchmarks.loadgen import lua_script, run_wrk
from benchmarks.targets import (
    DOCS,
    MODES,
    PEERS_DIR,
    REPO_ROOT,
    WORK_DIR,
    Server,
    Target,
    compile_bytecode,
    event_type_of,
    read_answers,
)

BEGIN = "<!-- benchmarks/features.py: generated results begin -->"
END = "<!-- benchmarks/features.py: generated results end -->"
BASELINE = "main (today)"
OFF = "features off"


class _Collector(BaseHTTPRequestHandler):
    """Takes OTLP/HTTP exports and answers 200 with an empty ExportTraceServiceResponse."""

    exports = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        type(self).exports += 1
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def start_collector() -> tuple[ThreadingHTTPServer, str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def baseline_sources(ref: str) -> Path:
    """The ``knative_events`` package of ``ref``, unpacked under .work (``git archive``)."""
    dest = WORK_DIR / f"runtime-{ref.replace('/', '-')}"
    archive = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", ref, "packages/knative-events/src"],
        check=True,
        capture_output=True,
    ).stdout
    if dest.exists():
        subprocess.run(["rm", "-rf", str(dest)], check=True)
    dest.mkdir(parents=True)
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(dest, filter="data")
    source = dest / "packages" / "knative-events" / "src"
    compile_bytecode(source)
    return source


def variants(render: Path, baseline: Path, collector: str) -> list[Target]:
    package = read_answers(render)["package_name"]
    app = f"{package}.main:app"
    src = render.resolve() / "src"
    tracing = {
        "TRACING": "true",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector,
        "OTEL_SERVICE_NAME": "bench",
    }
    memory = {"BENCH_PACKAGE": package, "IDEMPOTENCY": "memory"}
    return [
        Target(BASELINE, app, (baseline, src)),
        Target(OFF, app, (src,), is_ours=True),
        Target("idempotency: memory", "ours_features:app", (PEERS_DIR, src), env=memory),
        Target("tracing → local OTLP", app, (src,), env=tracing),
        Target(
            "tracing, 10 % sampled",
            app,
            (src,),
            env={
                **tracing,
                "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                "OTEL_TRACES_SAMPLER_ARG": "0.1",
            },
        ),
        Target("both", "ours_features:app", (PEERS_DIR, src), env={**memory, **tracing}),
    ]


def count_instructions(target: Target, requests: dict[str, Path], count: int) -> dict[str, float]:
    unique = Target(
        target.name, target.app, target.pythonpath, env={**target.env, "BENCH_UNIQUE_IDS": "1"}
    )
    return {mode: instructions.per_event(unique, requests[mode], count) for mode in MODES}


def requests_per_second(
    targets: list[Target], event_type: str, rounds: int, seconds: float
) -> dict[str, dict[str, float]]:
    scripts = {mode: lua_script(mode, event_type) for mode in MODES}
    rates: dict[str, dict[str, list[float]]] = {}
    for round_no in range(rounds):
        shift = round_no % len(targets)
        for target in targets[shift:] + targets[:shift]:
            with Server(target) as server:
                server.wait_accepting(event_type)
                run_wrk(server.port, scripts[MODES[0]], seconds=1)
                for mode in MODES:
                    result = run_wrk(server.port, scripts[mode], seconds=seconds)
                    if result.non_2xx or result.socket_errors:
                        raise RuntimeError(f"{target.name} {mode}: failures under load {result}")
                    rates.setdefault(target.name, {}).setdefault(mode, []).append(result.rps)
                    print(f"round {round_no + 1} {target.name:24} {mode:10} {result.rps:8,.0f}/s")
    return {
        name: {mode: statistics.median(values) for mode, values in by_mode.items()}
        for name, by_mode in rates.items()
    }


def markdown(
    counts: dict[str, dict[str, float]],
    rates: dict[str, dict[str, float]],
    *,
    count: int,
    rounds: int,
    seconds: float,
    ref: str,
    exports: int,
) -> str:
    off_counts, off_rates = counts[OFF], rates[OFF]
    lines = [
        BEGIN,
        "",
        f"Instructions: callgrind, {count:,} events per variant and mode (a fresh id each), "
        f"`PYTHONHASHSEED=0`. Requests/s: wrk, 32 connections, median of {rounds} round(s) "
        f"of {seconds:g} s per mode, uvicorn pinned to one core. `{BASELINE}` is the runtime "
        f"of `{ref}` under the same render; the percentages compare each variant with "
        f"`{OFF}` (instructions: more is slower; requests/s: fewer is slower). The local "
        f"collector took {exports:,} OTLP exports during the run.",
        "",
        "| variant | binary instr/event | Δ | structured instr/event | Δ "
        "| binary req/s | Δ | structured req/s | Δ |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, by_mode in counts.items():
        cells = []
        for mode in MODES:
            value = by_mode[mode]
            cells += [f"{value:,.0f}", f"{(value / off_counts[mode] - 1) * 100:+.1f} %"]
        for mode in MODES:
            value = rates[name][mode]
            cells += [f"{value:,.0f}", f"{(1 - value / off_rates[mode]) * 100:+.1f} % slower"]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    lines += ["", END]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--render", type=Path, help="use this rendered service, do not render")
    parser.add_argument("--count", type=int, default=2000, help="callgrind events per run")
    parser.add_argument("--rounds", type=int, default=3, help="wrk rounds per variant")
    parser.add_argument("--seconds", type=float, default=5.0, help="wrk seconds per mode")
    parser.add_argument("--baseline", default="main", help="git ref of today's runtime")
    parser.add_argument("--write-docs", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    render = args.render or targets_module.render_default(WORK_DIR / "render-features")
    event_type = event_type_of(render)
    collector, collector_url = start_collector()
    try:
        targets = variants(render, baseline_sources(args.baseline), collector_url)
        requests = {mode: instructions.request_file(mode, event_type) for mode in MODES}
        counts: dict[str, dict[str, float]] = {}
        for target in targets:
            counts[target.name] = count_instructions(target, requests, args.count)
            figures = ", ".join(f"{m} {counts[target.name][m]:,.0f}" for m in MODES)
            print(f"{target.name:24} instructions/event: {figures}", flush=True)
        rates = requests_per_second(targets, event_type, args.rounds, args.seconds)
    finally:
        collector.shutdown()
    block = markdown(
        counts,
        rates,
        count=args.count,
        rounds=args.rounds,
        seconds=args.seconds,
        ref=args.baseline,
        exports=_Collector.exports,
    )
    print(block)
    if args.write_docs:
        report.write_docs(DOCS, block, begin=BEGIN, end=END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
