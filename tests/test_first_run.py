"""The service's README commands, for real: uv resolves the pinned packages and make passes.

Every other test runs a rendered project in this suite's environment. This one does what a
new user does after `copier copy`: `uv lock`, then `make test validate`, with the real uv
and make, in the project's own virtual environment. It proves the rendered
``pyproject.toml`` declares everything the service needs, and that the package sources
(here: the local checkout the service was rendered from) resolve.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from renderer import Renderer

pytestmark = pytest.mark.slow


def test_a_fresh_render_locks_and_passes_make_test_validate(
    renderer: Renderer, tmp_path: Path
) -> None:
    project = tmp_path / "svc"
    shutil.copytree(renderer.render({}), project)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
    env |= {"UV_PYTHON": sys.executable, "UV_PYTHON_DOWNLOADS": "never", "PYTHONPATH": ""}
    locked = subprocess.run(
        ["uv", "lock", "--quiet"], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )
    assert locked.returncode == 0, locked.stderr
    done = subprocess.run(
        ["make", "--no-print-directory", "test", "validate"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-3000:]
    assert " passed" in done.stdout
    assert "environments: ok" in done.stdout
    # The service's own environment, not this suite's: the packages came from the checkout.
    venv = project / ".venv"
    assert (venv / "bin" / "knative-manifests").is_file()
