"""Render the template the way users do, from a committed snapshot of this working tree.

Copier renders a git template at a ref; uncommitted edits would be invisible with
``vcs_ref="HEAD"`` on the real repository. So the test session copies the working tree
(without build outputs) into a throw-away repository, commits it once, and every render
uses that snapshot. Renders are cached by their answers: many tests look at the same
rendering, and Copier is the slowest step of the suite.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import copier

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("KNATIVE_SHARED_DIR", REPO_ROOT.parent / "shared"))
#: The root of the pinned CRD sets of every Knative version (crds/ for 1.15, Argo CD and
#: Istio; crds-knative-1.23/ for 1.23): validate picks each render's own sets from it.
CRDS_DIR = Path(os.environ.get("KNATIVE_CRDS_ROOT", SHARED))

_IGNORED = shutil.ignore_patterns(
    ".git",
    ".venv",
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".hypothesis",
    "site",
    ".work",
)


def git(cwd: Path, *args: str) -> str:
    """Run git with a fixed identity so commits work on a bare CI machine."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "template-tests",
        "GIT_AUTHOR_EMAIL": "tests@example.com",
        "GIT_COMMITTER_NAME": "template-tests",
        "GIT_COMMITTER_EMAIL": "tests@example.com",
    }
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    return done.stdout


def snapshot_template(dest: Path, source: Path = REPO_ROOT, tag: str | None = None) -> Path:
    """Copy ``source`` into ``dest`` as a one-commit git repository (tagged if asked)."""
    shutil.copytree(source, dest, ignore=_IGNORED, dirs_exist_ok=True)
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "snapshot")
    if tag:
        git(dest, "tag", tag)
    return dest


def copy_template(template: Path, dst: Path, data: dict[str, Any]) -> None:
    """`copier copy --defaults --data ... -r HEAD` without --trust, as a new user runs it."""
    copier.run_copy(
        str(template),
        str(dst),
        data=data,
        defaults=True,
        vcs_ref="HEAD",
        quiet=True,
        unsafe=False,
    )


class Renderer:
    """Renders answer sets from one template snapshot, caching by answers."""

    def __init__(self, template: Path, workdir: Path) -> None:
        self.template = template
        self.workdir = workdir
        self._cache: dict[str, Path] = {}

    def render(self, data: dict[str, Any] | None = None, *, fresh: bool = False) -> Path:
        """Render with ``--defaults`` plus ``data``; ``fresh`` forces a new directory."""
        data = dict(data or {})
        key = json.dumps(data, sort_keys=True, default=str)
        if not fresh and key in self._cache:
            return self._cache[key]
        dst = Path(tempfile.mkdtemp(prefix="render-", dir=self.workdir))
        copy_template(self.template, dst, data)
        if not fresh:
            self._cache[key] = dst
        return dst
