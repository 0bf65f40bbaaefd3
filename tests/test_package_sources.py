"""Where a rendered service gets knative-events and knative-manifests, and how it updates.

From a git URL the service pins the template's repository at the rendered commit, with
``subdirectory=`` per package, and uv resolves exactly that; from a local checkout it
points at the checkout, recorded as an absolute path so `copier update` works from the
service (a relative one used to fail with "Local template must be a directory").
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from renderer import git
from update_helpers import commit_all, run_cli

PACKAGES = ("knative-events", "knative-manifests")


def pyproject(root: Path) -> dict[str, Any]:
    return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))


def test_a_relative_checkout_is_recorded_absolute_and_updates(
    template_snapshot: Path, tmp_path: Path
) -> None:
    """The README's local form, `copier copy ./copier-knative-fastapi orders`, then update."""
    checkout = tmp_path / "copier-knative-fastapi"
    git(tmp_path, "clone", "-q", str(template_snapshot), checkout.name)
    done = run_cli(
        "copy", "--defaults", "--vcs-ref", "HEAD", f"./{checkout.name}", "orders", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    service = tmp_path / "orders"
    answers = yaml.safe_load((service / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["_src_path"] == str(checkout.resolve())
    sources = pyproject(service)["tool"]["uv"]["sources"]
    for name in PACKAGES:
        assert sources[name] == {"path": str(checkout.resolve() / "packages" / name)}
    assert "apt-get install" not in (service / "Dockerfile").read_text(encoding="utf-8")
    git(service, "init", "-q", "-b", "main")
    commit_all(service, "start")
    updated = run_cli("update", "--defaults", "--vcs-ref", "HEAD", cwd=service)
    assert updated.returncode == 0, updated.stdout + updated.stderr


@pytest.mark.slow
def test_a_git_render_pins_the_rendered_commit_and_uv_resolves_it(
    template_snapshot: Path, tmp_path: Path
) -> None:
    url = template_snapshot.resolve().as_uri()  # file:///...: cloned like any git URL
    done = run_cli("copy", "--defaults", "--vcs-ref", "HEAD", f"git+{url}", "svc", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    service = tmp_path / "svc"
    commit = git(template_snapshot, "rev-parse", "HEAD").strip()
    sources = pyproject(service)["tool"]["uv"]["sources"]
    for name in PACKAGES:
        assert sources[name] == {"git": url, "subdirectory": f"packages/{name}", "rev": commit}
    assert "apt-get install -y -qq --no-install-recommends git" in (
        service / "Dockerfile"
    ).read_text(encoding="utf-8")
    # uv clones the repository at that commit and builds each package from its subdirectory.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))}
    env |= {"UV_PYTHON": sys.executable, "UV_PYTHON_DOWNLOADS": "never"}
    locked = subprocess.run(
        ["uv", "lock", "--quiet"], cwd=service, env=env, capture_output=True, text=True, timeout=300
    )
    assert locked.returncode == 0, locked.stderr
    lock = tomllib.loads((service / "uv.lock").read_text(encoding="utf-8"))
    by_name = {p["name"]: p for p in lock["package"]}
    for name in PACKAGES:
        source = by_name[name]["source"]["git"]
        assert source == f"{url}?subdirectory=packages%2F{name}&rev={commit}#{commit}"
