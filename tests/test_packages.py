"""Each package of the workspace passes its own checks: pytest, mypy --strict, ruff.

``packages/knative-events`` (the event runtime) and ``packages/knative-manifests`` (the
manifest tooling) each carry their own tests and tool settings in their own
``pyproject.toml``; they run here from the package's directory, in this suite's
environment (which holds both packages, editable, with every extra). Their test suites
start together in the background when the module begins, because they mostly wait (real
uvicorn servers, kustomize builds); ruff and mypy run in the foreground meanwhile.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from renderer import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("packages")]

PACKAGES = {
    "knative-events": "knative_events",
    "knative-manifests": "knative_manifests",
}
PYTEST_TIMEOUT = 600
TOOL_TIMEOUT = 300


def package_dir(name: str) -> Path:
    return REPO_ROOT / "packages" / name


def clean_env(tmp: Path) -> dict[str, str]:
    """This environment without the outer pytest's settings; caches outside the tree."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PYTEST_", "HYPOTHESIS_")) and key != "PYTHONPATH"
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env["HYPOTHESIS_STORAGE_DIRECTORY"] = str(tmp / "hypothesis")
    return env


@pytest.fixture(scope="module")
def suites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Any, Path]]]:
    """Every package's ``pytest -q``, started at once; killed if still running at the end."""
    runs: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
    for name in PACKAGES:
        tmp = tmp_path_factory.mktemp(f"suite-{name}")
        log = tmp / "pytest.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                cwd=package_dir(name),
                env=clean_env(tmp),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        runs[name] = (process, log)
    yield runs
    for process, _ in runs.values():
        if process.poll() is None:
            os.killpg(process.pid, 9)
            process.wait()


@pytest.fixture(params=list(PACKAGES))
def name(request: pytest.FixtureRequest, suites: dict[str, Any]) -> str:
    """The package; asking for it starts every package's test suite first."""
    return str(request.param)


def run(name: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=package_dir(name),
        env=clean_env(tmp),
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )


def test_package_metadata(name: str) -> None:
    """Typed, documented, versioned with the template, and in the changelog."""
    root = package_dir(name)
    meta = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    assert meta["project"]["name"] == name
    assert (root / "src" / PACKAGES[name] / "py.typed").is_file()
    assert len((root / "README.md").read_text(encoding="utf-8").splitlines()) > 20
    assert meta["tool"]["mypy"]["strict"] is True
    version = meta["project"]["version"]
    changelog = (REPO_ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    release = changelog.split(f"## [{version}]", 1)[1].split("\n## [", 1)[0]
    assert f"`{name}`" in release, f"CHANGELOG {version} has no entry for {name}"


def test_ruff(name: str, tmp_path: Path) -> None:
    for args in (("check", "--no-cache", "."), ("format", "--no-cache", "--check", ".")):
        done = run(name, tmp_path, "-m", "ruff", *args)
        assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict(name: str, tmp_path: Path) -> None:
    done = run(name, tmp_path, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found" in done.stdout


def test_pytest(name: str, suites: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    process, log = suites[name]
    started = time.monotonic()
    try:
        returncode = process.wait(timeout=PYTEST_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait()
        pytest.fail(f"{name}'s test suite ran longer than {PYTEST_TIMEOUT}s")
    output = log.read_text(encoding="utf-8", errors="replace")
    summary = [line for line in output.splitlines() if re.search(r" in [\d.]+s", line)]
    assert summary, output[-4000:]
    with capsys.disabled():
        waited = time.monotonic() - started
        print(f"\n[packages] {name}: {summary[-1].strip(' =')} (waited {waited:.0f}s)")
    assert returncode == 0, output[-6000:]
    assert re.search(r"\d+ passed", summary[-1])
    assert "skipped" not in summary[-1], "package tests must not skip"
