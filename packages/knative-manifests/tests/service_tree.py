"""Where the tests find the fixture service and the pinned upstream CRDs.

``data/service`` is a small service repository written for these tests: a Knative Service
with its ConfigMap and ServiceAccount, Istio and Eventing components, dev/staging/prod
overlays (prod with the canary layout), Argo CD files, and a pyproject.toml whose
``[tool.knative-manifests]`` names the handler registry in ``src/order_events``. Tests that
change it work on a copy.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parent
SERVICE_ROOT = TESTS_DIR / "data" / "service"
PACKAGE_DIR = TESTS_DIR.parent
REPO_ROOT = PACKAGE_DIR.parents[1]
CRDS_ENV_VAR = "KNATIVE_CRDS_DIR"


def crds_dir() -> Path:
    """The pinned CRDs: $KNATIVE_CRDS_DIR, else <repo>/../shared/crds (read in place)."""
    configured = os.environ.get(CRDS_ENV_VAR)
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "crds"


def copy_service(target: Path) -> Path:
    """A throw-away copy of the fixture service at ``target`` (returned)."""
    shutil.copytree(SERVICE_ROOT, target, dirs_exist_ok=True)
    return target


#: What KnativeServiceConfig requires a service to state (no Knative default exists), for
#: tests about other fields.
REQUIRED_SETTINGS: dict[str, Any] = {
    "cpu_request": "100m",
    "cpu_limit": "500m",
    "memory_request": "128Mi",
    "memory_limit": "256Mi",
    "istio_sidecar": False,
}
