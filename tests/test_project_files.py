"""The rendered project's own files: Dockerfile, Makefile, CI, pre-commit, scripts.

No Docker engine or GitHub runner exists here, so each file is checked for what it says
(parsed, not grepped where a parser exists) and, where it can run locally, run: the
Makefile under ``make -n``, the container's start command under ``sh``, the CI's shell
steps under ``bash -n``, the conflict checker and the CRD fetcher for real.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from renderer import SHARED, Renderer
from sample_answers import DEFAULTS, KAFKA_HPA_CANARY, MINIMAL, SERVICE_MANAGER, package_of

PYTHON_SETS = {"3.11": SERVICE_MANAGER, "3.12": DEFAULTS, "3.13": MINIMAL}
RABBITMQ_NO_ARGO: dict[str, Any] = {
    "service_name": "rabbit-hole",
    "broker_class": "RabbitMQBroker",
    "argocd": False,
}


def answer(answers: dict[str, Any], name: str) -> Any:
    """The answer, or the default copier.yml gives when it was not passed."""
    defaults = {"python_version": "3.12", "port": 8080, "timeout_seconds": 300}
    return answers.get(name, defaults.get(name))


# ---------------------------------------------------------------------------
# Dockerfile
# ---------------------------------------------------------------------------
def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped and continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    assert not pending, "Dockerfile ends inside a continued line"
    return instructions


def stages(path: Path) -> list[list[tuple[str, str]]]:
    """The Dockerfile's instructions split at each FROM (each stage starts with its FROM)."""
    result: list[list[tuple[str, str]]] = []
    for instruction in dockerfile_instructions(path):
        if instruction[0] == "FROM":
            result.append([])
        assert result, "an instruction before the first FROM"
        result[-1].append(instruction)
    return result


@pytest.mark.parametrize("python_version", list(PYTHON_SETS))
def test_dockerfile_is_multi_stage_uv_on_the_chosen_python(
    renderer: Renderer, python_version: str
) -> None:
    answers = PYTHON_SETS[python_version]
    found = stages(renderer.render(answers) / "Dockerfile")
    assert len(found) >= 2
    froms = [stage[0][1] for stage in found]
    digest = r"@sha256:[0-9a-f]{64}"
    assert all(re.match(rf"python:{python_version}-slim{digest} AS ", f) for f in froms), froms
    builder = found[0]
    copies = [args for kw, args in builder if kw == "COPY"]
    uv_copy = [c for c in copies if c.startswith("--from=ghcr.io/astral-sh/uv:")]
    assert uv_copy, "the builder takes uv from its official image"
    pinned = r"--from=ghcr\.io/astral-sh/uv:\d+\.\d+\.\d+@sha256:[0-9a-f]{64} "
    assert re.match(pinned, uv_copy[0]), "uv is pinned by version and digest"
    runs = " ".join(args for kw, args in builder if kw == "RUN")
    assert "uv sync" in runs
    assert "--no-dev" in runs
    env = " ".join(args for kw, args in builder if kw == "ENV")
    assert "UV_PYTHON_DOWNLOADS=never" in env
    assert "UV_COMPILE_BYTECODE=1" in env


@pytest.mark.parametrize("answers", [DEFAULTS, MINIMAL], ids=["defaults", "minimal"])
def test_dockerfile_runtime_is_non_root_and_listens_on_port(
    renderer: Renderer, answers: dict[str, Any]
) -> None:
    runtime = stages(renderer.render(answers) / "Dockerfile")[-1]
    keywords = [kw for kw, _ in runtime]
    users = [args for kw, args in runtime if kw == "USER"]
    assert users, "the runtime stage sets USER"
    assert users[-1].split(":")[0] == "10001", "numeric non-root uid, so runAsNonRoot can check"
    assert keywords.index("USER") < keywords.index("CMD")
    assert "--uid 10001" in " ".join(args for kw, args in runtime if kw == "RUN")
    port = answer(answers, "port")
    assert ("EXPOSE", str(port)) in runtime
    env = " ".join(args for kw, args in runtime if kw == "ENV")
    assert f"PORT={port}" in env
    assert "PYTHONDONTWRITEBYTECODE=1" in env, "a read-only root filesystem gets no .pyc"
    # Only the virtual environment crosses from the builder: no source tree, no uv.
    copies = [args for kw, args in runtime if kw == "COPY"]
    assert copies == ["--from=builder /app/.venv /app/.venv"]


def container_command(root: Path) -> list[str]:
    """The runtime stage's CMD, which must be the exec (JSON) form."""
    cmd = [args for kw, args in stages(root / "Dockerfile")[-1] if kw == "CMD"]
    assert len(cmd) == 1
    parsed = json.loads(cmd[0])
    assert isinstance(parsed, list)
    return [str(part) for part in parsed]


@pytest.mark.parametrize("answers", [DEFAULTS, MINIMAL], ids=["defaults", "minimal"])
def test_container_command_reads_port_at_start(
    renderer: Renderer, tmp_path: Path, answers: dict[str, Any]
) -> None:
    """Run the CMD under sh with a stand-in uvicorn that prints its arguments."""
    root = renderer.render(answers)
    command = container_command(root)
    assert command[:2] == ["sh", "-c"]
    fake = tmp_path / "bin" / "uvicorn"
    fake.parent.mkdir()
    fake.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n', encoding="utf-8")
    fake.chmod(0o755)
    env = {"PATH": f"{fake.parent}:/usr/bin:/bin"}

    def args_with(extra: dict[str, str]) -> list[str]:
        done = subprocess.run(
            command, env={**env, **extra}, capture_output=True, text=True, check=True
        )
        return done.stdout.splitlines()

    args = args_with({"PORT": "31337"})
    assert args[0] == f"{package_of(answers)}.main:app"
    assert args[args.index("--port") + 1] == "31337"
    assert args[args.index("--host") + 1] == "0.0.0.0"
    assert args[args.index("--loop") + 1] == "uvloop"
    assert args[args.index("--http") + 1] == "knative_events.server:BoundedHttpToolsProtocol"
    assert "--no-access-log" in args
    grace = int(args[args.index("--timeout-graceful-shutdown") + 1])
    assert 0 < grace < answer(answers, "timeout_seconds")
    unset = args_with({})
    assert unset[unset.index("--port") + 1] == str(answer(answers, "port"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env_pairs(instructions: list[tuple[str, str]]) -> dict[str, str]:
    """The KEY=value pairs of a stage's ENV instructions, in order."""
    pairs: dict[str, str] = {}
    for keyword, args in instructions:
        if keyword == "ENV":
            for token in shlex.split(args):
                key, _, value = token.partition("=")
                pairs[key] = value
    return pairs


@pytest.fixture(scope="module")
def image_venv(renderer: Renderer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Replay the builder stage outside Docker: its COPY and RUN lines, with its ENV.

    Two things differ from the image and only these: the interpreter is this suite's
    (uv may not download another one here) and the environment lands in a temporary
    directory instead of /app/.venv. uv resolves from PyPI (or its cache) as in the image.
    """
    root = renderer.render(DEFAULTS)
    builder = stages(root / "Dockerfile")[0]
    work = tmp_path_factory.mktemp("image") / "app"
    work.mkdir()
    venv = work.parent / "venv"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("UV_", "VIRTUAL_ENV"))},
        **env_pairs(builder),
        "UV_PYTHON": sys.executable,
        "UV_PROJECT_ENVIRONMENT": str(venv),
    }
    assert env["UV_PYTHON_DOWNLOADS"] == "never"
    for keyword, args in builder[1:]:
        if keyword == "COPY" and not args.startswith("--from="):
            *sources, _ = shlex.split(args)
            for pattern in sources:
                for source in root.glob(pattern):
                    if source.is_dir():
                        shutil.copytree(source, work / source.name)
                    else:
                        shutil.copy(source, work / source.name)
        elif keyword == "RUN":
            command = " ".join(t for t in shlex.split(args, posix=False) if "--mount=" not in t)
            done = subprocess.run(
                ["sh", "-c", command],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert done.returncode == 0, f"RUN {command}\n{done.stderr[-3000:]}"
    return venv


def test_builder_installs_the_service_as_a_package(image_venv: Path, tmp_path: Path) -> None:
    """The runtime stage gets only the venv: the code must be in it, not in src/."""
    pkg = package_of(DEFAULTS)
    python = image_venv / "bin" / "python"
    assert (image_venv / "bin" / "uvicorn").is_file()
    done = subprocess.run(
        [str(python), "-c", f"import {pkg}.main, uvloop, httptools; print({pkg}.__file__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert str(image_venv) in done.stdout, "installed into the venv, not editable from src/"
    # --no-dev: the test tools stay out of the image.
    for tool in ("pytest", "mypy", "ruff", "hypothesis"):
        probe = subprocess.run(
            [str(python), "-c", f"import {tool}"], capture_output=True, check=False
        )
        assert probe.returncode != 0, f"{tool} is in the image's environment"


def test_container_command_serves_the_app_and_stops_on_sigterm(
    renderer: Renderer, image_venv: Path, tmp_path: Path
) -> None:
    """The image's exact start command and runtime ENV, on the environment the builder made.

    The environment is made read-only first: the runtime stage writes nothing but /tmp.
    """
    root = renderer.render(DEFAULTS)
    runtime = stages(root / "Dockerfile")[-1]
    port = free_port()
    env = {
        **env_pairs(runtime),
        "PATH": f"{image_venv / 'bin'}:/usr/bin:/bin",
        "PORT": str(port),
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path),
    }
    before = sorted(p.as_posix() for p in image_venv.rglob("*"))
    subprocess.run(["chmod", "-R", "a-w", str(image_venv)], check=True)
    # --host 0.0.0.0 is what the container needs; here it is only reached on 127.0.0.1.
    proc = subprocess.Popen(
        container_command(root),
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        status = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/health/live", timeout=2
                ) as response:
                    status = response.status
                break
            except OSError:
                time.sleep(0.2)
        if status != 200:
            os.killpg(proc.pid, signal.SIGKILL)
            output = proc.communicate()[0].decode(errors="replace")
            pytest.fail(f"the container command never served /health/live:\n{output[-3000:]}")
        proc.send_signal(signal.SIGTERM)  # what Knative sends; exec made uvicorn PID 1
        # uvicorn drains, shuts the app down, then re-raises the signal it caught.
        assert proc.wait(timeout=20) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        subprocess.run(["chmod", "-R", "u+w", str(image_venv)], check=True)
    output = proc.stdout.read().decode() if proc.stdout else ""
    assert "Traceback" not in output
    assert "Application shutdown complete" in output, output[-2000:]
    assert sorted(p.as_posix() for p in image_venv.rglob("*")) == before
    # --no-access-log: the probe request above must not be logged line by line.
    assert "GET /health/live" not in output, "access log is on despite --no-access-log"


def test_dockerignore_keeps_what_the_build_copies_and_drops_the_rest(
    renderer: Renderer,
) -> None:
    root = renderer.render(DEFAULTS)
    patterns = [
        line.strip()
        for line in (root / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for excluded in (".git", ".venv", ".crds", "tests", "deployments", ".env", "*.rej"):
        assert excluded in patterns
    copied = {"pyproject.toml", "uv.lock", "README.md", "src"}
    from fnmatch import fnmatch

    clash = [(c, p) for c in copied for p in patterns if fnmatch(c, p.lstrip("*/"))]
    assert clash == []


# ---------------------------------------------------------------------------
# Makefile
# ---------------------------------------------------------------------------
def make_dry(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def make_targets(root: Path) -> set[str]:
    text = (root / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][a-z-]*):", text, flags=re.MULTILINE))


def test_makefile_targets_run_the_project_commands(renderer: Renderer, tmp_path: Path) -> None:
    root = renderer.render(DEFAULTS)
    pkg = package_of(DEFAULTS)
    targets = make_targets(root)
    assert {"run", "test", "lint", "format", "typecheck", "validate", "crds", "image"} <= targets
    assert make_dry(root, "test").split("\n")[0] == "uv run pytest"
    assert make_dry(root, "lint").splitlines() == [
        "uv run ruff check .",
        "uv run ruff format --check .",
    ]
    assert make_dry(root, "typecheck").strip() == "uv run mypy"
    assert f"uvicorn {pkg}.main:app --reload" in make_dry(root, "run")
    assert make_dry(root, "validate").strip() == "uv run knative-manifests validate"
    assert make_dry(root, "crds").strip() == "scripts/fetch-crds.sh .crds"
    assert "docker build -t ghcr.io/example/hello-events:" in make_dry(root, "image")
    # With fetched CRDs, validate checks against them.
    copy = tmp_path / "svc"
    copy.mkdir()
    shutil.copy(root / "Makefile", copy / "Makefile")
    (copy / ".crds").mkdir()
    assert make_dry(copy, "validate").strip().endswith("validate --crds .crds")
    help_text = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=root, capture_output=True, text=True
    ).stdout
    for target in ("run", "test", "lint", "validate"):
        assert re.search(rf"^\s+{target}\s+\S", help_text, flags=re.MULTILINE), target


FAKE_UV = """#!/bin/sh
# Stand-in for uv: `uv run CMD...` runs CMD from the suite's environment (first on PATH).
[ "$1" = run ] || {{ echo "fake uv: only 'uv run' is supported, not: $*" >&2; exit 2; }}
shift
exec "$@"
"""


def make_for_real(project: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run make with `uv run` mapped onto this suite's environment (PYTHONPATH=src)."""
    bin_dir = tmp_path / "fake-bin"
    if not bin_dir.exists():
        bin_dir.mkdir()
        (bin_dir / "uv").write_text(FAKE_UV.format(), encoding="utf-8")
        (bin_dir / "uv").chmod(0o755)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PYTHONPATH": str(project / "src"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_make_lint_and_validate_run_for_real(renderer: Renderer, tmp_path: Path) -> None:
    project = tmp_path / "svc"
    shutil.copytree(renderer.render(DEFAULTS), project)
    done = make_for_real(project, tmp_path, "lint", "validate")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All checks passed!" in done.stdout
    # A broken manifest makes `make validate` fail.
    service = project / "deployments/knative/base/service.yaml"
    service.write_text(
        service.read_text(encoding="utf-8").replace(
            "containerConcurrency:", "containerConcurrency: -1 #"
        ),
        encoding="utf-8",
    )
    broken = make_for_real(project, tmp_path, "validate")
    assert broken.returncode != 0, broken.stdout


def test_make_canary_targets_drive_the_traffic_command(renderer: Renderer, tmp_path: Path) -> None:
    """start, shift, status, promote through make; every step leaves overlays validate accepts."""
    project = tmp_path / "svc"
    shutil.copytree(renderer.render(KAFKA_HPA_CANARY), project)
    digest = "sha256:" + "0123abcd" * 8  # overlays name digests, never tags
    image = f"{KAFKA_HPA_CANARY['image']}@{digest}"
    prod = project / "deployments/knative/overlays/prod"
    before = {p: p.read_bytes() for p in prod.rglob("*.yaml")}
    started = make_for_real(project, tmp_path, "canary-start", f"IMAGE={image}", "validate")
    assert started.returncode == 0, started.stdout + started.stderr
    after = {p: p.read_bytes() for p in prod.rglob("*.yaml")}
    assert after != before, "canary-start changed nothing in the prod overlay"
    assert any(digest.encode() in content for content in after.values())
    for step in (["canary-shift", "PERCENT=50"], ["canary-status"], ["canary-promote"]):
        done = make_for_real(project, tmp_path, *step, "validate")
        assert done.returncode == 0, f"make {step}: {done.stdout + done.stderr}"
    status = make_for_real(project, tmp_path, "canary-status")
    assert "prod" in status.stdout
    # A refused request fails the target and writes nothing.
    kept = {p: p.read_bytes() for p in prod.rglob("*.yaml")}
    refused = make_for_real(project, tmp_path, "canary-shift", "PERCENT=150")
    assert refused.returncode != 0
    assert {p: p.read_bytes() for p in prod.rglob("*.yaml")} == kept


def test_canary_targets_only_with_canary(renderer: Renderer) -> None:
    canary_targets = {
        "canary-status",
        "canary-start",
        "canary-shift",
        "canary-promote",
        "canary-rollback",
    }
    assert make_targets(renderer.render(DEFAULTS)).isdisjoint(canary_targets)
    root = renderer.render(KAFKA_HPA_CANARY)
    assert canary_targets <= make_targets(root)
    traffic = "uv run knative-manifests traffic"
    start = make_dry(root, "canary-start", "IMAGE=registry.example.com/shop/order-stream:abc")
    assert (
        f"{traffic} start --env prod --image registry.example.com/shop/order-stream:abc"
        " --percent 10" in start
    )
    assert f"{traffic} shift --env prod --percent 40" in make_dry(
        root, "canary-shift", "PERCENT=40"
    )
    assert f"{traffic} promote --env prod" in make_dry(root, "canary-promote")
    assert f"{traffic} rollback --env prod" in make_dry(root, "canary-rollback")
    assert f"{traffic} status --env prod" in make_dry(root, "canary-status")
    # A shell's ENV variable (POSIX start-up file) must not redirect the canary.
    shell_env = subprocess.run(
        ["make", "--no-print-directory", "-n", "canary-promote"],
        cwd=root,
        env={**os.environ, "ENV": "/etc/shrc"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert f"{traffic} promote --env prod" in shell_env.stdout
    # Without IMAGE the target stops before running anything, and says why.
    done = subprocess.run(
        ["make", "--no-print-directory", "canary-start"],
        cwd=root,
        capture_output=True,
        text=True,
        env={**os.environ, "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode != 0
    assert "IMAGE is required" in done.stderr


# ---------------------------------------------------------------------------
# GitHub Actions
# ---------------------------------------------------------------------------
def workflow(root: Path) -> dict[str, Any]:
    text = (root / ".github/workflows/ci.yml").read_text(encoding="utf-8")
    assert "{%" not in text
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict)
    return loaded


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job["steps"])


def run_text(job: dict[str, Any]) -> str:
    return "\n".join(str(s.get("run", "")) for s in steps(job))


@pytest.mark.parametrize(
    "answers",
    [DEFAULTS, MINIMAL, KAFKA_HPA_CANARY, RABBITMQ_NO_ARGO],
    ids=["defaults", "minimal", "kafka", "rabbitmq"],
)
def test_ci_workflow_has_every_job(renderer: Renderer, answers: dict[str, Any]) -> None:
    root = renderer.render(answers)
    flow = workflow(root)
    python_version = answer(answers, "python_version")
    # YAML 1.1 reads the key `on` as True.
    triggers = flow.get("on", flow.get(True))
    assert {"push", "pull_request"} <= set(triggers)
    jobs = flow["jobs"]
    assert {"conflicts", "lint", "typecheck", "test", "validate", "kubeconform", "image"} <= set(
        jobs
    )
    assert flow["env"]["PYTHON_VERSION"] == python_version
    for name, job in jobs.items():
        for step in steps(job):
            if "uses" in step:
                assert re.search(r"@[0-9a-f]{40}$", step["uses"]), f"{name}: {step['uses']}"
            if step.get("uses", "").startswith("actions/setup-python"):
                version = str(step["with"]["python-version"])
                assert version in {"${{ env.PYTHON_VERSION }}", "${{ matrix.python }}"}
    assert sorted(jobs["test"]["strategy"]["matrix"]["python"]) == sorted({"3.11", python_version})
    assert flow["env"]["UV_PYTHON"] == python_version
    assert jobs["test"]["env"]["UV_PYTHON"] == "${{ matrix.python }}"
    assert "uv run ruff check" in run_text(jobs["lint"])
    assert "uv run ruff format --check ." in run_text(jobs["lint"])
    assert "uv run mypy" in run_text(jobs["typecheck"])
    assert "uv run pytest" in run_text(jobs["test"])
    assert "python3 scripts/check_conflicts.py" in run_text(jobs["conflicts"])
    validate = run_text(jobs["validate"])
    assert "scripts/fetch-crds.sh .crds" in validate
    assert "uv run knative-manifests validate --crds .crds" in validate


@pytest.mark.parametrize(
    "answers",
    [DEFAULTS, MINIMAL, RABBITMQ_NO_ARGO],
    ids=["defaults", "minimal", "rabbitmq"],
)
def test_kubeconform_checks_every_overlay_with_the_crd_catalog(
    renderer: Renderer, answers: dict[str, Any]
) -> None:
    root = renderer.render(answers)
    script = run_text(workflow(root)["jobs"]["kubeconform"])
    assert "-strict" in script
    assert "-schema-location default" in script
    assert (
        "-schema-location 'https://raw.githubusercontent.com/datreeio/CRDs-catalog/main/"
        "{{.Group}}/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json'" in script
    )
    assert "deployments/knative/overlays/*/" in script
    argocd = answers.get("argocd", True)
    assert ("deployments/argocd/" in script) == argocd
    assert (root / "deployments/argocd").is_dir() == argocd
    rabbit = answers.get("broker_class") == "RabbitMQBroker" and answers.get("eventing", True)
    assert ('skip="-skip RabbitmqBrokerConfig"' in script) == rabbit


FAKE_KUBECONFORM = """#!{python}
import pathlib, sys, yaml
log = pathlib.Path(sys.argv[0]).with_name("calls.log")
docs = [d for d in yaml.safe_load_all(open(sys.argv[-1], encoding="utf-8")) if d]
kinds = sorted({{d["kind"] for d in docs}})
with log.open("a") as out:
    out.write(" ".join(sys.argv[1:-1]) + " | " + ",".join(kinds) + "\\n")
sys.exit(1 if "{fail_kind}" in kinds else 0)
"""


@pytest.mark.parametrize("answers", [DEFAULTS, RABBITMQ_NO_ARGO], ids=["defaults", "no-argocd"])
def test_kubeconform_step_feeds_every_built_overlay(
    renderer: Renderer, tmp_path: Path, answers: dict[str, Any]
) -> None:
    """Run the job's script with a stand-in kubeconform that records what it was given."""
    root = renderer.render(answers)
    job = workflow(root)["jobs"]["kubeconform"]
    script = next(s["run"] for s in steps(job) if s.get("name", "").startswith("Check every"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()

    def run_step(fail_kind: str) -> subprocess.CompletedProcess[str]:
        fake = bin_dir / "kubeconform"
        fake.write_text(
            FAKE_KUBECONFORM.format(python=sys.executable, fail_kind=fail_kind), encoding="utf-8"
        )
        fake.chmod(0o755)
        (bin_dir / "calls.log").unlink(missing_ok=True)
        return subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            cwd=root,
            env={
                **os.environ,
                "PATH": f"{bin_dir}:{os.environ['PATH']}",
                "RUNNER_TEMP": str(tmp_path),
            },
            capture_output=True,
            text=True,
            timeout=120,
        )

    done = run_step(fail_kind="NoSuchKind")
    assert done.returncode == 0, done.stdout + done.stderr
    calls = (bin_dir / "calls.log").read_text(encoding="utf-8").splitlines()
    environments = answers.get("environments", ["dev", "staging", "prod"])
    argocd = answers.get("argocd", True)
    assert len(calls) == len(environments) + (1 if argocd else 0)
    for call in calls:
        flags, kinds = call.split(" | ")
        assert "-strict" in flags
        assert "Service" in kinds.split(",") or "ApplicationSet" in kinds.split(",")
    if argocd:
        assert any("AppProject" in call and "ApplicationSet" in call for call in calls)
    # One failing overlay fails the job, after every overlay was still checked.
    failing = run_step(fail_kind="Service")
    assert failing.returncode != 0
    assert len((bin_dir / "calls.log").read_text(encoding="utf-8").splitlines()) == len(calls)


def test_ci_shell_steps_are_valid_bash(renderer: Renderer, tmp_path: Path) -> None:
    for answers in (DEFAULTS, KAFKA_HPA_CANARY):
        flow = workflow(renderer.render(answers))
        for name, job in flow["jobs"].items():
            for number, step in enumerate(steps(job)):
                if "run" not in step:
                    continue
                script = tmp_path / f"{name}-{number}.sh"
                script.write_text(step["run"], encoding="utf-8")
                done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
                assert done.returncode == 0, f"{name} step {number}: {done.stderr}"


@pytest.mark.parametrize(
    ("answers", "registry", "password"),
    [
        (DEFAULTS, "ghcr.io", "${{ secrets.GITHUB_TOKEN }}"),
        (KAFKA_HPA_CANARY, "registry.example.com", "${{ secrets.REGISTRY_PASSWORD }}"),
        ({"image": "acme/hello-events"}, "docker.io", "${{ secrets.REGISTRY_PASSWORD }}"),
    ],
    ids=["ghcr", "own-registry", "docker-hub"],
)
def test_image_job_pushes_the_commit_from_main_only(
    renderer: Renderer, answers: dict[str, Any], registry: str, password: str
) -> None:
    job = workflow(renderer.render(answers))["jobs"]["image"]
    assert job["permissions"]["packages"] == "write"
    assert {"lint", "typecheck", "test", "validate", "kubeconform"} <= set(job["needs"])
    by_action = {s["uses"].split("@")[0]: s for s in steps(job) if "uses" in s}
    login = by_action["docker/login-action"]
    assert login["with"]["registry"] == registry
    assert login["with"]["password"] == password
    assert "refs/heads/main" in login["if"]
    build = by_action["docker/build-push-action"]["with"]
    image = answers.get("image", "ghcr.io/example/hello-events")
    assert workflow(renderer.render(answers))["env"]["IMAGE"] == image
    assert build["tags"] == "${{ env.IMAGE }}:${{ github.sha }}"
    assert build["push"] == "${{ github.event_name == 'push' && github.ref == 'refs/heads/main' }}"
    assert "uv lock" in run_text(job)


# ---------------------------------------------------------------------------
# pre-commit and the conflict checker
# ---------------------------------------------------------------------------
def test_pre_commit_runs_ruff_mypy_and_the_conflict_check(renderer: Renderer) -> None:
    root = renderer.render(DEFAULTS)
    config = yaml.safe_load((root / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert {"ruff-check", "ruff-format", "mypy", "no-merge-leftovers"} <= set(hooks)
    assert all(repo["repo"] == "local" or repo.get("rev") for repo in config["repos"])
    assert hooks["mypy"]["entry"] == "uv run mypy"
    check = hooks["no-merge-leftovers"]
    assert check["entry"] == "python scripts/check_conflicts.py"
    assert check["always_run"] is True
    assert check["pass_filenames"] is False


def conflict_check(script: Path, *paths: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(script), *map(str, paths)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_conflict_check_passes_a_clean_render(renderer: Renderer) -> None:
    root = renderer.render(DEFAULTS)
    done = conflict_check(root / "scripts/check_conflicts.py", cwd=root)
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        (
            "service.yaml",
            "a: 1\n<<<<<<< before updating\nb: 2\n=======\nb: 3\n>>>>>>> after updating\n",
            "service.yaml:2: merge conflict marker <<<<<<<",
        ),
        ("main.py", "x = 1\n>>>>>>> after updating\n", "main.py:2: merge conflict marker >>>>>>>"),
        ("notes.md", "a\n||||||| base\nb\n", "notes.md:2: merge conflict marker |||||||"),
        ("Makefile.rej", "@@ -1 +1 @@\n", "Makefile.rej: rejected patch"),
        ("pyproject.toml.rej", "", "pyproject.toml.rej: rejected patch"),
    ],
)
def test_conflict_check_fails_on_markers_and_rej_files(
    renderer: Renderer, tmp_path: Path, name: str, content: str, expected: str
) -> None:
    script = renderer.render(DEFAULTS) / "scripts/check_conflicts.py"
    tree = tmp_path / "repo"
    (tree / "deep" / "er").mkdir(parents=True)
    (tree / "clean.py").write_text("print('fine')\n", encoding="utf-8")
    (tree / "deep" / "er" / name).write_text(content, encoding="utf-8")
    done = conflict_check(script, cwd=tree)
    assert done.returncode == 1
    assert expected in done.stderr
    assert "deep/er/" in done.stderr
    assert "clean.py" not in done.stderr


def test_conflict_check_ignores_look_alikes_and_tool_directories(
    renderer: Renderer, tmp_path: Path
) -> None:
    script = renderer.render(DEFAULTS) / "scripts/check_conflicts.py"
    tree = tmp_path / "repo"
    (tree / ".venv" / "lib").mkdir(parents=True)
    (tree / ".venv" / "lib" / "x.py").write_text("<<<<<<< vendored\n", encoding="utf-8")
    (tree / ".git").mkdir()
    (tree / ".git" / "stash.rej").write_text("", encoding="utf-8")
    # A Markdown heading underline and markers inside a line are not conflicts.
    (tree / "README.md").write_text("Title\n=======\n\nsay `<<<<<<< ` to grep\n", encoding="utf-8")
    done = conflict_check(script, cwd=tree)
    assert (done.returncode, done.stderr) == (0, "")
    # Explicit paths are checked too; a missing one is an error of its own.
    (tree / "bad.txt").write_text("<<<<<<< ours\n", encoding="utf-8")
    assert conflict_check(script, tree / "README.md", cwd=tree).returncode == 0
    assert conflict_check(script, tree / "bad.txt", cwd=tree).returncode == 1
    missing = conflict_check(script, tree / "nope", cwd=tree)
    assert missing.returncode == 2
    assert "no such path" in missing.stderr


# ---------------------------------------------------------------------------
# The CRD fetcher
# ---------------------------------------------------------------------------
def fetch_table(script: Path) -> list[tuple[str, str, str, str, str]]:
    """The (folder, repository, tag, path, file) rows the script downloads."""
    text = script.read_text(encoding="utf-8")
    block = text.split('sources="', 1)[1].split('"', 1)[0]
    rows = [tuple(line.split("|")) for line in block.strip().splitlines()]
    assert all(len(row) == 5 for row in rows)
    return rows  # type: ignore[return-value]


KNATIVE_VERSIONS = ("1.23", "1.15")


def version_entry(version: str) -> Any:
    from knative_manifests import versions

    return versions.get(version)


def shared_readme_pins() -> dict[str, tuple[str, str]]:
    """folder -> (repository, tag) from the provenance tables of ../shared's CRD READMEs.

    The 1.23 README names its folders serving/eventing/kafka/rabbitmq under
    crds-knative-1.23/; they are keyed by that shared path here.
    """
    pins: dict[str, tuple[str, str]] = {}
    for readme, prefix in (("crds", "crds/"), ("crds-knative-1.23", "crds-knative-1.23/")):
        for line in (SHARED / readme / "README.md").read_text(encoding="utf-8").splitlines():
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if len(cells) == 4 and (SHARED / readme / cells[0]).is_dir():
                tag = cells[2].removesuffix("(see note)").strip()
                pins[prefix + cells[0]] = (cells[1], tag)
    return pins


@pytest.mark.parametrize("version", KNATIVE_VERSIONS)
def test_fetch_crds_pins_the_upstream_versions_of_the_shared_readmes(
    renderer: Renderer, version: str
) -> None:
    """The script's rows are the package's table for the version, whose repositories and
    tags are those the shared READMEs give for the pinned copies."""
    rows = fetch_table(
        renderer.render({**DEFAULTS, "knative_version": version}) / "scripts/fetch-crds.sh"
    )
    entry = version_entry(version)
    expected = [
        (s.folder, s.repository, s.tag, f.path, f.name) for s in entry.crd_sets for f in s.files
    ]
    assert rows == expected
    pins = shared_readme_pins()
    for crd_set in entry.crd_sets:
        assert pins[crd_set.shared] == (crd_set.repository, crd_set.tag), crd_set.shared
        assert all(f.path.endswith(".yaml") for f in crd_set.files)


def mirror_upstream(version: str, root: Path) -> Path:
    """Lay the shared CRD copies of ``version`` out as raw.githubusercontent.com serves them."""
    for crd_set in version_entry(version).crd_sets:
        for crd_file in crd_set.files:
            target = root / crd_set.repository / crd_set.tag / crd_file.path
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(SHARED / crd_set.shared / crd_file.name, target)
    return root


def run_fetch(
    script: Path, work: Path, mirror: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(script), *args],
        cwd=work,
        env={**os.environ, "CRDS_BASE_URL": mirror.as_uri()},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("version", KNATIVE_VERSIONS)
def test_fetch_crds_downloads_every_file_into_the_cache(
    renderer: Renderer, tmp_path: Path, version: str
) -> None:
    root = renderer.render({**DEFAULTS, "knative_version": version})
    script = root / "scripts/fetch-crds.sh"
    rows = fetch_table(script)
    mirror = mirror_upstream(version, tmp_path / "mirror")
    work = tmp_path / "svc"
    work.mkdir()
    done = run_fetch(script, work, mirror)
    assert done.returncode == 0, done.stderr
    fetched = {p.relative_to(work / ".crds").as_posix() for p in (work / ".crds").rglob("*.yaml")}
    expected = {f"{folder}/{name}" for folder, _, _, _, name in rows}
    assert fetched == expected
    # Every CRD of the shared sets is there (the Kafka broker ConfigMap is a sample, no CRD).
    for crd_set in version_entry(version).crd_sets:
        shared = SHARED / crd_set.shared
        names = {
            p.name for p in shared.glob("*.yaml") if "CustomResourceDefinition" in p.read_text()
        }
        assert names == {f.name for f in crd_set.files}, crd_set.shared
        for name in names:
            assert (work / ".crds" / crd_set.folder / name).read_bytes() == (
                shared / name
            ).read_bytes()
    # The cache is what the project's validate command reads.
    validated = subprocess.run(
        [sys.executable, "-m", "knative_manifests", "validate", "--crds", str(work / ".crds")],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root / "src"), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert "schema validation skipped" not in validated.stdout
    # A second run keeps the cache.
    again = run_fetch(script, work, mirror)
    assert again.returncode == 0
    assert "already" in again.stdout


def test_fetch_crds_replaces_a_cache_of_another_knative_version(
    renderer: Renderer, tmp_path: Path
) -> None:
    """After moving a service to 1.23, its 1.15 cache is replaced, not kept as complete."""
    work = tmp_path / "svc"
    work.mkdir()
    old = renderer.render({**DEFAULTS, "knative_version": "1.15"}) / "scripts/fetch-crds.sh"
    new = renderer.render(DEFAULTS) / "scripts/fetch-crds.sh"
    assert run_fetch(old, work, mirror_upstream("1.15", tmp_path / "m115")).returncode == 0
    done = run_fetch(new, work, mirror_upstream("1.23", tmp_path / "m123"))
    assert done.returncode == 0, done.stderr
    assert "already" not in done.stdout
    folders = {p.name for p in (work / ".crds").iterdir()}
    assert folders == {s.folder for s in version_entry("1.23").crd_sets}


def test_fetch_crds_failure_leaves_no_partial_cache(renderer: Renderer, tmp_path: Path) -> None:
    root = renderer.render(DEFAULTS)
    script = root / "scripts/fetch-crds.sh"
    rows = fetch_table(script)
    mirror = mirror_upstream(DEFAULTS.get("knative_version", "1.23"), tmp_path / "mirror")
    _, repo, tag, path, _ = rows[-1]
    (mirror / repo / tag / path).unlink()
    work = tmp_path / "svc"
    work.mkdir()
    done = run_fetch(script, work, mirror, "cache")
    assert done.returncode != 0
    assert f"could not download {mirror.as_uri()}/{repo}/{tag}/{path}" in done.stderr
    assert list(work.iterdir()) == [], "nothing half-written"


# ---------------------------------------------------------------------------
# pyproject, .gitignore, README
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("python_version", list(PYTHON_SETS))
def test_requires_python_stays_311_while_tools_target_the_choice(
    renderer: Renderer, python_version: str
) -> None:
    root = renderer.render(PYTHON_SETS[python_version])
    pyproject = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["project"]["requires-python"] == ">=3.11"
    assert pyproject["tool"]["mypy"]["python_version"] == python_version
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + python_version.replace(".", "")
    assert not list(root.rglob(".python-version"))


def test_gitignore_hides_caches_but_never_conflict_leftovers(
    renderer: Renderer, tmp_path: Path
) -> None:
    repo = tmp_path / "svc"
    repo.mkdir()
    shutil.copy(renderer.render(DEFAULTS) / ".gitignore", repo / ".gitignore")
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)

    def ignored(path: str) -> bool:
        done = subprocess.run(["git", "check-ignore", "-q", path], cwd=repo)
        return done.returncode == 0

    for path in (".venv/bin/python", ".crds/x.yaml", "src/a/__pycache__/m.pyc", ".env"):
        assert ignored(path), path
    for path in ("Makefile.rej", "service.yaml.orig", "src/a/main.py", "uv.lock"):
        assert not ignored(path), path


def test_readme_first_screen_covers_run_test_deploy_canary_update(renderer: Renderer) -> None:
    root = renderer.render(DEFAULTS)
    text = (root / "README.md").read_text(encoding="utf-8")
    first_screen = "\n".join(text.splitlines()[:60])
    for needle in (
        "make run",
        "make test",
        "kubectl apply -k deployments/knative/overlays/",
        "deployments/argocd",
        "knative-manifests traffic",
        "copier update --defaults",
    ):
        assert needle in first_screen, needle
    for section in ("Layout", "Configuration", "Adding a handler", "Emitting events", "CI"):
        assert re.search(rf"^## .*{section}", text, flags=re.MULTILINE), section


SETTINGS_DEFAULTS = """
import dataclasses, json
from {pkg}.settings import Settings
print(json.dumps({{f.name.upper(): f.default for f in dataclasses.fields(Settings)}}))
"""


@pytest.mark.parametrize(
    "answers",
    [DEFAULTS, {"timeout_seconds": 20, "container_concurrency": 0, "port": 9000}],
    ids=["defaults", "short-timeout-unlimited"],
)
def test_readme_configuration_table_matches_the_settings(
    renderer: Renderer, answers: dict[str, Any]
) -> None:
    """Every setting is documented, with the default the code really has."""
    root = renderer.render(answers)
    done = subprocess.run(
        [sys.executable, "-c", SETTINGS_DEFAULTS.format(pkg=package_of(answers))],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root / "src"), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    defaults: dict[str, Any] = json.loads(done.stdout)
    text = (root / "README.md").read_text(encoding="utf-8")
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented: dict[str, str] = {}
    for row in re.findall(r"^\| (`.+?) \| (.+?) \|", section, flags=re.MULTILINE):
        for variable in re.findall(r"`([A-Z_]+)`", row[0]):
            documented[variable] = row[1]
    assert set(defaults) <= set(documented), set(defaults) - set(documented)
    for variable, default in defaults.items():
        cell = documented[variable]
        if default is None or variable.startswith("K_"):
            continue  # "unset" / "set by Knative"
        assert cell == str(default), f"{variable}: README says {cell}, the code {default}"


README_EXAMPLES = """
import asyncio, inspect
from {pkg}.handlers import registry
from {pkg}.handlers import orders
from {pkg} import readme_emit

registration = registry.get("com.example.order.created")
assert registration is not None, "the README's handler did not register"
assert inspect.iscoroutinefunction(readme_emit.publish)
print("ok")
"""


def test_readme_python_examples_lint_and_run(renderer: Renderer, tmp_path: Path) -> None:
    """The handler and emitter examples are code a user can paste: ruff-clean, and they work."""
    pkg = package_of(DEFAULTS)
    project = tmp_path / "svc"
    shutil.copytree(renderer.render(DEFAULTS), project)
    text = (project / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert len(blocks) == 2
    handler, emitter = blocks
    assert handler.startswith(f"# src/{pkg}/handlers/orders.py\n")
    (project / "src" / pkg / "handlers" / "orders.py").write_text(handler, encoding="utf-8")
    (project / "src" / pkg / "readme_emit.py").write_text(emitter, encoding="utf-8")
    files = [f"src/{pkg}/handlers/orders.py", f"src/{pkg}/readme_emit.py"]
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", *files],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert lint.returncode == 0, lint.stdout
    formatted = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--no-cache", "--check", *files],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert formatted.returncode == 0, formatted.stdout
    done = subprocess.run(
        [sys.executable, "-c", README_EXAMPLES.format(pkg=pkg)],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project / "src"), "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_readme_documents_the_service_manager_events_and_every_setting(
    renderer: Renderer,
) -> None:
    """Each SERVICE_MANAGER_* variable the runtime reads, and both event types, are in it."""
    from knative_events.service_manager import ENV_PREFIX, ServiceManagerSettings

    root = renderer.render(SERVICE_MANAGER)
    text = (root / "README.md").read_text(encoding="utf-8")
    section = text.split("## Managed services", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`(SERVICE_MANAGER_[A-Z_]+)`", section))
    read = {ENV_PREFIX + name.upper() for name in ServiceManagerSettings.model_fields}
    assert documented == read
    for event_type in ("com.example.build.completed", "com.example.service.delete"):
        assert f"`{event_type}`" in section
    assert "503" in section
    assert "## Managed services" not in (renderer.render(DEFAULTS) / "README.md").read_text()
