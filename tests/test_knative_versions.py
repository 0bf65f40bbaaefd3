"""The Knative versions a service can target: the template's data agrees with the package's
table, the EventPolicy is offered only where it exists, and a 1.15 service moves to 1.23
with `copier update --data knative_version=1.23` (issue 31).

The version table lives twice because Copier renders without importing Python: as
``knative_manifests.versions`` (what ``validate`` reads) and as ``includes/knative.jinja``
(what the templates render). The fetch rows are compared in test_project_files.py; the
rest is compared here through what a render says.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from answers import choice_values, load_questions
from knative_manifests import versions
from knative_manifests.validate import validate_tree
from renderer import CRDS_DIR, Renderer, snapshot_template
from update_helpers import commit_all, new_project, run_cli, status, tree

VERSIONS = list(versions.VERSIONS)


def test_question_offers_the_package_s_versions() -> None:
    question = load_questions()["knative_version"]
    assert sorted(choice_values("knative_version")) == sorted(VERSIONS)
    assert question["default"] == versions.DEFAULT_VERSION


@pytest.mark.parametrize("version", VERSIONS)
def test_a_render_states_its_version_where_validate_and_people_read_it(
    renderer: Renderer, version: str
) -> None:
    entry = versions.get(version)
    root = renderer.render({"knative_version": version})
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["tool"]["knative-manifests"]["knative-version"] == version
    readme = (root / "deployments/knative/README.md").read_text(encoding="utf-8")
    assert f"Kubernetes {entry.kubernetes_version} or later" in readme
    assert f"Knative Serving {version}" in readme
    assert f"({entry.observability.dialect} in Knative {version})" in readme
    assert f"Knative {version}" in (root / "README.md").read_text(encoding="utf-8")
    # validate reads the same version: the render passes that version's CRD sets and rules.
    report = validate_tree(root, CRDS_DIR)
    assert report.ok, "\n".join(map(str, report.violations))


def test_event_policy_admits_only_the_configured_senders(renderer: Renderer) -> None:
    data: dict[str, Any] = {
        "kafka_source": True,
        "event_policy": True,
        "event_policy_senders": ["orders/checkout", "billing/*"],
    }
    root = renderer.render(data)
    path = root / "deployments/knative/eventing/event-policy.yaml"
    policy = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert policy["apiVersion"] == "eventing.knative.dev/v1alpha1"
    assert policy["spec"]["to"] == [
        {"ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "default"}}
    ]
    assert policy["spec"]["from"] == [
        {
            "ref": {
                "apiVersion": "sources.knative.dev/v1beta1",
                "kind": "KafkaSource",
                "name": "hello-events-kafka-source",
            }
        },
        {"sub": "system:serviceaccount:orders:checkout"},
        {"sub": "system:serviceaccount:billing:*"},
    ]
    report = validate_tree(root, CRDS_DIR)
    assert report.ok, "\n".join(map(str, report.violations))
    assert not (renderer.render({}) / path.relative_to(root)).exists()


# ---------------------------------------------------------------------------
# Moving a service from Knative 1.15 to 1.23
# ---------------------------------------------------------------------------
OWNER_ANSWERS: dict[str, Any] = {
    "service_name": "ledger",
    "eventing": True,
    "broker_class": "Kafka",
    "kafka_source": True,
}
OWNER_EDIT = "# prod keeps its own label for the on-call dashboards (owner edit)\n"
EDITED = "deployments/knative/overlays/prod/kustomization.yaml"


@pytest.fixture(scope="module")
def moved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A 1.15 service with an owner edit, updated by the CLI to 1.23 (no --trust); and a
    fresh 1.23 render of the same answers from the same template release."""
    template = snapshot_template(tmp_path_factory.mktemp("template"), tag="9.9.9")
    work = tmp_path_factory.mktemp("moving")
    service = new_project(
        template, work / "ledger", "9.9.9", {**OWNER_ANSWERS, "knative_version": "1.15"}
    )
    edited = service / EDITED
    edited.write_text(edited.read_text(encoding="utf-8") + OWNER_EDIT, encoding="utf-8")
    commit_all(service, "Owner edit")
    done = run_cli("update", "--defaults", "--data", "knative_version=1.23", cwd=service)
    assert done.returncode == 0, done.stdout + done.stderr
    fresh = new_project(
        template, work / "fresh", "9.9.9", {**OWNER_ANSWERS, "knative_version": "1.23"}
    )
    return service, fresh


def test_moved_manifests_equal_a_fresh_1_23_render_plus_the_owner_edit(
    moved: tuple[Path, Path],
) -> None:
    service, fresh = moved
    now, expected = tree(service), tree(fresh)
    manifests = sorted(
        p for p in expected if p.startswith("deployments/") or p == "scripts/fetch-crds.sh"
    )
    assert manifests
    assert sorted(p for p in now if p.startswith("deployments/")) == [
        p for p in manifests if p.startswith("deployments/")
    ]
    for path in manifests:
        want = expected[path] + (OWNER_EDIT.encode() if path == EDITED else b"")
        assert now[path] == want, path
    assert OWNER_EDIT in (service / EDITED).read_text(encoding="utf-8")
    # Everything else equals the fresh render too (the answers file records 1.23).
    different = sorted(p for p in expected if p != EDITED and now.get(p) != expected[p])
    assert different == [], different
    answers = yaml.safe_load((service / ".copier-answers.yml").read_text(encoding="utf-8"))
    assert answers["knative_version"] == "1.23"
    assert status(service).strip(), "the update left its changes for review (not committed)"


def test_moved_service_validates_as_a_1_23_service(moved: tuple[Path, Path]) -> None:
    service, _ = moved
    pyproject = tomllib.loads((service / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["tool"]["knative-manifests"]["knative-version"] == "1.23"
    report = validate_tree(service, CRDS_DIR)
    assert report.ok, "\n".join(map(str, report.violations))
