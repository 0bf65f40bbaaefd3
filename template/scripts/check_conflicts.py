#!/usr/bin/env python3
"""Fail when the tree holds unresolved merge conflicts or rejected patches.

`copier update` (like `git merge`) reports what it could not merge in two ways: inline
conflict markers in a file, or a `*.rej` file beside it. Both are easy to commit by
accident and both break things later (a YAML file with markers no longer parses, a .rej
means a template fix was silently not applied). pre-commit and CI run this script.

Usage: check_conflicts.py [PATH ...]   (default: the current directory)
A directory is walked; a file is checked directly. Exit status 1 lists every problem.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

# Lines a merge tool writes; a real file never starts a line with seven of these plus a
# space (or nothing else on the line, for the separator lines of diff3 style).
MARKERS = (b"<<<<<<< ", b">>>>>>> ", b"||||||| ")
BARE_MARKERS = (b"<<<<<<<", b">>>>>>>", b"|||||||")
REJECT_SUFFIX = ".rej"

# Directories that are generated or belong to tools, never to the project.
SKIP_DIRS = frozenset(
    {
        ".git",
        ".venv",
        "venv",
        "node_modules",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".hypothesis",
        ".crds",
        "__pycache__",
        "build",
        "dist",
    }
)


def iter_files(root: Path) -> Iterator[Path]:
    """Yield every file below ``root`` outside the skipped tool directories."""
    if root.is_file():
        yield root
        return
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and not entry.is_symlink():
            if entry.name not in SKIP_DIRS:
                yield from iter_files(entry)
        elif entry.is_file():
            yield entry


def problems_in(path: Path) -> list[str]:
    """Describe each conflict marker in ``path`` (or the file itself if it is a .rej)."""
    if path.name.endswith(REJECT_SUFFIX):
        return [f"{path}: rejected patch; apply it by hand, then delete the file"]
    found: list[str] = []
    try:
        content = path.read_bytes()
    except OSError as error:
        return [f"{path}: cannot be read ({error.strerror})"]
    for number, line in enumerate(content.splitlines(), start=1):
        if line.startswith(MARKERS) or line.rstrip() in BARE_MARKERS:
            marker = line[:7].decode("ascii")
            found.append(f"{path}:{number}: merge conflict marker {marker}")
    return found


def main(argv: list[str]) -> int:
    """Check the given paths (default ``.``) and print every problem found."""
    roots = [Path(arg) for arg in argv] or [Path()]
    missing = [str(root) for root in roots if not root.exists()]
    if missing:
        print(f"check_conflicts: no such path: {', '.join(missing)}", file=sys.stderr)
        return 2
    problems = [
        problem for root in roots for path in iter_files(root) for problem in problems_in(path)
    ]
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(
            f"check_conflicts: {len(problems)} unresolved conflict(s); resolve them and "
            "run `make test validate` before committing",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
