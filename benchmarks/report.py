"""Turn a results dict into the tables, the ratios and the verdict on each target.

``docs/performance.md`` keeps hand-written sections; the generated part sits between two
marker comments and is the only part a run replaces.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

BEGIN = "<!-- benchmarks/run.py: generated results begin -->"
END = "<!-- benchmarks/run.py: generated results end -->"

# The targets, in one place.
RPS_VS_BEST_PEER = 1.5
RPS_VS_RAW = 0.5
RSS_GROWTH_MAX = 1.10
RSS_VS_FUNC_PYTHON_MAX = 1.2
FUNC_PYTHON = "func-python"


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarize(results: dict[str, Any]) -> dict[str, Any]:
    """Medians per target and mode, the best peer, and each target's ratio and verdict."""
    kinds = results["kinds"]  # name -> "ours" | "peer" | "raw"
    ours = next(name for name, kind in kinds.items() if kind == "ours")
    raw = next((name for name, kind in kinds.items() if kind == "raw"), None)
    peers = [name for name, kind in kinds.items() if kind == "peer"]
    out: dict[str, Any] = {"ours": ours, "raw": raw, "peers": peers, "modes": {}, "checks": []}
    for mode in results["modes"]:
        table = {}
        for name in kinds:
            runs = results["throughput"].get(name, {}).get(mode, [])
            table[name] = {
                "rps": median([r["rps"] for r in runs]),
                "p50_ms": median([r["p50_ms"] for r in runs]),
                "p99_ms": median([r["p99_ms"] for r in runs]),
                "cpu_us": median([r.get("cpu_us_per_request", float("nan")) for r in runs]),
                "rss_mib": median([r.get("rss_mib", float("nan")) for r in runs]),
                "non_2xx": sum(r["non_2xx"] for r in runs),
                "socket_errors": sum(r["socket_errors"] for r in runs),
                "rounds": len(runs),
            }
        best = max(peers, key=lambda name: table[name]["rps"])
        mine = table[ours]
        ratio_best = mine["rps"] / table[best]["rps"]
        out["modes"][mode] = {"table": table, "best_peer": best}
        out["checks"].append(
            (
                f"{mode}: requests/s >= {RPS_VS_BEST_PEER}x best peer ({best})",
                f"{ratio_best:.2f}x ({mine['rps']:.0f} vs {table[best]['rps']:.0f})",
                ratio_best >= RPS_VS_BEST_PEER,
            )
        )
        out["checks"].append(
            (
                f"{mode}: p99 no worse than {best}",
                f"{mine['p99_ms']:.2f} ms vs {table[best]['p99_ms']:.2f} ms",
                mine["p99_ms"] <= table[best]["p99_ms"],
            )
        )
        if raw is not None:
            ratio_raw = mine["rps"] / table[raw]["rps"]
            out["checks"].append(
                (
                    f"{mode}: requests/s >= {RPS_VS_RAW}x raw ASGI",
                    f"{ratio_raw:.2f}x ({mine['rps']:.0f} vs {table[raw]['rps']:.0f})",
                    ratio_raw >= RPS_VS_RAW,
                )
            )
        # The same two ratios per server CPU-second: what requests/s would be if each
        # server had its core to itself (steadier on a shared machine).
        by_cpu = table[best]["cpu_us"] / mine["cpu_us"] if mine["cpu_us"] else 0.0
        out["checks"].append(
            (
                f"{mode}: per server CPU-second >= {RPS_VS_BEST_PEER}x best peer ({best})",
                f"{by_cpu:.2f}x ({table[best]['cpu_us']:.1f} vs {mine['cpu_us']:.1f} µs/request)",
                by_cpu >= RPS_VS_BEST_PEER,
            )
        )
        if raw is not None:
            raw_by_cpu = table[raw]["cpu_us"] / mine["cpu_us"] if mine["cpu_us"] else 0.0
            out["checks"].append(
                (
                    f"{mode}: per server CPU-second >= {RPS_VS_RAW}x raw ASGI",
                    f"{raw_by_cpu:.2f}x ({table[raw]['cpu_us']:.1f} vs {mine['cpu_us']:.1f} "
                    "µs/request)",
                    raw_by_cpu >= RPS_VS_RAW,
                )
            )
        for name in (n for n, kind in kinds.items() if kind == "shipped"):
            ratio = mine["rps"] / table[name]["rps"] if table[name]["rps"] else float("nan")
            out["checks"].append(
                (
                    f"{mode}: (info) requests/s vs {name}",
                    f"{ratio:.2f}x ({mine['rps']:.0f} vs {table[name]['rps']:.0f})",
                    None,
                )
            )
        for name in [n for n in kinds if table[n]["non_2xx"] or table[n]["socket_errors"]]:
            out["checks"].append(
                (
                    f"{mode}: {name} non-2xx / socket errors",
                    f"{table[name]['non_2xx']} / {table[name]['socket_errors']}",
                    False,
                )
            )
    cold = {name: median(values) for name, values in results.get("cold_start", {}).items()}
    out["cold"] = cold
    if cold.get(ours) is not None and any(p in cold for p in peers):
        fastest = min((p for p in peers if p in cold), key=lambda p: cold[p])
        out["checks"].append(
            (
                f"cold start no slower than the fastest peer ({fastest})",
                f"{cold[ours] * 1000:.0f} ms vs {cold[fastest] * 1000:.0f} ms",
                cold[ours] <= cold[fastest],
            )
        )
    memory = results.get("memory", {})
    if ours in memory:
        mine_mem = memory[ours]
        growth = mine_mem["rss_second_mib"] / mine_mem["rss_first_mib"]
        out["checks"].append(
            (
                f"RSS after {mine_mem['second_events']:,} events within 10% of after "
                f"{mine_mem['first_events']:,}",
                f"{growth:.3f}x ({mine_mem['rss_first_mib']:.1f} -> "
                f"{mine_mem['rss_second_mib']:.1f} MiB)",
                growth <= RSS_GROWTH_MAX,
            )
        )
        if FUNC_PYTHON in memory:
            theirs = memory[FUNC_PYTHON]["rss_second_mib"]
            ratio = mine_mem["rss_second_mib"] / theirs
            out["checks"].append(
                (
                    f"RSS <= {RSS_VS_FUNC_PYTHON_MAX}x func-python's",
                    f"{ratio:.2f}x ({mine_mem['rss_second_mib']:.1f} vs {theirs:.1f} MiB)",
                    ratio <= RSS_VS_FUNC_PYTHON_MAX,
                )
            )
    return out


def markdown(results: dict[str, Any]) -> str:
    """The generated block of docs/performance.md."""
    summary = summarize(results)
    ours = summary["ours"]
    kinds = results["kinds"]
    lines = [
        BEGIN,
        "",
        f"Run: {results['date']} · machine: {results['machine']} · "
        f"{results['rounds']} interleaved rounds of {results['seconds']:g} s per target and mode, "
        f"medians shown · wrk, 1 thread, {results['connections']} connections, "
        f"{results['data_bytes']} B JSON data.",
        "",
        "Reproduce from the template repository root:",
        "",
        "```sh",
        results["command"],
        "```",
        "",
    ]
    for mode, block in summary["modes"].items():
        table = block["table"]
        lines += [
            f"### {mode.capitalize()} mode",
            "",
            "| target | requests/s | ours vs it | p50 ms | p99 ms | non-2xx | socket errors "
            "| server CPU µs/request | ours vs it, by CPU | RSS after load MiB |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name in (n for n, kind in kinds.items() if kind != "stage"):
            row = table[name]
            versus = table[ours]["rps"] / row["rps"] if row["rps"] else float("nan")
            by_cpu = row["cpu_us"] / table[ours]["cpu_us"] if table[ours]["cpu_us"] else 0.0
            label = f"**{name}**" if name == ours else name
            lines.append(
                f"| {label} | {row['rps']:,.0f} | {versus:.2f}x | {row['p50_ms']:.2f} | "
                f"{row['p99_ms']:.2f} | {row['non_2xx']} | {row['socket_errors']} | "
                f"{row['cpu_us']:.1f} | {by_cpu:.2f}x | {row['rss_mib']:.1f} |"
            )
        lines += ["", f"Best peer in {mode} mode: {block['best_peer']}.", ""]
    lines += stage_breakdown(results, summary)
    lines += [
        "### Correctness probes (before any load)",
        "",
        "| target | valid binary | valid structured | binary without id | "
        "structured without id | finding |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for name, probe in results["probes"].items():
        s = probe["statuses"]
        finding = "; ".join(probe["findings"]) or "rejects a missing id"
        if kinds[name] == "raw":
            finding = "does not parse (upper bound only)"
        lines.append(
            f"| {name} | {s['valid binary']} | {s['valid structured']} | "
            f"{s['binary without id']} | {s['structured without id']} | {finding} |"
        )
    lines.append("")
    if summary["cold"]:
        lines += [
            f"### Cold start (spawn to first accepted event, median of {results['cold_repeats']})",
            "",
            "| target | median ms | min ms | max ms |",
            "| --- | ---: | ---: | ---: |",
        ]
        for name, values in results["cold_start"].items():
            lines.append(
                f"| {name} | {median(values) * 1000:.0f} | {min(values) * 1000:.0f} | "
                f"{max(values) * 1000:.0f} |"
            )
        lines.append("")
    if results.get("memory"):
        first = next(iter(results["memory"].values()))
        lines += [
            "### Memory (RSS of the server process, binary events)",
            "",
            f"| target | after {first['first_events']:,} MiB | after "
            f"{first['second_events']:,} MiB | growth |",
            "| --- | ---: | ---: | ---: |",
        ]
        for name, mem in results["memory"].items():
            growth = mem["rss_second_mib"] / mem["rss_first_mib"]
            lines.append(
                f"| {name} | {mem['rss_first_mib']:.1f} | {mem['rss_second_mib']:.1f} | "
                f"{growth:.3f}x |"
            )
        lines.append("")
    lines += ["### Targets", "", "| target | measured | met |", "| --- | --- | :---: |"]
    for label, measured, met in summary["checks"]:
        verdict = "info" if met is None else "yes" if met else "**no**"
        lines.append(f"| {label} | {measured} | {verdict} |")
    lines.append("")
    if results.get("imports"):
        imports = results["imports"]
        lines += [
            f"### Import time of `{imports['module']}` "
            f"({imports['total_ms']:.0f} ms, bytecode cached)",
            "",
            '`python -X importtime -c "import ' + imports["module"] + '"`, costliest '
            "entries by cumulative time (indent = nesting):",
            "",
            "| module | self ms | cumulative ms |",
            "| --- | ---: | ---: |",
        ]
        for entry in imports["top"]:
            name = entry["module"].replace(" ", "\u00a0")
            lines.append(
                f"| `{name}` | {entry['self_us'] / 1000:.1f} | "
                f"{entry['cumulative_us'] / 1000:.1f} |"
            )
        totals = imports.get("targets", {})
        if totals:
            lines += [
                "",
                "Import of each target's app module (ms): "
                + ", ".join(f"{name} {ms:.0f}" for name, ms in totals.items())
                + ".",
            ]
        lines.append("")
    lines.append(END)
    return "\n".join(lines)


def stage_breakdown(results: dict[str, Any], summary: dict[str, Any]) -> list[str]:
    """Where ours spends its server CPU per event, stage by stage, against the 1.5x budget."""
    kinds = results["kinds"]
    stages = [name for name, kind in kinds.items() if kind == "stage"]
    raw, ours = summary["raw"], summary["ours"]
    if not stages or raw is None:
        return []
    steps = [
        (raw, "uvicorn and a bare ASGI app (raw ASGI row)"),
        *((name, results.get("stage_notes", {}).get(name, "")) for name in stages),
        (ours, "the handler call, deadline, concurrency limit, metrics, log context"),
    ]
    modes = list(summary["modes"])
    lines = [
        "### Where ours spends its CPU (server CPU µs per event, by stage)",
        "",
        "| stage | adds | " + " | ".join(f"{mode} µs | {mode} step µs" for mode in modes) + " |",
        "| --- | --- | " + " | ".join("---: | ---:" for _ in modes) + " |",
    ]
    previous: dict[str, float] = {}
    for name, note in steps:
        cells = []
        for mode in modes:
            value = summary["modes"][mode]["table"][name]["cpu_us"]
            step = value - previous[mode] if mode in previous else value
            previous[mode] = value
            cells.append(f"{value:.1f} | {step:+.1f}")
        lines.append(f"| {name} | {note} | " + " | ".join(cells) + " |")
    budgets = []
    for mode in modes:
        block = summary["modes"][mode]
        best = block["table"][block["best_peer"]]["cpu_us"]
        budget = best / RPS_VS_BEST_PEER
        budgets.append(
            f"{mode}: {best:.1f} / {RPS_VS_BEST_PEER} = {budget:.1f} µs, "
            f"{budget - block['table'][raw]['cpu_us']:.1f} µs above the raw ASGI app"
        )
    lines += [
        "",
        f"Budget per event for {RPS_VS_BEST_PEER}x the best peer per server CPU-second: "
        + "; ".join(budgets)
        + ".",
        "",
    ]
    return lines


def write_docs(
    path: Path, block: str, skeleton: str = "", *, begin: str = BEGIN, end: str = END
) -> None:
    """Replace the block between ``begin`` and ``end`` in ``path``, or append it.

    ``path`` is created from ``skeleton`` if missing. The markers default to this
    module's; ``instructions.py`` passes its own for its table on the same page.
    """
    text = path.read_text() if path.exists() else skeleton
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def console(results: dict[str, Any]) -> str:
    """A compact plain-text summary for the terminal."""
    summary = summarize(results)
    out = []
    for mode, block in summary["modes"].items():
        out.append(f"{mode}:")
        for name, row in block["table"].items():
            out.append(
                f"  {name:28} {row['rps']:9,.0f} req/s  p50 {row['p50_ms']:6.2f} ms  "
                f"p99 {row['p99_ms']:6.2f} ms  non-2xx {row['non_2xx']}  "
                f"sockerr {row['socket_errors']}  {row['cpu_us']:5.1f} CPU-us/req"
            )
    for name, value in summary["cold"].items():
        out.append(f"cold start {name:28} {value * 1000:6.0f} ms")
    for name, mem in results.get("memory", {}).items():
        out.append(f"RSS {name:28} {mem['rss_first_mib']:6.1f} -> {mem['rss_second_mib']:6.1f} MiB")
    out.append("targets:")
    for label, measured, met in summary["checks"]:
        verdict = "info" if met is None else "ok" if met else "MISS"
        out.append(f"  [{verdict}] {label}: {measured}")
    return "\n".join(out)
