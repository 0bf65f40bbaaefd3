"""Carry a service's own edits over to a file the template renamed (a `copier update` migration).

Why this exists: `copier update` renders the new template version over the project, then
re-applies the project's own diff (old rendering -> project). When the template renames a
file the project had edited, that diff still names the old path, the old path is no longer
part of the template, so copier deletes it and writes the new path fresh: the service's
edits vanish without a conflict marker to warn anyone. This script runs after copier
(migration stage "after") and 3-way merges, for every renamed file:

* ours   = the project's file at HEAD under its old name (the edits),
* base   = the old template version of that file, rendered again from the answers at HEAD,
* theirs = the file copier just wrote under its new name (the template's new version).

Conflicts are written inline with copier's own labels ("before updating" / "after
updating"), so the project's `check_conflicts` pre-commit hook and `grep '^<<<<<<< '` find them.

It is wired in copier.yml with one `_migrations` entry per release that renames files:

    _migrations:
      - version: "0.2.0"
        when: "{{ _stage == 'after' and _copier_operation == 'update' }}"
        command:
          - "{{ _copier_python }}"
          - "{{ _copier_conf.src_path }}/hooks/migrate_renames.py"
          - "--operation={{ _copier_operation }}"
          - "--from={{ _version_pep440_from }}"
          - "--to={{ _version_pep440_to }}"
          - "--since=0.2.0"
          - "--answers-file={{ _copier_conf.answers_file }}"
          - "src/old_name.py=src/new_name.py"

Migrations need `copier update --trust`, and copier asks for it only when an update
crosses a version that has an entry (copies and other updates stay trust-free).

OLD and NEW may contain `*` for one path segment; the segments they match are the same
(`deployments/knative/overlays/*/patches/a.yaml=deployments/knative/overlays/*/patches/b.yaml`).

Idempotent: a pair is skipped when the old path is not in HEAD (nothing to carry, or the
migration was already committed), when copier kept the old path, when the new path is
missing, or when the new file already holds conflict markers; merging the same three
versions twice gives the same file.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

CONFLICT_START = "<<<<<<< before updating"
LABELS = ("before updating", "last update", "after updating")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Read the argv form copier passes (no shell, every value its own argument)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operation", required=True, help="{{ _copier_operation }}")
    parser.add_argument("--from", dest="version_from", required=True)
    parser.add_argument("--to", dest="version_to", required=True)
    parser.add_argument("--since", required=True, help="the release that renamed the files")
    parser.add_argument("--answers-file", default=".copier-answers.yml")
    parser.add_argument("renames", nargs="+", metavar="OLD=NEW")
    return parser.parse_args(argv)


def applies(operation: str, version_from: str, version_to: str, since: str) -> bool:
    """Only an update that crosses ``since`` (from < since <= to) needs this migration."""
    from packaging.version import InvalidVersion, Version

    if operation != "update":
        return False
    try:
        return Version(version_from) < Version(since) <= Version(version_to)
    except InvalidVersion:
        return False


def git(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], check=check, capture_output=True, text=True)


def parse_pair(pair: str) -> tuple[str, str]:
    """Split ``OLD=NEW`` and check both sides use the same number of ``*`` segments."""
    old, sep, new = pair.partition("=")
    if not sep or not old or not new:
        raise SystemExit(f"migrate_renames: {pair!r} must be OLD=NEW")
    if old.count("*") != new.count("*"):
        raise SystemExit(f"migrate_renames: {pair!r} must use as many '*' on both sides")
    return old, new


def expand(old: str, new: str, tracked: Sequence[str]) -> Iterator[tuple[str, str]]:
    """Yield concrete (old, new) paths for every file at HEAD that matches ``old``."""
    pattern = re.compile("^" + re.escape(old).replace(r"\*", "([^/]+)") + "$")
    for path in tracked:
        match = pattern.match(path)
        if match:
            target = new
            for segment in match.groups():
                target = target.replace("*", segment, 1)
            yield path, target


def render_old_template(answers: dict[str, Any], workdir: Path) -> Path:
    """Render the template version the project was last updated to, with its answers."""
    import copier

    data = {k: v for k, v in answers.items() if not str(k).startswith("_")}
    dst = workdir / "base"
    copier.run_copy(
        str(answers["_src_path"]),
        str(dst),
        data=data,
        vcs_ref=str(answers["_commit"]),
        defaults=True,
        quiet=True,
        unsafe=False,
    )
    return dst


def merge(ours: str, base: str, theirs: str, workdir: Path) -> tuple[str, int]:
    """3-way merge with git; returns the merged text and the number of conflicts."""
    files = []
    scratch = Path(tempfile.mkdtemp(prefix="merge-", dir=workdir))
    for name, text in (("ours", ours), ("base", base), ("theirs", theirs)):
        path = scratch / name
        path.write_text(text, encoding="utf-8")
        files.append(str(path))
    labels = [arg for label in LABELS for arg in ("-L", label)]
    done = git("merge-file", "-p", *labels, *files, check=False)
    if done.returncode < 0 or done.returncode > 127:
        raise SystemExit(f"migrate_renames: git merge-file failed: {done.stderr.strip()}")
    return done.stdout, done.returncode


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if not applies(args.operation, args.version_from, args.version_to, args.since):
        return 0
    import yaml

    tracked = git("ls-tree", "-r", "--name-only", "HEAD").stdout.splitlines()
    shown = git("show", f"HEAD:./{args.answers_file}", check=False)
    if shown.returncode != 0:
        print(f"migrate_renames: no {args.answers_file} at HEAD; nothing to do", file=sys.stderr)
        return 0
    answers = yaml.safe_load(shown.stdout) or {}

    todo: list[tuple[str, str]] = []
    for pair in args.renames:
        old, new = parse_pair(pair)
        for old_path, new_path in expand(old, new, tracked):
            target = Path(new_path)
            if Path(old_path).exists() or not target.is_file():
                continue
            if CONFLICT_START in target.read_text(encoding="utf-8"):
                continue
            todo.append((old_path, new_path))
    if not todo:
        return 0

    conflicts = 0
    with tempfile.TemporaryDirectory(prefix="migrate-renames-") as tmp:
        base_root = render_old_template(answers, Path(tmp))
        for old_path, new_path in todo:
            base_file = base_root / old_path
            if not base_file.is_file():
                continue
            ours = git("show", f"HEAD:./{old_path}").stdout
            base = base_file.read_text(encoding="utf-8")
            target = Path(new_path)
            theirs = target.read_text(encoding="utf-8")
            if ours == base:
                continue  # the project never edited it: the new file is already right
            merged, count = merge(ours, base, theirs, Path(tmp))
            if merged != theirs:
                target.write_text(merged, encoding="utf-8")
            Path(f"{old_path}.rej").unlink(missing_ok=True)
            conflicts += count
            state = f"{count} conflict(s) to resolve" if count else "merged cleanly"
            print(f"migrate_renames: {old_path} -> {new_path}: {state}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
