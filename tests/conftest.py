"""Shared fixtures of the template's own test suite."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from renderer import CRDS_DIR, Renderer, snapshot_template


@pytest.fixture(scope="session")
def template_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A committed copy of the working tree: what `copier copy -r HEAD` would see."""
    return snapshot_template(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="session")
def renderer(template_snapshot: Path, tmp_path_factory: pytest.TempPathFactory) -> Renderer:
    return Renderer(template_snapshot, tmp_path_factory.mktemp("renders"))


@pytest.fixture(scope="session")
def default_render(renderer: Renderer) -> Path:
    """The service `copier copy --defaults` renders."""
    return renderer.render({})


@pytest.fixture(scope="session")
def crds_dir() -> Iterator[Path]:
    """The root of the pinned upstream CRD sets (../shared, read in place): validate_tree
    takes each render's Knative version's sets from it."""
    assert (CRDS_DIR / "crds").is_dir(), f"CRDs not found under {CRDS_DIR}; set KNATIVE_CRDS_ROOT"
    yield CRDS_DIR


# ---------------------------------------------------------------------------
# The validator of the knative-manifests package (packages/knative-manifests), imported
# directly: the one implementation of the admission rules and CRD schema checks that
# tests/test_deployments.py and friends apply to every render.
# ---------------------------------------------------------------------------


class _Validator(SimpleNamespace):
    """The validator's entry points; a short repr keeps failure reports readable."""

    def __repr__(self) -> str:
        return "<knative_manifests validator>"


def _share_schema_validators(validate: Any) -> None:
    """Let every ``validate_tree`` call reuse one parsed CRD index per CRD directory.

    ``validate_tree`` builds a ``SchemaValidator`` per call, and parsing the pinned CRDs
    would dominate a suite that validates a hundred renders. The checks themselves are
    unchanged: the same class, built once per directory instead of per call.
    """
    original = validate.SchemaValidator
    shared: dict[tuple[str, tuple[Any, ...]], Any] = {}

    def shared_validator(crds_dir: Path | None, *args: Any) -> Any:
        key = (str(crds_dir), args)
        if key not in shared:
            shared[key] = original(crds_dir, *args)
        return shared[key]

    validate.SchemaValidator = shared_validator


#: A digest as CI would promote it into the overlays.
PROMOTED_DIGEST = "sha256:" + "5e" * 32


@pytest.fixture(scope="session")
def knative_validator(
    default_render: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SimpleNamespace]:
    """``validate_tree``, ``RULES``, ``SchemaValidator``... of ``knative_manifests``.

    ``root`` is a copy of the default render with a digest promoted into every overlay
    (the state after CI's first run on main): the documents the end-to-end checks mutate,
    clean of findings, warnings included.
    """
    from knative_manifests import argo, constants, image, rules, schemas, validate, versions

    root = tmp_path_factory.mktemp("promoted") / "service"
    shutil.copytree(default_render, root)
    for overlay in sorted((root / "deployments" / "knative" / "overlays").iterdir()):
        image.set_digest(root, overlay.name, PROMOTED_DIGEST)
    original = validate.SchemaValidator
    _share_schema_validators(validate)
    yield _Validator(
        root=root,
        validate_tree=validate.validate_tree,
        Report=validate.Report,
        RULES=rules.RULES,
        check_documents=rules.check_documents,
        check_warnings=rules.check_warnings,
        SchemaValidator=original,
        constants=constants,
        generate_applications=argo.generate_applications,
        modules={
            "validate": validate,
            "rules": rules,
            "schemas": schemas,
            "argo": argo,
            "versions": versions,
        },
    )
    validate.SchemaValidator = original


# ---------------------------------------------------------------------------
# Counts the closing summary quotes: answer sets rendered, documents validated...
# Workers of pytest-xdist send theirs to the controller, which adds them up.
# ---------------------------------------------------------------------------
_DEPLOY_STATS: Counter[str] = Counter()


@pytest.fixture(scope="session")
def deploy_stats() -> Counter[str]:
    """A counter tests add to (``deploy_stats["answer sets rendered"] += 1``)."""
    return _DEPLOY_STATS


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["deploy_stats"] = dict(_DEPLOY_STATS)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    _DEPLOY_STATS.update(getattr(node, "workeroutput", {}).get("deploy_stats", {}))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _DEPLOY_STATS:
        terminalreporter.section("deployment checks")
        terminalreporter.write_line(
            ", ".join(f"{key}: {count}" for key, count in sorted(_DEPLOY_STATS.items()))
        )
