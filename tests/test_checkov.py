"""checkov, offline, on what `kubectl kustomize` builds for every overlay of a few renders.

checkov's Kubernetes checks know Pods, Deployments and the other built-in workloads, not
Knative's ``serving.knative.dev`` Service: run on the raw output alone, no container check
would ever look at the service's pod. So next to each overlay's output the test writes a
"pod view": one ``apps/v1`` Deployment per Knative Service carrying the Service's metadata
(its ``checkov.io/skip*`` annotations included) and its revision template as the pod
template. That is the pod Knative runs, minus the fields only Knative reads. A check that
cannot apply to a Knative Service must be skipped in the manifests with a justification
(``checkov.io/skipN: CKV_ID=why``), never here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from knative_manifests.image import set_digest
from renderer import Renderer

#: A digest as CI would promote it (what the overlays name once the first build shipped).
PROMOTED_DIGEST = "sha256:" + "5e" * 32

_BASES: dict[str, dict[str, Any]] = {
    "defaults": {},
    "service-manager": {"service_manager": True},
    "kafka-broker-and-source": {"eventing": True, "broker_class": "Kafka", "kafka_source": True},
    "rabbitmq": {"eventing": True, "broker_class": "RabbitMQBroker"},
    "no-istio-public-network-policy": {"istio": False, "public": True, "network_policy": True},
}
#: Each base answer set for each Knative version (1.23 is the default), plus the 1.23-only
#: EventPolicy.
REPRESENTATIVE: dict[str, dict[str, Any]] = {
    **{
        f"{name}-{v}": {**data, "knative_version": v}
        for v in ("1.23", "1.15")
        for name, data in _BASES.items()
    },
    "event-policy-1.23": {
        "knative_version": "1.23",
        "kafka_source": True,
        "event_policy": True,
        "event_policy_senders": ["orders/checkout"],
    },
}

#: Fields of a Knative revision spec that a Kubernetes PodSpec does not have.
KNATIVE_ONLY_SPEC_FIELDS = {
    "containerConcurrency",
    "timeoutSeconds",
    "responseStartTimeoutSeconds",
    "idleTimeoutSeconds",
}


def checkov_executable() -> str:
    """checkov from PATH or uv's tool directory; a clear failure when it is not installed."""
    found = shutil.which("checkov")
    if found:
        return found
    candidates = [Path.home() / ".local" / "bin" / "checkov"]
    uv = shutil.which("uv")
    if uv:
        done = subprocess.run([uv, "tool", "dir", "--bin"], capture_output=True, text=True)
        if done.returncode == 0 and done.stdout.strip():
            candidates.insert(0, Path(done.stdout.strip()) / "checkov")
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    pytest.fail(
        "checkov is not installed: `uv tool install checkov` (as .ci/run does) and re-run; "
        "this check is never skipped"
    )


def pod_view(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One Deployment per Knative Service: the pod its revisions run, for checkov's checks."""
    views = []
    for doc in documents:
        if doc.get("kind") != "Service" or not str(doc.get("apiVersion", "")).startswith(
            "serving.knative.dev/"
        ):
            continue
        meta = doc["metadata"]
        template = doc["spec"]["template"]
        template_meta = dict(template.get("metadata") or {})
        selector = {"knative-pod-view": meta["name"]}
        template_meta["labels"] = {**(template_meta.get("labels") or {}), **selector}
        template_meta.pop("name", None)
        pod_spec = {k: v for k, v in template["spec"].items() if k not in KNATIVE_ONLY_SPEC_FIELDS}
        views.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {
                    "name": meta["name"],
                    "namespace": meta.get("namespace"),
                    "labels": meta.get("labels") or {},
                    "annotations": meta.get("annotations") or {},
                },
                "spec": {
                    "selector": {"matchLabels": selector},
                    "template": {"metadata": template_meta, "spec": pod_spec},
                },
            }
        )
    return views


def kustomize(overlay: Path) -> str:
    done = subprocess.run(
        ["kubectl", "kustomize", str(overlay)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"kubectl kustomize {overlay} failed:\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="session")
def checkov_results(
    renderer: Renderer, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """One checkov run over every representative render; results keyed by render id."""
    exe = checkov_executable()
    workdir = tmp_path_factory.mktemp("checkov")
    scan = workdir / "scan"  # what checkov reads; the promoted service copies stay beside it
    for name, data in REPRESENTATIVE.items():
        # The state a cluster gets: CI has written the digest it built into each overlay.
        root = workdir / f"{name}-service"
        shutil.copytree(renderer.render(data), root)
        overlays = sorted((root / "deployments" / "knative" / "overlays").iterdir())
        for overlay in overlays:
            set_digest(root, overlay.name, PROMOTED_DIGEST)
        target = scan / name
        target.mkdir(parents=True)
        assert overlays, f"{name}: no overlay rendered"
        for overlay in overlays:
            built = kustomize(overlay)
            (target / f"{overlay.name}.yaml").write_text(built, encoding="utf-8")
            documents = [d for d in yaml.safe_load_all(built) if d]
            views = pod_view(documents)
            assert views, f"{name}/{overlay.name}: no Knative Service in the build"
            (target / f"{overlay.name}-pod-view.yaml").write_text(
                yaml.safe_dump_all(views, sort_keys=False), encoding="utf-8"
            )
        argocd = root / "deployments" / "argocd"
        if argocd.is_dir():
            for manifest in sorted(argocd.glob("*.yaml")):
                shutil.copy(manifest, target / f"argocd-{manifest.name}")
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "ERROR"}
    done = subprocess.run(
        [exe, "-d", str(scan), "--framework", "kubernetes", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=scan,
        timeout=600,
    )
    assert done.returncode in (0, 1), f"checkov crashed ({done.returncode}):\n{done.stderr[-3000:]}"
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(
            f"checkov printed no JSON report:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    reports = report if isinstance(report, list) else [report]
    by_render: dict[str, dict[str, Any]] = {
        name: {"passed": [], "failed": [], "skipped": [], "parsing_errors": []}
        for name in REPRESENTATIVE
    }
    for part in reports:
        results = part.get("results", {})
        for kind in ("passed", "failed", "skipped"):
            for check in results.get(f"{kind}_checks", []):
                render = check["file_path"].lstrip("/").split("/")[0]
                by_render[render][kind].append(check)
        for path in results.get("parsing_errors", []):
            render = Path(path).relative_to(scan).parts[0] if Path(path).is_absolute() else path
            by_render.setdefault(str(render), {"parsing_errors": []})["parsing_errors"].append(path)
    return by_render


@pytest.mark.slow
@pytest.mark.parametrize("render", list(REPRESENTATIVE))
def test_checkov_finds_no_failed_check(
    render: str, checkov_results: dict[str, dict[str, Any]], deploy_stats: Any
) -> None:
    """Zero failed checks on every overlay's build (skips only in the manifests, justified)."""
    results = checkov_results[render]
    version = REPRESENTATIVE[render]["knative_version"]
    deploy_stats[f"checkov checks passed (Knative {version})"] += len(results["passed"])
    deploy_stats[f"checkov checks failed (Knative {version})"] += len(results["failed"])
    deploy_stats[f"checkov checks skipped in manifests (Knative {version})"] += len(
        results["skipped"]
    )
    assert not results["parsing_errors"], f"checkov could not parse {results['parsing_errors']}"
    # The run looked at the pod (container checks ran), not only at names and namespaces.
    assert any(c["check_id"] == "CKV_K8S_20" for c in results["passed"] + results["failed"]), (
        "checkov ran no container check: the pod view is missing"
    )
    failed = sorted(
        f"{c['check_id']} {c['check_name']!r} on {c['resource']} ({c['file_path']})"
        for c in results["failed"]
    )
    assert not failed, f"{len(failed)} failed checkov checks:\n" + "\n".join(failed)
    for check in results["skipped"]:
        reason = (check.get("check_result") or {}).get("suppress_comment", "")
        assert reason.strip(), f"{check['check_id']} is skipped without a justification"
