"""The rendered GitHub workflows are hardened, and ship what CI built.

For a set of answer sets that switches every part that changes a workflow (registry host,
environments, eventing, Argo CD, Python version), each rendered workflow must:

* pass zizmor (``--offline``, pedantic persona: every finding, not only the likely ones);
* validate against the GitHub workflow schema (check-jsonschema's vendored copy), and the
  Renovate config against Renovate's;
* pin every action to a full commit SHA with its release in a comment, ask for no
  permission at the top level and explain each one a job asks for, keep no credentials
  in checkouts, and expand no ``${{ }}`` expression inside a shell script;
* deliver in order: image -> sbom -> sign -> verify -> promote.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from renderer import Renderer
from sample_answers import DEFAULTS, KAFKA_HPA_CANARY, MINIMAL, SERVICE_MANAGER

ANSWER_SETS: dict[str, dict[str, Any]] = {
    "defaults": DEFAULTS,
    "service-manager": SERVICE_MANAGER,
    "minimal": MINIMAL,
    "kafka-hpa-canary": KAFKA_HPA_CANARY,
    "docker-hub-two-envs": {
        "image": "acme/orders",
        "environments": ["staging", "prod"],
        "argocd": False,
    },
}
PINNED = re.compile(r"^\s*(?:- )?uses: ([\w.-]+/[\w./-]+)@([0-9a-f]{40}) # v\d+(?:\.\d+)*$")
BIN = Path(sys.executable).parent


def workflows(root: Path) -> list[Path]:
    return sorted((root / ".github" / "workflows").glob("*.yml"))


def zizmor_findings(files: list[Path]) -> list[Any]:
    """zizmor's findings on ``files`` (offline, pedantic persona: every audit reports)."""
    done = subprocess.run(
        [str(BIN / "zizmor"), "--offline", "--persona=pedantic", "--format=json", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    findings: list[Any] = json.loads(done.stdout or "[]")
    assert findings or done.returncode == 0, done.stderr
    return findings


def schema_problems(schema: str, paths: list[Path]) -> str:
    """check-jsonschema's complaints about ``paths`` against a vendored schema ('' if none)."""
    done = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", schema, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return "" if done.returncode == 0 else done.stdout[-4000:] + done.stderr[-2000:]


@pytest.fixture(params=list(ANSWER_SETS), ids=list(ANSWER_SETS))
def rendered(request: pytest.FixtureRequest, renderer: Renderer) -> Path:
    return renderer.render(ANSWER_SETS[request.param])


def test_zizmor_finds_nothing(rendered: Path, deploy_stats: Counter[str]) -> None:
    findings = zizmor_findings(workflows(rendered))
    assert findings == [], json.dumps(findings, indent=1)[:4000]
    deploy_stats["workflows checked by zizmor"] += len(workflows(rendered))


def test_workflows_and_renovate_config_match_their_schemas(
    rendered: Path, deploy_stats: Counter[str]
) -> None:
    for schema, paths in (
        ("vendor.github-workflows", workflows(rendered)),
        ("vendor.renovate", [rendered / "renovate.json"]),
    ):
        assert schema_problems(schema, paths) == "", schema
        deploy_stats["workflow and Renovate files schema-checked"] += len(paths)


def test_every_action_is_pinned_to_a_commit_with_its_release(rendered: Path) -> None:
    for path in workflows(rendered):
        for line in path.read_text(encoding="utf-8").splitlines():
            if re.match(r"^\s*(?:- )?uses:", line):
                assert PINNED.match(line), f"{path.name}: {line.strip()}"


def test_least_privilege_and_no_expression_in_scripts(rendered: Path) -> None:
    for path in workflows(rendered):
        text = path.read_text(encoding="utf-8")
        flow = yaml.safe_load(text)
        assert flow["permissions"] == {}, f"{path.name}: top-level permissions"
        for name, job in flow["jobs"].items():
            assert "permissions" in job, f"{path.name}: job {name} inherits permissions"
            for step in job["steps"]:
                if str(step.get("uses", "")).startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, f"{name}: checkout"
                assert "${{" not in str(step.get("run", "")), f"{name}: {step.get('run')}"
        # Every permission a job asks for says why, on its own line.
        for line in text.splitlines():
            if re.match(r"^\s+(contents|packages|id-token|attestations|pull-requests): ", line):
                assert " # " in line, f"{path.name}: unexplained {line.strip()}"


def test_delivery_runs_image_sbom_sign_verify_promote(rendered: Path) -> None:
    jobs = yaml.safe_load((rendered / ".github/workflows/ci.yml").read_text())["jobs"]
    assert set(
        jobs["sbom"]["needs"]
        if isinstance(jobs["sbom"]["needs"], list)
        else [jobs["sbom"]["needs"]]
    ) == {"image"}
    assert {"image", "sbom"} <= set(jobs["sign"]["needs"])
    assert {"image", "sign"} <= set(jobs["verify"]["needs"])
    assert {"image", "verify"} <= set(jobs["promote"]["needs"])
    assert jobs["sign"]["permissions"]["id-token"] == "write"
    sign = "\n".join(str(s.get("run", "")) for s in jobs["sign"]["steps"])
    assert 'cosign sign --yes "${IMAGE}@${DIGEST}"' in sign
    assert "cosign attest --yes --type spdxjson" in sign
    assert any("attest-build-provenance@" in str(s.get("uses")) for s in jobs["sign"]["steps"])
    verify = "\n".join(str(s.get("run", "")) for s in jobs["verify"]["steps"])
    assert "cosign verify " in verify and "--certificate-oidc-issuer" in verify
    promote = "\n".join(str(s.get("run", "")) for s in jobs["promote"]["steps"])
    assert "knative-manifests image set --env" in promote
    assert '--digest "$DIGEST"' in promote
    # Tags are never deployed: the image job pushes one for people, the overlays get digests.
    assert "digest" in jobs["image"]["outputs"]


def test_dockerfile_base_images_are_pinned_by_digest(rendered: Path) -> None:
    text = (rendered / "Dockerfile").read_text(encoding="utf-8")
    images = re.findall(r"^(?:FROM|COPY --from=)(\S+)", text, flags=re.MULTILINE)
    external = [i for i in images if i != "builder" and not i.startswith("builder ")]
    assert external, text
    for image in external:
        assert re.fullmatch(r"[\w./:-]+@sha256:[0-9a-f]{64}", image), image


@pytest.mark.slow
def test_the_whole_pairwise_matrix_passes_zizmor_and_the_schemas(
    renderer: Renderer, deploy_stats: Counter[str]
) -> None:
    """Every pairwise answer set's workflows and Renovate config, in one run of each tool."""
    from answers import pairwise_answer_sets

    roots = [renderer.render(data) for data in pairwise_answer_sets()]
    files = [path for root in roots for path in workflows(root)]
    findings = zizmor_findings(files)
    assert findings == [], json.dumps(findings, indent=1)[:4000]
    assert schema_problems("vendor.github-workflows", files) == ""
    assert schema_problems("vendor.renovate", [root / "renovate.json" for root in roots]) == ""
    deploy_stats["answer sets whose workflows passed zizmor and the schemas"] += len(roots)


def test_the_checks_catch_an_unpinned_action_and_a_bad_key(
    renderer: Renderer, tmp_path: Path
) -> None:
    """The harness itself: what the tests above must refuse, they do refuse."""
    source = renderer.render(DEFAULTS) / ".github" / "workflows" / "ci.yml"
    text = source.read_text(encoding="utf-8")
    unpinned = tmp_path / "unpinned.yml"
    unpinned.write_text(re.sub(r"actions/checkout@\S+ # \S+", "actions/checkout@v4", text))
    assert any(f["ident"] == "unpinned-uses" for f in zizmor_findings([unpinned]))
    broken = tmp_path / "broken.yml"
    broken.write_text(text.replace("runs-on: ubuntu-latest", "runs-onn: ubuntu-latest", 1))
    assert schema_problems("vendor.github-workflows", [broken]) != ""
