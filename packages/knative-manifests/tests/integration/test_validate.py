"""`knative-manifests validate` on the fixture service and on broken copies of it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from service_tree import SERVICE_ROOT, copy_service

from knative_manifests import versions
from knative_manifests.cli import main
from knative_manifests.rules import Violation
from knative_manifests.validate import Report, validate_tree

PROJECT_ROOT = SERVICE_ROOT
OVERLAYS = ["dev", "prod", "staging"]


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A throw-away copy of the fixture service to break."""
    return copy_service(tmp_path / "service")


def edit_yaml(path: Path, edit: object) -> None:
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    assert callable(edit)
    edit(docs)
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")


def test_project_validates() -> None:
    report = validate_tree(PROJECT_ROOT)
    assert isinstance(report, Report)
    assert report.ok, "\n".join(map(str, report.violations))
    assert report.warnings == []
    assert report.environments == [*OVERLAYS, "argocd"]
    assert report.documents > len(OVERLAYS)


def test_project_validates_against_the_pinned_crds(crds: Path) -> None:
    report = validate_tree(PROJECT_ROOT, crds)
    assert report.schemas_checked
    assert report.ok, "\n".join(map(str, report.violations))


def test_the_summary_counts_environments_without_argocd() -> None:
    report = validate_tree(PROJECT_ROOT)
    # 3 overlays x 8 documents, plus the AppProject and the ApplicationSet.
    assert report.documents == 26
    assert report.summary() == "26 documents in 3 environments: ok"
    only_argocd = validate_tree(PROJECT_ROOT, envs=["argocd"])
    assert only_argocd.summary() == "2 documents in 0 environments: ok"


def test_the_summary_counts_violations_and_warnings() -> None:
    report = Report(documents=4, environments=["dev", "argocd"])
    report.violations.append(Violation("serving/timeout-range", "too long"))
    report.warnings += [Violation("triggers/handler-unrouted", "a"), Violation("x/y", "b")]
    assert report.summary() == "4 documents in 1 environments: 1 violation(s), 2 warning(s)"
    assert not report.ok
    report.violations.clear()
    assert report.ok
    assert report.summary() == "4 documents in 1 environments: ok, 2 warning(s)"


def test_cli_prints_a_summary_and_exits_0(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KNATIVE_CRDS_DIR", raising=False)
    assert main(["validate", "--root", str(PROJECT_ROOT), "--env", OVERLAYS[0]]) == 0
    out = capsys.readouterr().out
    assert "schema validation skipped" in out
    assert "scripts/fetch-crds.sh" in out
    assert out.rstrip().endswith(": ok")


def test_a_broken_base_fails_in_every_environment(
    project_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = project_copy / "deployments/knative/base/service.yaml"
    edit_yaml(base, lambda docs: docs[0]["spec"]["template"]["spec"].update(timeoutSeconds=900))
    assert main(["validate", "--root", str(project_copy)]) == 1
    lines = [line for line in capsys.readouterr().out.splitlines() if "[serving/" in line]
    assert len(lines) == len(OVERLAYS)
    for env, line in zip(OVERLAYS, sorted(lines), strict=True):
        assert line.startswith(f"{env}: Service/")
        assert "[serving/timeout-range]" in line


def test_env_option_limits_the_check(project_copy: Path) -> None:
    report = validate_tree(project_copy, envs=OVERLAYS[:1])
    assert report.environments == OVERLAYS[:1]
    assert report.ok


def test_a_kustomize_error_is_a_violation(project_copy: Path) -> None:
    overlay = project_copy / "deployments/knative/overlays" / OVERLAYS[0]
    (overlay / "kustomization.yaml").write_text("resources: [../../missing]\n")
    report = validate_tree(project_copy, envs=OVERLAYS[:1])
    assert [v.rule for v in report.violations] == ["kustomize/build"]
    assert report.violations[0].env == overlay.name


def test_an_unresolved_reference_fails(project_copy: Path) -> None:
    base = project_copy / "deployments/knative/base/service.yaml"
    edit_yaml(
        base,
        lambda docs: docs[0]["spec"]["template"]["spec"].update(serviceAccountName="nobody"),
    )
    report = validate_tree(project_copy, envs=OVERLAYS[:1])
    assert {v.rule for v in report.violations} == {"references/service-account"}


def extra_appset(path: str) -> dict[str, object]:
    """An ApplicationSet of one Application syncing ``path`` in project "extra"."""
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": "extra", "namespace": "argocd"},
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [{"list": {"elements": [{"path": path}]}}],
            "template": {
                "metadata": {"name": "extra"},
                "spec": {
                    "project": "extra",
                    "source": {"repoURL": "https://example.com/x.git", "path": "{" + "{.path}}"},
                    "destination": {"server": "https://kubernetes.default.svc", "namespace": "x"},
                },
            },
        },
    }


def extra_project(whitelist: list[dict[str, str]]) -> dict[str, object]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": "extra", "namespace": "argocd"},
        "spec": {
            "sourceRepos": ["*"],
            "destinations": [{"server": "*", "namespace": "*"}],
            "namespaceResourceWhitelist": whitelist,
        },
    }


def write_argocd(root: Path, *docs: dict[str, object]) -> None:
    argocd = root / "deployments/argocd"
    argocd.mkdir(exist_ok=True)
    (argocd / "zz-extra.yaml").write_text(yaml.safe_dump_all(docs), encoding="utf-8")


def test_argocd_paths_must_exist(project_copy: Path) -> None:
    appset = extra_appset("deployments/knative/overlays/qa")
    write_argocd(project_copy, appset, extra_project([{"group": "*", "kind": "*"}]))
    report = validate_tree(project_copy, envs=["argocd"])
    assert report.environments == ["argocd"]
    assert [v.rule for v in report.violations] == ["argocd/source-path-exists"]
    assert "deployments/knative/overlays/qa" in report.violations[0].message


@pytest.mark.parametrize(
    ("whitelist", "expected"),
    [
        ([{"group": "*", "kind": "*"}], set()),
        ([{"group": "serving.knative.dev", "kind": "Service"}], {"argocd/project-allows-kinds"}),
    ],
)
def test_argocd_project_must_allow_every_synced_kind(
    project_copy: Path, whitelist: list[dict[str, str]], expected: set[str]
) -> None:
    path = f"deployments/knative/overlays/{OVERLAYS[0]}"
    write_argocd(project_copy, extra_appset(path), extra_project(whitelist))
    report = validate_tree(project_copy, envs=[OVERLAYS[0], "argocd"])
    assert {v.rule for v in report.violations} == expected
    messages = " ".join(v.message for v in report.violations)
    assert ("core/ConfigMap" in messages) is bool(expected)
    assert "serving.knative.dev/Service" not in messages


def test_schema_check_reports_kinds_without_a_crd(
    project_copy: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With CRD set folders that lack Knative's CRDs, Knative kinds are unknown kinds."""
    crds = tmp_path / "crds"
    for crd_set in versions.get(None).crd_sets:
        (crds / crd_set.folder).mkdir(parents=True)
    args = ["validate", "--root", str(project_copy), "--crds", str(crds), "--env", OVERLAYS[0]]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "[schema/unknown-kind] no schema for serving.knative.dev/v1 Service" in out
    assert "schema validation skipped" not in out


def test_a_crd_directory_without_the_version_s_sets_is_a_usage_error(
    project_copy: Path, crds: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Knative 1.23 CRDs are not in the 1.15 directory: validate says which set is missing."""
    pyproject = project_copy / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(
        text.replace(
            "[tool.knative-manifests]\n", '[tool.knative-manifests]\nknative-version = "1.23"\n'
        ),
        encoding="utf-8",
    )
    assert main(["validate", "--root", str(project_copy), "--crds", str(crds)]) == 2
    out = capsys.readouterr().out
    assert "no CRDs of knative/serving knative-v1.23.0 for Knative 1.23" in out
    assert "scripts/fetch-crds.sh" in out


@pytest.mark.parametrize("version", list(versions.VERSIONS))
def test_fixture_service_validates_against_each_version_s_crds(
    project_copy: Path, crds: Path, version: str
) -> None:
    """The same manifests, stated for each version, pass that version's CRDs and rules
    (read from the shared root, where both versions' sets sit)."""
    pyproject = project_copy / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(
        text.replace(
            "[tool.knative-manifests]\n",
            f'[tool.knative-manifests]\nknative-version = "{version}"\n',
        ),
        encoding="utf-8",
    )
    report = validate_tree(project_copy, crds.parent)
    assert report.ok, "\n".join(map(str, report.violations))
    assert report.schemas_checked


def test_broken_yaml_is_named(project_copy: Path) -> None:
    external = project_copy / "deployments/knative/external-references.yaml"
    external.write_text("- [unclosed\n")
    write_argocd(project_copy)
    (project_copy / "deployments/argocd/zz-extra.yaml").write_text("a: [\n")
    report = validate_tree(project_copy, envs=["argocd"])
    assert sorted(v.rule for v in report.violations) == [
        "argocd/yaml",
        "references/external-file",
    ]
    assert any("zz-extra.yaml is not valid YAML" in v.message for v in report.violations)


def test_missing_crd_directory_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KNATIVE_CRDS_DIR", str(tmp_path / "absent"))
    assert main(["validate", "--root", str(PROJECT_ROOT)]) == 2
