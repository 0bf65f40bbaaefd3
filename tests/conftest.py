"""Shared fixtures of the template's own test suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
