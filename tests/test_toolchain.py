"""Each representative render passes its own toolchain: ruff, ruff format, mypy, pytest.

The rendered projects share this suite's environment (``sys.executable``: the template's
uv environment holds every package a rendered service installs, see the ``service``
dependency group), so no render needs its own ``uv sync`` and the suite stays fast. Each
render is copied first, so the caches and bytecode the tools write never touch the
session's cached renders. Tool settings come from the rendered ``pyproject.toml``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from renderer import Renderer
from sample_answers import TOOLCHAIN_SETS

#: Per-tool wall-clock limit; the whole module is expected to take well under 3 minutes.
TIMEOUT = 240


@pytest.fixture(scope="module")
def tool_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for every render: third-party modules are checked once."""
    return tmp_path_factory.mktemp("tool-cache")


@pytest.fixture(scope="module", params=list(TOOLCHAIN_SETS), ids=list(TOOLCHAIN_SETS))
def project(
    request: pytest.FixtureRequest, renderer: Renderer, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A private copy of one representative render."""
    answers: dict[str, Any] = TOOLCHAIN_SETS[request.param]
    copy = tmp_path_factory.mktemp(f"toolchain-{request.param}", numbered=False) / "service"
    shutil.copytree(renderer.render(answers), copy)
    return copy


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


def run(project: Path, cache: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args],
        cwd=project,
        env=tool_env(cache),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    return done, time.perf_counter() - started


def report(capsys: pytest.CaptureFixture[str], project: Path, line: str) -> None:
    """Print a figure past the capture, so the run's output carries it."""
    with capsys.disabled():
        print(f"\n[toolchain] {project.parent.name.removeprefix('toolchain-')}: {line}")


def test_ruff_check(project: Path, tool_cache: Path) -> None:
    done, _ = run(project, tool_cache, "-m", "ruff", "check", "--no-cache", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format(project: Path, tool_cache: Path) -> None:
    done, _ = run(project, tool_cache, "-m", "ruff", "format", "--no-cache", "--check", ".")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict(project: Path, tool_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pyproject = (project / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r"^strict = true$", pyproject, flags=re.MULTILINE)
    done, seconds = run(project, tool_cache, "-m", "mypy", "--cache-dir", str(tool_cache / "mypy"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found" in done.stdout
    checked = re.search(r"in (\d+) source files?", done.stdout)
    report(
        capsys,
        project,
        f"mypy --strict {checked.group(1) if checked else '?'} files in {seconds:.1f}s",
    )


SUMMARY = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|warnings?)")


def pytest_counts(output: str) -> dict[str, int]:
    """The counts of pytest's last summary line (``12 passed, 1 warning in 3.2s``)."""
    lines = [line for line in output.strip().splitlines() if re.search(r" in [\d.]+s", line)]
    assert lines, f"no pytest summary line in:\n{output[-2000:]}"
    counts = {word.rstrip("s"): int(n) for n, word in SUMMARY.findall(lines[-1])}
    if "error" in counts:
        counts["error"] = counts.pop("error")
    return counts


def test_pytest_counts_parser() -> None:
    counts = pytest_counts("....\n3 failed, 120 passed, 2 skipped, 1 warning, 1 error in 4.2s\n")
    assert counts == {"failed": 3, "passed": 120, "skipped": 2, "warning": 1, "error": 1}


def test_pytest(project: Path, tool_cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    done, seconds = run(project, tool_cache, "-m", "pytest", "-q", "-p", "no:cacheprovider")
    output = done.stdout + done.stderr
    counts = pytest_counts(done.stdout)
    report(
        capsys,
        project,
        f"pytest {counts.get('passed', 0)} passed, {counts.get('failed', 0)} failed, "
        f"{counts.get('error', 0)} errors, {counts.get('skipped', 0)} skipped in {seconds:.1f}s",
    )
    assert done.returncode == 0, output[-6000:]
    assert counts.get("passed", 0) > 0
    assert counts.get("skipped", 0) == 0, "rendered tests must not skip"
    assert not counts.get("failed") and not counts.get("error")
