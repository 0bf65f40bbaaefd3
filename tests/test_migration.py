"""A service rendered from release 0.2.3 moves to the thin layout with a plain `copier update`.

0.2.3 (commit 76a1543) copied the event runtime and the Knative tooling into every service
(``src/<pkg>/cloudevents/``, ``src/<pkg>/knative/`` and their tests). From 0.3.0 they are
the ``knative-events`` and ``knative-manifests`` packages the service pins. The update
must need no --trust, keep the owner's handler edits, remove the copied modules and their
tests, and leave a service whose own checks pass.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from renderer import REPO_ROOT, git, snapshot_template
from update_helpers import commit_all, leftovers, new_project, run_cli, status

pytestmark = pytest.mark.slow

#: The last release before the packages: what the services out there were rendered from.
OLD_COMMIT = "76a1543"
OLD_TAG, NEW_TAG = "0.2.3", "0.4.0"

HANDLER_EDIT = '''

def order_reference(event_id: str) -> str:
    """Team code added to the handler module after copier copy: must survive the update."""
    return f"order-{event_id}"
'''


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A template repository with 0.2.3 (from this repository's history) and NEW_TAG (this tree)."""
    old_tree = tmp_path_factory.mktemp("release-0.2.3")
    archive = subprocess.run(
        ["git", "archive", "--format=tar", OLD_COMMIT],
        cwd=REPO_ROOT,
        capture_output=True,
        check=False,
    )
    assert archive.returncode == 0, (
        f"commit {OLD_COMMIT} (release 0.2.3) must be in this clone's history: "
        + archive.stderr.decode(errors="replace")
    )
    subprocess.run(["tar", "-x", "-C", str(old_tree)], input=archive.stdout, check=True)
    repo = snapshot_template(tmp_path_factory.mktemp("template") / "repo", old_tree, OLD_TAG)
    # NEW_TAG replaces the whole tree, as the release commit would.
    for child in repo.iterdir():
        if child.name != ".git":
            git(repo, "rm", "-r", "-q", "--cached", child.name)
            subprocess.run(["rm", "-rf", str(child)], check=True)
    return snapshot_template(repo, REPO_ROOT, NEW_TAG)


@pytest.fixture(scope="module")
def updated(releases: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 0.2.3 service with an edited handler module, updated to NEW_TAG by the CLI."""
    project = new_project(releases, tmp_path_factory.mktemp("service") / "svc", OLD_TAG)
    handlers = project / "src" / "hello_events" / "handlers" / "events.py"
    handlers.write_text(handlers.read_text(encoding="utf-8") + HANDLER_EDIT, encoding="utf-8")
    commit_all(project, "Team edit")
    done = run_cli("update", "--defaults", "--conflict", "inline", cwd=project)
    assert done.returncode == 0, done.stdout + done.stderr
    return project


def test_the_update_needed_no_trust_and_left_no_conflict(updated: Path) -> None:
    assert leftovers(updated) == []
    answers = (updated / ".copier-answers.yml").read_text(encoding="utf-8")
    assert f"_commit: {NEW_TAG}" in answers


def test_the_owner_handler_edit_survives(updated: Path) -> None:
    text = (updated / "src/hello_events/handlers/events.py").read_text(encoding="utf-8")
    assert "def order_reference(event_id: str) -> str:" in text
    assert "from knative_events import CloudEvent" in text


def test_the_copied_runtime_and_tooling_are_gone(updated: Path) -> None:
    src = updated / "src" / "hello_events"
    for gone in ("cloudevents", "knative", "api.py", "emitter.py", "health.py", "metrics.py"):
        assert not (src / gone).exists(), gone
    assert not (updated / "tests" / "unit").exists()
    lines = sum(len(p.read_text(encoding="utf-8").splitlines()) for p in src.rglob("*.py"))
    assert lines <= 600, f"{lines} lines under src/ after the update"
    changed = status(updated)
    assert "src/hello_events/cloudevents/models.py" in changed  # deleted by the update


def test_the_updated_service_passes_its_own_tests(updated: Path, tmp_path: Path) -> None:
    """Its pytest, in this suite's environment (which holds the packages it now pins)."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=updated,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
    assert "skipped" not in done.stdout.splitlines()[-1]
