"""Throw-away template releases and projects for the `copier update` tests.

The tests need the template at more than one version. ``build_releases`` snapshots this
working tree as release 1.0.0, then commits a changed copy as 1.1.0 (a changed default,
a new question, a new file, edited files, a renamed file and the migration that carries
edits over the rename) and a follow-up as 1.2.0 (an edit, the new question removed again),
each tagged with a PEP 440 version the way real releases are tagged. Everything is
derived from the current tree at test time, so the tests keep working while the template
grows; they only rely on a few stable paths.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import copier
import yaml
from renderer import git, snapshot_template

V1, V2, V3 = "1.0.0", "1.1.0", "1.2.0"
OLD_PATCH = "service-patch.yaml"
NEW_PATCH = "knative-service.yaml"
RENAME_PAIR = (
    f"deployments/knative/overlays/*/patches/{OLD_PATCH}"
    f"=deployments/knative/overlays/*/patches/{NEW_PATCH}"
)
README_V2_LINE = "Template 1.1.0 added this section."
README_V3_LINE = "Template 1.2.0 added this line."
PYPROJECT_V2_TABLE = '\n[tool.template-release-probe]\nrelease = "1.1.0"\n'
NEW_FILE = "UPGRADING.md"
NEW_QUESTION = "upgrade_notes"
NEW_QUESTION_YAML = f"""
{NEW_QUESTION}:
  type: bool
  help: Render {NEW_FILE} (a question added in 1.1.0 and removed again in 1.2.0).
  default: true
"""
CONDITIONAL_NEW_FILE = f"{{% if {NEW_QUESTION} %}}{NEW_FILE}{{% endif %}}.jinja"
MAX_SCALE_V1, MAX_SCALE_V2 = 10, 20

MIGRATION_ENTRY = f"""_migrations:
  # 1.1.0 renamed the overlays' service patch; carry the services' edits over to the new name.
  - version: "{V2}"
    when: "{{{{ _stage == 'after' and _copier_operation == 'update' }}}}"
    command:
      - "{{{{ _copier_python }}}}"
      - "{{{{ _copier_conf.src_path }}}}/hooks/migrate_renames.py"
      - "--operation={{{{ _copier_operation }}}}"
      - "--from={{{{ _version_pep440_from }}}}"
      - "--to={{{{ _version_pep440_to }}}}"
      - "--since={V2}"
      - "--answers-file={{{{ _copier_conf.answers_file }}}}"
      - "{RENAME_PAIR}"
"""


@dataclass(frozen=True)
class Releases:
    """Template repositories: ``main`` has 1.0.0, 1.1.0 (with migration) and 1.2.0."""

    main: Path
    no_migration: Path


def _commit_and_tag(repo: Path, tag: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", f"release {tag}")
    git(repo, "tag", tag)


def _text_files(root: Path) -> list[Path]:
    return [p for p in sorted(root.rglob("*")) if p.is_file() and ".git" not in p.parts]


def _change_default(copier_yml: Path, question: str, old: int, new: int) -> None:
    text = copier_yml.read_text(encoding="utf-8")
    pattern = re.compile(rf"(^{question}:\n(?:[ #].*\n|\n)*?  default: ){old}$", re.MULTILINE)
    changed, count = pattern.subn(rf"\g<1>{new}", text)
    assert count == 1, f"copier.yml: could not find `default: {old}` of {question}"
    copier_yml.write_text(changed, encoding="utf-8")


def _set_migrations(copier_yml: Path, block: str) -> None:
    text = copier_yml.read_text(encoding="utf-8")
    if re.search(r"^_migrations:", text, re.MULTILINE):
        text, count = re.subn(r"^_migrations:.*\n", block, text, count=1, flags=re.MULTILINE)
        assert count == 1
    else:
        text += "\n" + block
    copier_yml.write_text(text, encoding="utf-8")


def apply_v2(repo: Path, *, with_migration: bool) -> None:
    """Turn a 1.0.0 checkout into 1.1.0: every kind of change an update must carry."""
    template = repo / "template"
    # A changed default: projects keep their recorded answer, new copies get the new one.
    _change_default(repo / "copier.yml", "max_scale", MAX_SCALE_V1, MAX_SCALE_V2)
    # A new question (its default reaches existing services) and a new file that uses it.
    copier_yml = repo / "copier.yml"
    copier_yml.write_text(
        copier_yml.read_text(encoding="utf-8").rstrip("\n") + "\n" + NEW_QUESTION_YAML,
        encoding="utf-8",
    )
    (template / CONDITIONAL_NEW_FILE).write_text(
        "# Upgrading {{ service_name }}\n\nRun `copier update --defaults`.\n", encoding="utf-8"
    )
    # Edited files (the README is also edited by the service, in another place).
    readme = template / "README.md.jinja"
    assert readme.is_file(), "the template no longer renders README.md from README.md.jinja"
    readme.write_text(
        readme.read_text(encoding="utf-8").rstrip("\n")
        + f"\n\n## Template 1.1.0\n\n{README_V2_LINE}\n",
        encoding="utf-8",
    )
    pyproject = template / "pyproject.toml.jinja"
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8") + PYPROJECT_V2_TABLE, encoding="utf-8"
    )
    # A renamed file (every overlay's service patch) and the references to it.
    patches = sorted(template.rglob(f"{OLD_PATCH}.jinja"))
    assert patches, f"the template no longer renders overlays/<env>/patches/{OLD_PATCH}"
    for path in patches:
        path.rename(path.with_name(f"{NEW_PATCH}.jinja"))
    for path in [*_text_files(template), *_text_files(repo / "includes")]:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if OLD_PATCH in text:
            path.write_text(text.replace(OLD_PATCH, NEW_PATCH), encoding="utf-8")
    if with_migration:
        _set_migrations(repo / "copier.yml", MIGRATION_ENTRY)


def apply_v3(repo: Path) -> None:
    """1.2.0: a plain change and a removed question, no migration of its own."""
    copier_yml = repo / "copier.yml"
    text = copier_yml.read_text(encoding="utf-8")
    assert NEW_QUESTION_YAML in text
    copier_yml.write_text(text.replace(NEW_QUESTION_YAML, ""), encoding="utf-8")
    conditional = repo / "template" / CONDITIONAL_NEW_FILE
    conditional.rename(conditional.with_name(f"{NEW_FILE}.jinja"))
    readme = repo / "template" / "README.md.jinja"
    readme.write_text(
        readme.read_text(encoding="utf-8") + f"\n{README_V3_LINE}\n", encoding="utf-8"
    )


def build_releases(root: Path) -> Releases:
    """Build both template repositories under ``root`` (about half a second)."""
    main = snapshot_template(root / "template-main", tag=V1)
    no_migration = root / "template-no-migration"
    git(root, "clone", "-q", str(main), str(no_migration))
    apply_v2(main, with_migration=True)
    _commit_and_tag(main, V2)
    apply_v3(main)
    _commit_and_tag(main, V3)
    apply_v2(no_migration, with_migration=False)
    _commit_and_tag(no_migration, V2)
    return Releases(main=main, no_migration=no_migration)


def new_project(template: Path, dst: Path, ref: str, data: dict[str, Any] | None = None) -> Path:
    """`copier copy` at ``ref``, then `git init` and commit, as a user would start."""
    copier.run_copy(
        str(template),
        str(dst),
        data=data or {},
        vcs_ref=ref,
        defaults=True,
        quiet=True,
        unsafe=False,
    )
    git(dst, "init", "-q", "-b", "main")
    commit_all(dst, "Start from copier-knative-fastapi")
    return dst


class Projects:
    """Hands out fresh project copies; each answer set is rendered once per session.

    Copying a committed project (with its .git) is much cheaper than rendering it again,
    and gives every test its own tree to edit and update.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._pristine: dict[str, Path] = {}
        self._count = 0

    def make(self, template: Path, ref: str, data: dict[str, Any] | None = None) -> Path:
        key = json.dumps([str(template), ref, data or {}], sort_keys=True)
        if key not in self._pristine:
            pristine = self.root / f"pristine-{len(self._pristine)}"
            self._pristine[key] = new_project(template, pristine, ref, data)
        self._count += 1
        dst = self.root / f"service-{self._count}"
        shutil.copytree(self._pristine[key], dst, symlinks=True)
        return dst


def commit_all(project: Path, message: str) -> None:
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", message)


def update(project: Path, ref: str | copier.VcsRef | None = None, **kwargs: Any) -> None:
    """`copier update --defaults --conflict inline` through the API, as the issue states it."""
    options: dict[str, Any] = {
        "defaults": True,
        "overwrite": True,
        "conflict": "inline",
        "unsafe": False,
        "quiet": True,
    }
    options.update(kwargs)
    copier.run_update(str(project), vcs_ref=ref, **options)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the pinned copier CLI of this environment (what users and CI type)."""
    exe = Path(sys.executable).with_name("copier")
    env = {
        **os.environ,
        "NO_COLOR": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@e.x",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@e.x",
    }
    return subprocess.run(
        [str(exe), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


def tree(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (outside .git) with its bytes."""
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(root).parts
    }


def status(project: Path) -> str:
    """`git status --porcelain` with every untracked file: empty means nothing changed."""
    return git(project, "status", "--porcelain", "--untracked-files=all")


def answers(project: Path) -> dict[str, Any]:
    loaded = yaml.safe_load((project / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


def leftovers(project: Path) -> list[str]:
    """Conflict markers or *.rej files an update left behind (must be empty)."""
    found = [p.relative_to(project).as_posix() for p in project.rglob("*.rej")]
    for rel, data in tree(project).items():
        if any(line.startswith((b"<<<<<<< ", b">>>>>>> ")) for line in data.splitlines()):
            found.append(rel)
    return sorted(found)


def service_patch(project: Path, env: str) -> Path:
    """The overlay's service patch under whichever name this release uses."""
    patches = project / "deployments/knative/overlays" / env / "patches"
    old = patches / OLD_PATCH
    return old if old.exists() else patches / NEW_PATCH


def package_dir(project: Path) -> Path:
    """src/<package>: package_name is computed (not recorded) from service_name."""
    return project / "src" / str(answers(project)["service_name"]).replace("-", "_")
