"""The documentation builds, and the generated question reference matches copier.yml."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import yaml
from renderer import REPO_ROOT


def _load_generator() -> ModuleType:
    """scripts/ is not a package: load the generator from its file."""
    path = REPO_ROOT / "scripts" / "gen_questions_doc.py"
    spec = importlib.util.spec_from_file_location("gen_questions_doc", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while loading
    spec.loader.exec_module(module)
    return module


gen_questions_doc = _load_generator()

DOCS = REPO_ROOT / "docs"


def questions() -> dict[str, dict[str, object]]:
    config = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))
    return {k: v for k, v in config.items() if not k.startswith("_")}


def test_questions_page_is_up_to_date() -> None:
    """Fails when copier.yml changed without `python scripts/gen_questions_doc.py`."""
    committed = (DOCS / "questions.md").read_text(encoding="utf-8")
    assert committed == gen_questions_doc.render(), (
        "docs/questions.md is stale: run `python scripts/gen_questions_doc.py`"
    )


def test_questions_page_lists_every_question_with_its_rules() -> None:
    page = gen_questions_doc.render()
    headings = re.findall(r"^### `([a-z0-9_]+)`$", page, re.MULTILINE)
    assert headings == list(questions()), "every question once, in copier.yml order"
    for name, spec in questions().items():
        section = page.split(f"### `{name}`\n", 1)[1].split("\n### ", 1)[0]
        assert f"**Type:** {spec['type']}" in section
        for rule in gen_questions_doc.validator_rules(str(spec.get("validator", ""))):
            assert rule in section, f"{name}: rule {rule!r} missing"
    assert "port {{ port }} is reserved by Knative's queue-proxy" in page


def test_validator_rules_are_the_text_outside_jinja_tags() -> None:
    validator = "{% if x %}\nfirst rule {{ x }}\n{% elif y %}  second\n   rule {% endif %}"
    assert gen_questions_doc.validator_rules(validator) == ["first rule {{ x }}", "second", "rule"]


def test_a_question_outside_any_header_is_refused(tmp_path: Path) -> None:
    copier_yml = tmp_path / "copier.yml"
    copier_yml.write_text("_subdirectory: template\nstray:\n  type: str\n  default: x\n")
    try:
        gen_questions_doc.render(copier_yml)
    except SystemExit as refused:
        assert "stray" in str(refused)
    else:
        raise AssertionError("a question outside any header must be refused")


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    """`mkdocs build --strict`: every nav page exists, no broken link or anchor."""
    nav = yaml.safe_load((REPO_ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"]
    pages = [next(iter(item.values())) for item in nav]
    assert pages == [
        "index.md",
        "getting-started.md",
        "questions.md",
        "updating.md",
        "upgrading-knative.md",
        "releasing.md",
        "architecture.md",
        "security.md",
        "performance.md",
        "delivery.md",
    ]
    site = tmp_path / "site"
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "-d", str(site)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for page in pages:
        built = site / ("index.html" if page == "index.md" else f"{page[:-3]}/index.html")
        assert built.is_file(), f"{page} was not built"


def test_changelog_names_the_release_in_pyproject() -> None:
    """Keep a Changelog: the newest released section is the version in pyproject.toml."""
    changelog = (REPO_ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "version"
    ]
    released = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", changelog, re.MULTILINE)
    assert released and released[0] == version
    assert "## [Unreleased]" in changelog
    assert f"[{version}]: " in changelog, "link reference for the release tag"


def test_updating_page_documents_the_update_story() -> None:
    page = (DOCS / "updating.md").read_text(encoding="utf-8")
    for needle in (
        "update --defaults",
        "--vcs-ref=:current:",
        "--conflict inline",
        "--trust",
        "check-update -q",
        "check_conflicts.py",
        "hooks/migrate_renames.py",
    ):
        assert needle in page, needle
