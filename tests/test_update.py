"""`copier update`: services follow the template without losing their edits (issue 5).

Every test works on throw-away template releases built from this working tree
(update_helpers.build_releases): 1.0.0 = the tree as it is, 1.1.0 = a changed default, a
new question, a new file, edited files, a renamed file plus the migration for it, 1.2.0 =
an edit and the new question removed again (no migration).
Projects are started with `copier copy`, committed, edited like a team would, committed,
and updated. Only a few stable paths of the rendered service are touched: README.md,
pyproject.toml, src/<pkg>/handlers/events.py, the overlays' service patch and the
answers file.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import copier
import pytest
import yaml
from copier import VcsRef
from copier.errors import UnsafeTemplateError, UserMessageError
from renderer import REPO_ROOT, git
from update_helpers import (
    MAX_SCALE_V1,
    MAX_SCALE_V2,
    NEW_FILE,
    NEW_PATCH,
    NEW_QUESTION,
    OLD_PATCH,
    PYPROJECT_V2_TABLE,
    README_V2_LINE,
    README_V3_LINE,
    RENAME_PAIR,
    V1,
    V2,
    V3,
    Projects,
    Releases,
    answers,
    build_releases,
    commit_all,
    leftovers,
    package_dir,
    run_cli,
    service_patch,
    status,
    tree,
    update,
)

README_EDIT = "Owned by the payments team; page #payments-oncall."
HANDLER_EDIT = '''

def audit_tag(event_type: str) -> str:
    """Team code added after copier copy: must survive every template update."""
    return f"audit:{event_type}"
'''
PATCH_EDIT = "# dev keeps one pod warm for the demo (team edit)\n"


@pytest.fixture(scope="session")
def releases(tmp_path_factory: pytest.TempPathFactory) -> Releases:
    return build_releases(tmp_path_factory.mktemp("releases"))


@pytest.fixture(scope="session")
def projects(tmp_path_factory: pytest.TempPathFactory) -> Projects:
    return Projects(tmp_path_factory.mktemp("projects"))


@pytest.fixture
def project_factory(projects: Projects) -> Callable[..., Path]:
    """make(template, ref, data=None): a committed project of its own to edit and update."""
    return projects.make


def make_team_edits(project: Path) -> None:
    """The edits the issue names: handler code, an overlay patch and the README."""
    readme = project / "README.md"
    lines = readme.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(1, f"\n{README_EDIT}\n")
    readme.write_text("".join(lines), encoding="utf-8")
    events = package_dir(project) / "handlers" / "events.py"
    events.write_text(events.read_text(encoding="utf-8") + HANDLER_EDIT, encoding="utf-8")
    patch = service_patch(project, "dev")
    patch.write_text(patch.read_text(encoding="utf-8") + PATCH_EDIT, encoding="utf-8")
    commit_all(project, "Team edits")


# --------------------------------------------------------------------------- the update


@pytest.fixture(scope="module")
def updated(releases: Releases, projects: Projects) -> Path:
    """A 1.0.0 service with team edits, updated to 1.1.0 with --trust (the migration)."""
    project = projects.make(releases.main, V1)
    make_team_edits(project)
    update(project, V2, unsafe=True)
    return project


def test_team_edits_survive_the_update(updated: Path) -> None:
    assert README_EDIT in (updated / "README.md").read_text(encoding="utf-8")
    events = (package_dir(updated) / "handlers" / "events.py").read_text(encoding="utf-8")
    assert HANDLER_EDIT in events


def test_template_changes_arrive(updated: Path) -> None:
    readme = (updated / "README.md").read_text(encoding="utf-8")
    assert README_V2_LINE in readme
    assert README_V3_LINE not in readme, "updated past the requested 1.1.0"
    assert (updated / "pyproject.toml").read_text(encoding="utf-8").endswith(PYPROJECT_V2_TABLE)
    assert (updated / NEW_FILE).read_text(encoding="utf-8").startswith("# Upgrading ")
    assert answers(updated)["_commit"] == V2
    assert answers(updated)[NEW_QUESTION] is True, "a new question takes its default"


def test_changed_default_keeps_the_recorded_answer(
    updated: Path, releases: Releases, project_factory: Callable[..., Path]
) -> None:
    """A new default reaches new copies; an existing service keeps what it answered."""
    assert answers(updated)["max_scale"] == MAX_SCALE_V1
    fresh = project_factory(releases.main, V2)
    assert answers(fresh)["max_scale"] == MAX_SCALE_V2


def test_renamed_patch_keeps_the_team_edit(updated: Path) -> None:
    """hooks/migrate_renames.py carried the edit from the old name to the new one."""
    patches = updated / "deployments/knative/overlays/dev/patches"
    assert not (patches / OLD_PATCH).exists()
    assert PATCH_EDIT in (patches / NEW_PATCH).read_text(encoding="utf-8")
    for env in ("staging", "prod"):  # not edited: renamed, nothing to merge
        env_patches = updated / f"deployments/knative/overlays/{env}/patches"
        assert not (env_patches / OLD_PATCH).exists()
        assert PATCH_EDIT not in (env_patches / NEW_PATCH).read_text(encoding="utf-8")
    kustomization = (updated / "deployments/knative/overlays/dev/kustomization.yaml").read_text(
        encoding="utf-8"
    )
    assert OLD_PATCH not in kustomization


def test_no_conflict_markers_or_rej_files_remain(updated: Path) -> None:
    assert leftovers(updated) == []
    # The rendered project's own pre-commit/CI check agrees.
    done = subprocess.run(
        [sys.executable, "scripts/check_conflicts.py"],
        cwd=updated,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_migration_is_idempotent(updated: Path) -> None:
    """Running the migration again (same versions) changes nothing."""
    before = tree(updated)
    done = git_run_hook(updated, "--from", V1, "--to", V2)
    assert done.returncode == 0, done.stderr
    assert tree(updated) == before


def git_run_hook(
    project: Path, *extra: str, operation: str = "update"
) -> subprocess.CompletedProcess[str]:
    """Run hooks/migrate_renames.py by hand, the way copier's migration would."""
    argv = [
        sys.executable,
        str(REPO_ROOT / "hooks" / "migrate_renames.py"),
        f"--operation={operation}",
        "--since",
        V2,
        *extra,
        RENAME_PAIR,
    ]
    return subprocess.run(argv, cwd=project, capture_output=True, text=True, check=False)


def test_migration_runs_only_for_an_update_that_crosses_its_release(
    releases: Releases, project_factory: Callable[..., Path]
) -> None:
    """The hook's own guard, on the state copier leaves after the rename (old path gone,
    new path freshly rendered): other operations and other version ranges change nothing;
    the update from 1.0.0 to 1.1.0 carries the team's edit over."""
    project = project_factory(releases.main, V1)
    make_team_edits(project)
    patches = project / "deployments/knative/overlays/dev/patches"
    edited = (patches / OLD_PATCH).read_text(encoding="utf-8")
    (patches / OLD_PATCH).unlink()
    (patches / NEW_PATCH).write_text(edited.removesuffix(PATCH_EDIT), encoding="utf-8")
    before = tree(project)
    for operation, *args in (
        ("update", "--from", V2, "--to", V3),
        ("update", "--from", V1, "--to", V1),
        ("copy", "--from", V1, "--to", V2),
    ):
        done = git_run_hook(project, *args, operation=operation)
        assert done.returncode == 0, done.stderr
        assert tree(project) == before, (operation, args)
    done = git_run_hook(project, "--from", V1, "--to", V2)
    assert done.returncode == 0, done.stderr
    assert (patches / NEW_PATCH).read_text(encoding="utf-8") == edited
    assert "merged cleanly" in done.stderr


def load_hook() -> ModuleType:
    """hooks/ is not a package: load the migration script from its file."""
    path = REPO_ROOT / "hooks" / "migrate_renames.py"
    spec = importlib.util.spec_from_file_location("migrate_renames", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_migration_merge_marks_a_collision_like_copier(tmp_path: Path) -> None:
    """Edits that collide with the template's change get copier's inline labels."""
    hook = load_hook()
    base = "a: 1\nb: 2\nc: 3\n"
    merged, conflicts = hook.merge("a: 1\nb: team\nc: 3\n", base, "a: 1\nb: tpl\nc: 3\n", tmp_path)
    assert conflicts == 1
    assert "<<<<<<< before updating\nb: team\n" in merged and ">>>>>>> after updating" in merged
    clean, none = hook.merge("a: team\nb: 2\nc: 3\n", base, "a: 1\nb: 2\nc: tpl\n", tmp_path)
    assert (clean, none) == ("a: team\nb: 2\nc: tpl\n", 0)


def test_migration_pairs_expand_star_segments() -> None:
    hook = load_hook()
    tracked = ["o/dev/p/old.yaml", "o/prod/p/old.yaml", "o/dev/p/other.yaml", "x/old.yaml"]
    pairs = list(hook.expand("o/*/p/old.yaml", "o/*/p/new.yaml", tracked))
    assert pairs == [
        ("o/dev/p/old.yaml", "o/dev/p/new.yaml"),
        ("o/prod/p/old.yaml", "o/prod/p/new.yaml"),
    ]
    with pytest.raises(SystemExit, match="as many"):
        hook.parse_pair("o/*/old.yaml=o/new.yaml")
    with pytest.raises(SystemExit, match="OLD=NEW"):
        hook.parse_pair("no-equals-sign")
    assert hook.applies("update", "1.0.0", "1.1.0", "1.1.0")
    assert not hook.applies("update", "1.1.0", "1.2.0", "1.1.0")
    assert not hook.applies("copy", "1.0.0", "1.1.0", "1.1.0")
    assert not hook.applies("update", "not-a-version", "1.1.0", "1.1.0")


# --------------------------------------------------------------------------- --trust


def test_update_across_a_migration_needs_trust_and_changes_nothing_without(
    releases: Releases, project_factory: Callable[..., Path]
) -> None:
    project = project_factory(releases.main, V1)
    make_team_edits(project)
    before, head = tree(project), git(project, "rev-parse", "HEAD")
    with pytest.raises(UnsafeTemplateError, match="migrations"):
        update(project, V2)
    assert tree(project) == before
    assert status(project) == "" and git(project, "rev-parse", "HEAD") == head
    cli = run_cli("update", "--defaults", "--vcs-ref", V2, cwd=project)
    assert cli.returncode == 4, cli.stderr
    assert "--trust" in cli.stderr
    assert tree(project) == before


def test_update_that_crosses_no_migration_needs_no_trust(
    releases: Releases, project_factory: Callable[..., Path]
) -> None:
    project = project_factory(releases.main, V2)
    assert answers(project)[NEW_QUESTION] is True
    update(project, V3)  # unsafe=False
    assert README_V3_LINE in (project / "README.md").read_text(encoding="utf-8")
    assert answers(project)["_commit"] == V3
    assert leftovers(project) == []
    # 1.2.0 removed a question: its recorded answer is no unknown-question error (the
    # replay uses 1.1.0, which knows it) and leaves the answers file with the update.
    assert NEW_QUESTION not in answers(project)
    assert (project / NEW_FILE).is_file()


def test_copy_never_needs_trust(releases: Releases, tmp_path: Path) -> None:
    """`_migrations` exists at 1.1.0 and 1.2.0, yet a plain copy runs without --trust."""
    config = yaml.safe_load(git(releases.main, "show", f"{V2}:copier.yml"))
    assert config["_migrations"], "1.1.0 must carry the migration for this test to mean anything"
    done = run_cli("copy", "--defaults", "--vcs-ref", V3, str(releases.main), "svc", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "svc" / "README.md").is_file()


def test_rename_without_migration_drops_the_edit_silently(
    releases: Releases, project_factory: Callable[..., Path]
) -> None:
    """Why the migration exists: copier deletes the old name and writes the new one fresh."""
    project = project_factory(releases.no_migration, V1)
    make_team_edits(project)
    update(project, V2)  # no migration: no --trust needed
    patches = project / "deployments/knative/overlays/dev/patches"
    assert not (patches / OLD_PATCH).exists()
    assert PATCH_EDIT not in (patches / NEW_PATCH).read_text(encoding="utf-8")
    assert leftovers(project) == []  # ... and nothing warns about it
    assert README_EDIT in (project / "README.md").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- no change


def test_update_without_template_change_leaves_an_empty_diff(
    releases: Releases, project_factory: Callable[..., Path]
) -> None:
    project = project_factory(releases.main, V3)
    make_team_edits(project)
    head = git(project, "rev-parse", "HEAD")
    done = run_cli("update", "--defaults", cwd=project)
    assert done.returncode == 0, done.stderr
    assert "Update done" in done.stderr  # _message_after_update rendered
    assert status(project) == ""
    assert git(project, "diff", "HEAD") == "" and git(project, "rev-parse", "HEAD") == head


# --------------------------------------------------------------------------- re-answer

REANSWERS = {
    "kafka_source": ({}, {"kafka_source": True}),
    "add-staging": (
        {"environments": ["dev", "prod"]},
        {"environments": ["dev", "staging", "prod"]},
    ),
}


@pytest.mark.parametrize("case", sorted(REANSWERS))
def test_reanswer_adds_exactly_the_files_of_a_fresh_copy_and_removing_takes_them_away(
    case: str, releases: Releases, project_factory: Callable[..., Path]
) -> None:
    before_data, after_data = REANSWERS[case]
    project = project_factory(releases.main, V3, before_data)
    original = tree(project)
    expected = tree(project_factory(releases.main, V3, {**before_data, **after_data}))

    update(project, VcsRef.CURRENT, data=after_data)
    now = tree(project)
    added = sorted(set(now) - set(original))
    assert added, f"{case}: re-answering added no file"
    assert sorted(now) == sorted(expected), f"{case}: files differ from a fresh copy"
    assert {k: v for k, v in now.items() if v != expected[k]} == {}
    commit_all(project, f"Turn on {case}")

    update(project, VcsRef.CURRENT, data=before_data or {"kafka_source": False})
    assert tree(project) == original, f"{case}: turning it off left or changed files"


# --------------------------------------------------------------------------- bad input


def test_dirty_tree_is_refused_and_nothing_changes(
    releases: Releases, project_factory: Callable[..., Path]
) -> None:
    project = project_factory(releases.main, V2)
    readme = project / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + "work in progress\n")
    before, dirty = tree(project), status(project)
    with pytest.raises(UserMessageError, match="Destination repository is dirty"):
        update(project, V3)
    assert tree(project) == before and status(project) == dirty
    cli = run_cli("update", "--defaults", cwd=project)
    assert cli.returncode == 1
    assert "dirty" in cli.stderr and "Traceback" not in cli.stderr
    assert tree(project) == before
    # An untracked file counts as dirty too.
    git(project, "checkout", "--", "README.md")
    (project / "notes.txt").write_text("draft\n")
    before, dirty = tree(project), status(project)
    with pytest.raises(UserMessageError, match="Destination repository is dirty"):
        update(project, V3)
    assert tree(project) == before and status(project) == dirty


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"port": 8012}, "port 8012 is reserved by Knative's queue-proxy"),
        ({"timeout_seconds": 900}, "timeout_seconds must be between 1 and 600"),
        ({"bogus_question": 1}, "names question(s) this template does not have: bogus_question"),
        # Copier's own type check: stops, but its message does not name the question.
        ({"port": "abc"}, "invalid literal for int() with base 10: 'abc'"),
    ],
    ids=["reserved-port", "timeout-range", "unknown-question", "wrong-type"],
)
def test_bad_answers_file_is_refused_and_nothing_changes(
    edit: dict[str, object],
    message: str,
    releases: Releases,
    project_factory: Callable[..., Path],
) -> None:
    project = project_factory(releases.main, V2)
    answers_file = project / ".copier-answers.yml"
    recorded = answers(project)
    recorded.update(edit)
    answers_file.write_text(yaml.safe_dump(recorded, sort_keys=False), encoding="utf-8")
    commit_all(project, "Hand-edited answers")
    before, head = tree(project), git(project, "rev-parse", "HEAD")
    with pytest.raises(ValueError) as raised:
        update(project, V3)
    assert message in str(raised.value)
    assert tree(project) == before
    assert status(project) == "" and git(project, "rev-parse", "HEAD") == head


def test_refused_new_answer_stops_the_update_and_changes_nothing(
    releases: Releases, project_factory: Callable[..., Path]
) -> None:
    project = project_factory(releases.main, V3)
    before = tree(project)
    with pytest.raises(ValueError, match="timeout_seconds must be between 1 and 600"):
        update(project, VcsRef.CURRENT, data={"timeout_seconds": 900})
    assert tree(project) == before and status(project) == ""


def test_bad_answers_file_stops_the_cli_with_the_message(
    releases: Releases, project_factory: Callable[..., Path]
) -> None:
    project = project_factory(releases.main, V2)
    answers_file = project / ".copier-answers.yml"
    answers_file.write_text(answers_file.read_text(encoding="utf-8") + "bogus_question: 1\n")
    commit_all(project, "Hand-edited answers")
    before = tree(project)
    done = run_cli("update", "--defaults", cwd=project)
    assert done.returncode != 0
    assert "bogus_question" in done.stderr.strip().splitlines()[-1]
    assert tree(project) == before and status(project) == ""


# --------------------------------------------------------------------------- releases


def test_check_update_notices_a_newer_release(
    releases: Releases, project_factory: Callable[..., Path]
) -> None:
    """`copier check-update -q` exits 2 while a newer release exists (for CI jobs)."""
    behind = project_factory(releases.main, V2)
    assert run_cli("check-update", "-q", cwd=behind).returncode == 2
    report = run_cli("check-update", "--output-format", "json", cwd=behind)
    assert '"latest_version": "1.2.0"' in report.stdout
    current = project_factory(releases.main, V3)
    assert run_cli("check-update", "-q", cwd=current).returncode == 0


def test_release_settings() -> None:
    from packaging.version import Version

    config = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))
    assert Version(str(config["_min_copier_version"])) <= Version(copier.__version__)
    assert config["_answers_file"] == ".copier-answers.yml"
    assert (REPO_ROOT / "template" / "{{ _copier_conf.answers_file }}.jinja").is_file()
    assert "_tasks" not in config and "_jinja_extensions" not in config


def assert_migration_policy(entries: list[dict[str, object]]) -> None:
    """Each entry: pinned to a release, argv form, run only after an update."""
    for entry in entries:
        assert "version" in entry, "without `version` every update would need --trust"
        assert isinstance(entry["command"], list), "argv form, no shell"
        assert "_copier_operation == 'update'" in str(entry["when"])
        assert "_stage == 'after'" in str(entry["when"])


def test_migrations_follow_the_policy(releases: Releases) -> None:
    current = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))
    assert_migration_policy(current["_migrations"])
    released = yaml.safe_load(git(releases.main, "show", f"{V2}:copier.yml"))
    assert len(released["_migrations"]) == 1
    assert_migration_policy(released["_migrations"])
