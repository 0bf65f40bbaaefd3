"""Each representative render passes its own toolchain: ruff, ruff format, mypy, pytest.

The rendered projects share this suite's environment (``sys.executable``: the template's
uv environment holds every package a rendered service installs, see the ``service``
dependency group), so no render needs its own ``uv sync``. Each render is copied first,
so the caches and bytecode the tools write never touch the session's cached renders.
Tool settings come from the rendered ``pyproject.toml``.

Speed: the rendered test suites are the slow part and spend much of their time waiting
(real uvicorn servers, SIGTERM drains), so all of them start together in the background
when the module begins, while ruff and mypy run one after the other in the foreground
(mypy shares one cache, so third-party modules are analysed once).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest
from renderer import Renderer
from sample_answers import TOOLCHAIN_SETS

# Slow by the suite's own definition; under pytest-xdist keep the module on one worker
# (--dist loadgroup), or every worker would start all the background suites.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("toolchain")]

#: Wall-clock limit of one ruff or mypy run.
TOOL_TIMEOUT = 240
#: Wall-clock limit of one rendered test suite (they run side by side).
PYTEST_TIMEOUT = 480


@dataclass
class Background:
    """A rendered project's pytest, started early and collected by ``test_pytest``."""

    process: subprocess.Popen[bytes]
    log: IO[bytes]
    log_path: Path
    started: float


@pytest.fixture(scope="module")
def tool_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Caches of the tools (mypy, Hypothesis) outside the projects."""
    return tmp_path_factory.mktemp("tool-cache")


def tool_env(cache: Path) -> dict[str, str]:
    """The caller's environment minus what would leak this suite's settings inward."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "COV_", "HYPOTHESIS_")) and key != "PYTHONPATH"
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(cache / "hypothesis")
    return env


@pytest.fixture(scope="module")
def projects(renderer: Renderer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A private copy of each representative render, by answer-set id."""
    copies: dict[str, Path] = {}
    for name, answers in TOOLCHAIN_SETS.items():
        copy = tmp_path_factory.mktemp(f"toolchain-{name}", numbered=False) / "service"
        shutil.copytree(renderer.render(answers), copy)
        copies[name] = copy
    return copies


@pytest.fixture(scope="module")
def pytest_runs(projects: dict[str, Path], tool_cache: Path) -> Iterator[dict[str, Background]]:
    """Start every project's ``pytest -q`` at once; stop any left running at the end."""
    runs: dict[str, Background] = {}
    for name, project in projects.items():
        log_path = project.parent / "pytest.log"
        log = log_path.open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
            cwd=project,
            env=tool_env(tool_cache / name),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        runs[name] = Background(process, log, log_path, time.perf_counter())
    yield runs
    for run in runs.values():
        if run.process.poll() is None:
            os.killpg(run.process.pid, 9)
            run.process.wait()
        run.log.close()


@pytest.fixture(params=list(TOOLCHAIN_SETS), ids=list(TOOLCHAIN_SETS))
def name(request: pytest.FixtureRequest, pytest_runs: dict[str, Background]) -> str:
    """The answer-set id; asking for it starts the background test suites first."""
    return str(request.param)


@pytest.fixture
def project(name: str, projects: dict[str, Path]) -> Path:
    return projects[name]


def run(project: Path, cache: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args],
        cwd=project,
        env=tool_env(cache),
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )
    return done, time.perf_counter() - started


def report(capsys: pytest.CaptureFixture[str], name: str, line: str) -> None:
    """Print a figure past the capture, so the run's output carries it."""
    with capsys.disabled():
        print(f"\n[toolchain] {name}: {line}")


def test_ruff_check(project: Path, tool_cache: Path) -> None:
    done, _ = run(project, tool_cache, "-m", "ruff", "check", "--no-cache", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format(project: Path, tool_cache: Path) -> None:
    done, _ = run(project, tool_cache, "-m", "ruff", "format", "--no-cache", "--check", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict(
    name: str, project: Path, tool_cache: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pyproject = (project / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r"^strict = true$", pyproject, flags=re.MULTILINE)
    done, seconds = run(project, tool_cache, "-m", "mypy", "--cache-dir", str(tool_cache / "mypy"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found" in done.stdout
    checked = re.search(r"in (\d+) source files?", done.stdout)
    files = checked.group(1) if checked else "?"
    report(capsys, name, f"mypy --strict {files} files in {seconds:.1f}s")


SUMMARY = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|warnings?)")


def pytest_counts(output: str) -> dict[str, int]:
    """The counts of pytest's last summary line (``12 passed, 1 warning in 3.2s``)."""
    lines = [line for line in output.strip().splitlines() if re.search(r" in [\d.]+s", line)]
    assert lines, f"no pytest summary line in:\n{output[-2000:]}"
    return {word.rstrip("s"): int(n) for n, word in SUMMARY.findall(lines[-1])}


def test_pytest_counts_parser() -> None:
    counts = pytest_counts("....\n3 failed, 120 passed, 2 skipped, 1 warning, 1 error in 4.2s\n")
    assert counts == {"failed": 3, "passed": 120, "skipped": 2, "warning": 1, "error": 1}
    with pytest.raises(AssertionError, match="no pytest summary line"):
        pytest_counts("collecting ...\n")


def test_pytest(
    name: str, pytest_runs: dict[str, Background], capsys: pytest.CaptureFixture[str]
) -> None:
    background = pytest_runs[name]
    remaining = PYTEST_TIMEOUT - (time.perf_counter() - background.started)
    try:
        returncode = background.process.wait(timeout=max(remaining, 1))
    except subprocess.TimeoutExpired:
        os.killpg(background.process.pid, 9)
        background.process.wait()
        pytest.fail(f"the rendered test suite ran longer than {PYTEST_TIMEOUT}s")
    seconds = time.perf_counter() - background.started
    background.log.flush()
    output = background.log_path.read_text(encoding="utf-8", errors="replace")
    counts = pytest_counts(output)
    own = re.findall(r" in ([\d.]+)s", output)
    own_seconds = own[-1] if own else "?"
    report(
        capsys,
        name,
        f"pytest {counts.get('passed', 0)} passed, {counts.get('failed', 0)} failed, "
        f"{counts.get('error', 0)} errors, {counts.get('skipped', 0)} skipped in "
        f"{own_seconds}s (side by side with the others; {seconds:.0f}s since the start)",
    )
    assert returncode == 0, output[-6000:]
    assert counts.get("passed", 0) > 0
    assert counts.get("skipped", 0) == 0, "rendered tests must not skip"
    assert not counts.get("failed")
    assert not counts.get("error")
