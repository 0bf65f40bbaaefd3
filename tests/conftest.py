"""Shared fixtures of the template's own test suite."""

from __future__ import annotations

import importlib
import sys
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
    """The pinned upstream CRDs, read in place from ../shared/crds."""
    assert CRDS_DIR.is_dir(), f"CRDs not found at {CRDS_DIR}; set KNATIVE_CRDS_DIR"
    yield CRDS_DIR


# ---------------------------------------------------------------------------
# The rendered project's validator, used in-process as the one implementation of the
# admission rules and CRD schema checks (tests/test_deployments.py and friends).
# ---------------------------------------------------------------------------
VALIDATOR_SERVICE = "kvalidator"


class _Validator(SimpleNamespace):
    """The rendered validator's entry points; a short repr keeps failure reports readable."""

    def __repr__(self) -> str:
        return f"<knative validator from {self.root}>"


def _share_schema_validators(validate: Any) -> None:
    """Let every ``validate_tree`` call reuse one parsed CRD index per CRD directory.

    ``validate_tree`` builds a ``SchemaValidator`` per call, and parsing the pinned CRDs
    (about a second) would dominate a suite that validates a hundred renders. The checks
    themselves are unchanged: the same class, built once per directory instead of per call.
    """
    original = validate.SchemaValidator
    shared: dict[tuple[str, tuple[Any, ...]], Any] = {}

    def shared_validator(crds_dir: Path | None, *args: Any) -> Any:
        key = (str(crds_dir), args)
        if key not in shared:
            shared[key] = original(crds_dir, *args)
        return shared[key]

    validate.SchemaValidator = shared_validator


@pytest.fixture(scope="session")
def knative_validator(renderer: Renderer) -> SimpleNamespace:
    """``validate_tree``, ``RULES``, ``SchemaValidator``... imported from one render.

    Every render's ``<package>.knative`` is the same code under another package name, so
    one render (service_name=kvalidator) provides the implementation for all of them.
    """
    root = renderer.render({"service_name": VALIDATOR_SERVICE})
    package = root / "src" / VALIDATOR_SERVICE / "knative"
    missing = [
        m
        for m in ("validate.py", "rules.py", "schemas.py", "constants.py")
        if not (package / m).is_file()
    ]
    assert not missing, f"the rendered project lacks {missing} in {package}"
    src = str(root / "src")
    if src not in sys.path:
        sys.path.insert(0, src)
    name = f"{VALIDATOR_SERVICE}.knative"
    validate = importlib.import_module(f"{name}.validate")
    rules = importlib.import_module(f"{name}.rules")
    schemas = importlib.import_module(f"{name}.schemas")
    constants = importlib.import_module(f"{name}.constants")
    argo = importlib.import_module(f"{name}.argo")
    _share_schema_validators(validate)
    return _Validator(
        root=root,
        validate_tree=validate.validate_tree,
        Report=validate.Report,
        RULES=rules.RULES,
        check_documents=rules.check_documents,
        SchemaValidator=schemas.SchemaValidator,
        constants=constants,
        generate_applications=argo.generate_applications,
        modules={"validate": validate, "rules": rules, "schemas": schemas, "argo": argo},
    )


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
