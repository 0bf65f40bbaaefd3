"""Benchmark the rendered service's event path against the peers.

    .venv/bin/python benchmarks/run.py            # full run (~8 min), writes docs/performance.md
    .venv/bin/python benchmarks/run.py --quick    # smoke: 1 round of 3 s, fewer repeats

It renders ``copier copy --defaults`` of this working tree into ``benchmarks/.work/``,
proves every target accepts a valid event (and records which accept one without ``id``),
then measures throughput and latency with wrk in interleaved rounds, cold start, memory
after 10k and 100k events, and the import-time profile of the rendered app.
Servers run on core 0, wrk on core 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import measure, report
from benchmarks import targets as targets_module
from benchmarks.loadgen import lua_script, run_wrk
from benchmarks.targets import (
    DOCS,
    MODES,
    REPO_ROOT,
    WORK_DIR,
    Server,
    Target,
    baseline_target,
    event_type_of,
    our_target,
    peer_targets,
    probe,
    probe_verdict,
    render_default,
    stage_targets,
)

SKELETON = """# Performance

How fast the rendered service's event path is next to what Knative users would
otherwise run, measured in one run on one machine. See the end of this page for how the
event path is built and why.

## Event path against the peers

"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 3 s, few repeats")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3)")
    parser.add_argument("--seconds", type=float, help="wrk duration per run (default 8)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--cold-repeats", type=int, help="cold starts per target (default 10)")
    parser.add_argument(
        "--memory-events",
        type=int,
        nargs=2,
        metavar=("FIRST", "SECOND"),
        help="event counts for the RSS readings (default 10000 100000)",
    )
    parser.add_argument(
        "--targets", nargs="*", default=None, help="only these targets (names as in the table)"
    )
    parser.add_argument(
        "--memory-all", action="store_true", help="RSS growth of every target, not only ours"
    )
    parser.add_argument(
        "--nice",
        type=int,
        default=0,
        help="nice value for servers and wrk (e.g. -10 on a shared machine; needs root)",
    )
    parser.add_argument(
        "--committed", action="store_true", help="render the last commit, not the working tree"
    )
    parser.add_argument("--render", type=Path, help="use this rendered service, do not render")
    parser.add_argument(
        "--baseline",
        metavar="REF",
        help="also serve the default render of this earlier commit or tag (before/after)",
    )
    parser.add_argument(
        "--only",
        nargs="*",
        default=None,
        help="phases to run: throughput stages cold memory imports",
    )
    parser.add_argument(
        "--write-docs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="update docs/performance.md (default: yes unless --quick)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    args.rounds = args.rounds or (1 if quick else 3)
    args.seconds = args.seconds or (3.0 if quick else 8.0)
    args.cold_repeats = args.cold_repeats or (3 if quick else 10)
    args.memory_events = args.memory_events or ((2_000, 10_000) if quick else (10_000, 100_000))
    if args.write_docs is None:
        args.write_docs = not quick
    return args


def kind_of(target: Target) -> str:
    """How the report treats a target: ours, a peer, the raw upper bound, or info only."""
    if target.is_ours:
        return "ours"
    if target.is_upper_bound:
        return "raw"
    if target.is_stage:
        return "stage"
    return "shipped" if target.as_shipped or target.is_baseline else "peer"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def throughput_round(
    targets: list[Target],
    event_type: str,
    args: argparse.Namespace,
    round_no: int,
    results: dict[str, Any],
) -> None:
    """Every target once: start it, warm it up, run each mode, stop it."""
    shift = round_no % len(targets)
    order = targets[shift:] + targets[:shift]
    modes = MODES if round_no % 2 == 0 else tuple(reversed(MODES))
    scripts = {mode: lua_script(mode, event_type) for mode in MODES}
    for target in order:
        with Server(target) as server:
            server.wait_accepting(event_type)
            run_wrk(server.port, scripts[modes[0]], seconds=1, connections=args.connections)
            for mode in modes:
                cpu_before = measure.cpu_seconds(server.pid)
                result = run_wrk(
                    server.port,
                    scripts[mode],
                    seconds=args.seconds,
                    connections=args.connections,
                )
                cpu = measure.cpu_seconds(server.pid) - cpu_before
                row = {
                    **asdict(result),
                    "rss_mib": measure.rss_mib(server.pid),
                    "rps": result.rps,
                    "cpu_us_per_request": cpu / result.requests * 1e6 if result.requests else 0,
                }
                results["throughput"].setdefault(target.name, {}).setdefault(mode, []).append(row)
                log(
                    f"round {round_no + 1} {target.name:28} {mode:10} {result.rps:9,.0f} req/s "
                    f"p99 {result.p99_ms:.2f} ms non-2xx {result.non_2xx} "
                    f"{row['cpu_us_per_request']:.1f} CPU-us/req"
                )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    targets_module.NICE = args.nice
    phases = set(args.only or ["throughput", "stages", "cold", "memory", "imports"])
    started = time.perf_counter()
    if args.render:
        render = args.render.resolve()
    else:
        log("rendering the default service into benchmarks/.work/render")
        render = render_default(committed=args.committed)
    targets_module.compile_bytecode(
        render / "src",
        *targets_module.PACKAGE_SOURCES,
        targets_module.PEERS_DIR,
        targets_module.site_packages(),
    )
    event_type = event_type_of(render)
    ours = our_target(render)
    targets = [ours, *peer_targets()]
    if args.baseline:
        log(f"rendering the default service at {args.baseline} into benchmarks/.work/baseline")
        baseline = render_default(WORK_DIR / "baseline", committed=True, vcs_ref=args.baseline)
        targets.insert(1, baseline_target(baseline, args.baseline))
    if args.targets:
        unknown = set(args.targets) - {t.name for t in targets}
        if unknown:
            raise SystemExit(
                f"unknown targets {sorted(unknown)}; known: {[t.name for t in targets]}"
            )
        targets = [t for t in targets if t.is_ours or t.name in args.targets]
    # The stage variants of ours only join the throughput rounds (the CPU breakdown).
    stages = stage_targets(render) if {"throughput", "stages"} <= phases else []
    kinds = {t.name: kind_of(t) for t in [*targets, *stages]}
    command = "uv sync && .venv/bin/python benchmarks/run.py" + (
        " " + shlex.join(argv if argv is not None else sys.argv[1:])
        if (argv if argv is not None else sys.argv[1:])
        else ""
    )
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": (
            f"{measure.machine_note()}, load average {os.getloadavg()[0]:.1f} at the start"
            f"{f', servers and wrk at nice {args.nice}' if args.nice else ''}; shared with "
            "other jobs, so absolute numbers are noisy: compare within a run"
        ),
        "command": command,
        "rounds": args.rounds,
        "seconds": args.seconds,
        "connections": args.connections,
        "data_bytes": 1024,
        "cold_repeats": args.cold_repeats,
        "modes": list(MODES),
        "kinds": kinds,
        "event_type": event_type,
        "stage_notes": {t.name: t.note for t in stages},
        "probes": {},
        "throughput": {},
        "cold_start": {},
        "memory": {},
    }

    log(f"probing {len(targets)} targets with {event_type}")
    for target in targets:
        with Server(target) as server:
            server.wait_accepting(event_type)
            statuses = probe(server.port, event_type)
        accepts, findings = probe_verdict(statuses)
        results["probes"][target.name] = {"statuses": statuses, "findings": findings}
        log(f"  {target.name:28} {statuses} {'; '.join(findings)}")
        if not accepts:
            raise SystemExit(f"{target.name} does not accept a valid event: {statuses}")

    if "throughput" in phases:
        for round_no in range(args.rounds):
            throughput_round([*targets, *stages], event_type, args, round_no, results)

    if "cold" in phases:
        log(f"cold start, {args.cold_repeats} interleaved repeats")
        for _ in range(args.cold_repeats):
            for target in targets:
                seconds = measure.cold_start(target, event_type)
                results["cold_start"].setdefault(target.name, []).append(seconds)

    if "memory" in phases:
        first, second = args.memory_events
        # The growth check needs 100k events per target; at peer speeds that is minutes
        # each, so by default only ours and func-python (the RSS target's reference) run it.
        # Every target's RSS after its throughput runs is in the throughput table anyway.
        memory_targets = (
            targets
            if args.memory_all
            else [t for t in targets if t.is_ours or t.name == report.FUNC_PYTHON]
        )
        for target in memory_targets:
            mem = measure.memory(target, event_type, first=first, second=second)
            results["memory"][target.name] = {
                "first_events": mem.first_events,
                "second_events": mem.second_events,
                "rss_first_mib": mem.rss_first_mib,
                "rss_second_mib": mem.rss_second_mib,
            }
            log(f"memory {target.name:28} {mem.rss_first_mib:.1f} -> {mem.rss_second_mib:.1f} MiB")

    if "imports" in phases:
        total, entries = measure.import_profile(ours)
        totals = {t.name: measure.import_profile(t)[0] * 1000 for t in targets}
        results["imports"] = {
            "module": ours.app.split(":", 1)[0],
            "total_ms": total * 1000,
            "top": [asdict(e) for e in measure.costliest_imports(entries)],
            "targets": totals,
        }

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    (WORK_DIR / "results.json").write_text(json.dumps(results, indent=2))
    if "throughput" in phases:
        print(report.console(results))
        if args.write_docs:
            report.write_docs(DOCS, report.markdown(results), SKELETON)
            log(f"wrote {DOCS.relative_to(REPO_ROOT)}")
    log(f"done in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
