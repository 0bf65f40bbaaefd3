"""CPU instructions per event spent by each app itself, counted by callgrind.

    .venv/bin/python benchmarks/instructions.py   # renders, counts, writes docs/performance.md
    .venv/bin/python benchmarks/instructions.py --render benchmarks/.work/render --no-write-docs

requests/s on a shared machine moves by 10-20 % from run to run. An instruction count
barely does: callgrind gives the same figure for the same code and input, within about
0.3 % (object addresses differ between runs), whatever else the machine is doing. Each
app (ours and the peers of ``run.py``) is driven in-process by ``peers/drive.py`` with
the benchmark's exact request, with no server and no sockets, so the count is the app's
own work per event (parsing, checks, dispatch) and leaves out what uvicorn costs every
app alike. It answers "how much does each app do per event", not "how many requests/s":
instructions are not time (cache misses and branch mispredictions are not counted), and
the server's share would shrink every ratio towards 1.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import report
from benchmarks import targets as targets_module
from benchmarks.targets import (
    DOCS,
    MODES,
    PEERS_DIR,
    PYTHON,
    WORK_DIR,
    Target,
    binary_request,
    event_data,
    event_type_of,
    server_env,
    structured_request,
)

BEGIN = "<!-- benchmarks/instructions.py: generated results begin -->"
END = "<!-- benchmarks/instructions.py: generated results end -->"
_COLLECTED = re.compile(r"Collected : (\d+)")
CALLGRIND = ("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null")


def request_file(mode: str, event_type: str) -> Path:
    """The request every app gets, as a server would pass it (lowercase names, Host first)."""
    data = event_data(1024)
    if mode == "binary":
        headers, body = binary_request(event_type, data, event_id="4f1e7c9a-0001")
    else:
        headers, body = structured_request(event_type, data, event_id="4f1e7c9a-0001")
    pairs = [("host", "127.0.0.1:8000"), *headers.items(), ("content-length", str(len(body)))]
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    path = WORK_DIR / f"drive-{mode}.json"
    path.write_text(json.dumps({"headers": pairs, "body": body.decode()}))
    return path


def in_process_targets(render: Path) -> list[Target]:
    """Ours (first: ``main`` reads it from there), then the peers the driver can run in-process."""
    return [
        targets_module.our_target(render),
        *(t for t in targets_module.peer_targets() if not t.as_shipped),
    ]


def drive(
    target: Target, request: Path, count: int, *, wrapper: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """Run ``peers/drive.py`` on ``target`` for ``count`` measured events, under ``wrapper``."""
    driver = [str(PYTHON), str(PEERS_DIR / "drive.py"), target.app, str(request), str(count)]
    env = server_env(target)
    env["PYTHONHASHSEED"] = "0"  # same string hashes every run; only addresses vary (~0.3 %)
    return subprocess.run([*wrapper, *driver], env=env, capture_output=True, text=True, check=False)


def instructions(target: Target, request: Path, count: int) -> int:
    """Instructions callgrind counts for a whole driver run of ``count`` measured events."""
    done = drive(target, request, count, wrapper=CALLGRIND)
    found = _COLLECTED.search(done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"{target.name}: the driver failed:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def per_event(target: Target, request: Path, count: int) -> float:
    """Instructions per event: two runs that differ only in the number of measured events."""
    return (instructions(target, request, count) - instructions(target, request, 0)) / count


def markdown(
    rows: dict[str, dict[str, float]],
    ours: str,
    count: int,
    stages: dict[str, dict[str, float]],
) -> str:
    lines = [
        BEGIN,
        "",
        f"callgrind, {count:,} events per app and mode after 1,000 warm-up events, "
        "`PYTHONHASHSEED=0`; in-process, no server (see `benchmarks/instructions.py`).",
        "",
        "| app | binary instructions/event | ours vs it | structured instructions/event "
        "| ours vs it |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for name, counts in rows.items():
        cells = []
        for mode in MODES:
            value = counts[mode]
            ratio = value / rows[ours][mode]
            cells += [f"{value:,.0f}", f"{ratio:.2f}x"]
        label = f"**{name}**" if name == ours else name
        lines.append(f"| {label} | {' | '.join(cells)} |")
    lines += [
        "",
        "Ours cut short at each stage of its event path (`peers/ours_stages.py`), same driver:",
        "",
        "| stage | binary instructions/event | structured instructions/event |",
        "| --- | ---: | ---: |",
    ]
    for name, counts in {**stages, ours: rows[ours]}.items():
        cells = [f"{counts[mode]:,.0f}" for mode in MODES]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    lines += ["", END]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--render", type=Path, help="use this rendered service, do not render")
    parser.add_argument("--count", type=int, default=2000, help="measured events per run")
    parser.add_argument("--write-docs", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not installed (Debian package valgrind)")
    render = args.render or targets_module.render_default()
    apps = in_process_targets(render)
    ours = apps[0]
    event_type = event_type_of(render)
    requests = {mode: request_file(mode, event_type) for mode in MODES}
    rows: dict[str, dict[str, float]] = {}
    stages: dict[str, dict[str, float]] = {}
    for target in [*apps, *targets_module.stage_targets(render)]:
        table = stages if target.is_stage else rows
        table[target.name] = {mode: per_event(target, requests[mode], args.count) for mode in MODES}
        figures = ", ".join(f"{mode} {table[target.name][mode]:,.0f}" for mode in MODES)
        print(f"{target.name:28s} instructions/event: {figures}", flush=True)
    block = markdown(rows, ours.name, args.count, stages)
    print(block)
    if args.write_docs:
        report.write_docs(DOCS, block, begin=BEGIN, end=END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
