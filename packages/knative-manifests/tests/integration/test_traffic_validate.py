"""Every overlay the `traffic` command writes passes `validate` (kustomize + admission rules)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import yaml

from {{ package_name }}.knative import traffic
from {{ package_name }}.knative.validate import validate_tree

PROJECT = Path(__file__).resolve().parents[2]
OVERLAYS = PROJECT / "deployments/knative/overlays"
ENV = "prod" if (OVERLAYS / "prod").is_dir() else sorted(p.name for p in OVERLAYS.iterdir())[0]
CRDS = Path(os.environ["KNATIVE_CRDS_DIR"]) if os.environ.get("KNATIVE_CRDS_DIR") else None


def with_canary_layout(root: Path) -> Path:
    shutil.copytree(PROJECT / "deployments", root / "deployments")
    path = root / traffic.OVERLAYS / ENV / traffic.SERVICE_PATCH
    patch = yaml.safe_load(path.read_text(encoding="utf-8"))
    if "traffic" not in patch["spec"]:  # rendered without canary: add what canary=true renders
        service = patch["metadata"]["name"]
        patch["spec"]["template"].setdefault("metadata", {})["name"] = f"{service}-v1"
        patch["spec"]["traffic"] = [
            {"tag": "stable", "revisionName": f"{service}-v1", "percent": 100},
            {"tag": "canary", "revisionName": f"{service}-v1", "percent": 0},
        ]
        path.write_text(yaml.safe_dump(patch, sort_keys=False), encoding="utf-8")
    return root


def assert_valid(root: Path) -> None:
    report = validate_tree(root, CRDS, [ENV])
    assert report.ok, "\n".join(str(v) for v in report.violations)


def test_the_written_overlays_pass_validate(tmp_path: Path) -> None:
    root = with_canary_layout(tmp_path)
    assert_valid(root)

    for action, kwargs in (
        ("start", {"image": "1.2.0", "percent": 10}),
        ("shift", {"percent": 50}),
        ("rollback", {}),
        ("start", {"image": "1.2.1"}),
        ("promote", {}),
    ):
        traffic.apply(root, ENV, action, **kwargs)  # type: ignore[arg-type]
        assert_valid(root)

    state = traffic.Overlay.load(root, ENV).state()
    assert state.phase == "steady"
    assert state.template_revision.endswith("-v3")
