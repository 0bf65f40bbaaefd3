"""Session fixtures: the pinned upstream CRDs, found once and required."""

from __future__ import annotations

from pathlib import Path

import pytest
from service_tree import crds_dir


@pytest.fixture(scope="session")
def crds() -> Path:
    """The directory of pinned CRDs (Knative 1.15, Argo CD 3.0, Istio 1.22).

    Missing CRDs fail the tests that need them: a schema check must never pass by being
    skipped.
    """
    directory = crds_dir()
    if not directory.is_dir():
        pytest.fail(f"CRDs not found at {directory}; set KNATIVE_CRDS_DIR to their directory")
    return directory
