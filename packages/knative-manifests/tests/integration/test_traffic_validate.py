"""Every overlay the `traffic` command writes passes `validate` (kustomize, schemas, rules)."""

from __future__ import annotations

from pathlib import Path

from service_tree import copy_service

from knative_manifests import traffic
from knative_manifests.validate import validate_tree

ENV = "prod"
D150, D151 = "sha256:" + "15" * 32, "sha256:" + "51" * 32


def assert_valid(root: Path, crds: Path) -> None:
    report = validate_tree(root, crds, [ENV])
    assert report.ok, "\n".join(str(v) for v in report.violations)
    assert report.environments == [ENV]


def test_the_written_overlays_pass_validate(tmp_path: Path, crds: Path) -> None:
    root = copy_service(tmp_path / "service")
    assert_valid(root, crds)

    for action, kwargs in (
        ("start", {"image": D150, "percent": 10}),
        ("shift", {"percent": 50}),
        ("rollback", {}),
        ("start", {"image": D151}),
        ("promote", {}),
    ):
        traffic.apply(root, ENV, action, **kwargs)
        assert_valid(root, crds)

    state = traffic.Overlay.load(root, ENV).state()
    assert state.phase == "steady"
    assert state.template_revision == "order-events-v3"
    assert state.image.reference() == f"ghcr.io/acme/order-events@{D151}"
