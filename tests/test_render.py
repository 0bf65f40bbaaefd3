"""Rendering: which files each answer set produces, determinism, and bad answers.

Every render here goes through the session ``renderer`` (a committed snapshot of the
working tree, rendered with ``--defaults`` plus the answers), exactly like
``copier copy --defaults -r HEAD``.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import copier
import pytest
import yaml
from renderer import REPO_ROOT, Renderer
from sample_answers import (
    DEFAULTS,
    KAFKA_HPA_CANARY,
    MINIMAL,
    SERVICE_MANAGER,
    TOOLCHAIN_SETS,
    package_of,
)

RABBITMQ: dict[str, Any] = {
    "service_name": "rabbit-hole",
    "broker_class": "RabbitMQBroker",
    "environments": ["staging"],
    "argocd_project": "rabbits",
}

ALL_SETS = {**TOOLCHAIN_SETS, "rabbitmq-staging": RABBITMQ}

#: Files every rendered service has, whatever the answers (package path filled in).
ALWAYS = (
    ".copier-answers.yml",
    ".dockerignore",
    ".github/workflows/ci.yml",
    ".gitignore",
    ".pre-commit-config.yaml",
    "Dockerfile",
    "Makefile",
    "README.md",
    "pyproject.toml",
    "scripts/check_conflicts.py",
    "scripts/fetch-crds.sh",
    "src/{pkg}/__init__.py",
    "src/{pkg}/main.py",
    "src/{pkg}/settings.py",
    "src/{pkg}/handlers/__init__.py",
    "src/{pkg}/handlers/events.py",
    "tests/test_handlers.py",
    "tests/test_manifests.py",
    "deployments/knative/base/kustomization.yaml",
    "deployments/knative/base/service.yaml",
)


def files_of(root: Path) -> set[str]:
    """Every file below ``root`` as a POSIX path relative to it."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def kinds_in(root: Path) -> set[str]:
    """The ``kind`` of every YAML document under ``deployments/``."""
    kinds: set[str] = set()
    for path in sorted((root / "deployments").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and "kind" in doc:
                kinds.add(str(doc["kind"]))
    return kinds


@pytest.fixture(scope="module", params=list(ALL_SETS), ids=list(ALL_SETS))
def rendered(request: pytest.FixtureRequest, renderer: Renderer) -> tuple[dict[str, Any], Path]:
    answers = ALL_SETS[request.param]
    return answers, renderer.render(answers)


# ---------------------------------------------------------------------------
# What every render has
# ---------------------------------------------------------------------------
def test_every_render_has_the_project_files(rendered: tuple[dict[str, Any], Path]) -> None:
    answers, root = rendered
    pkg = package_of(answers)
    missing = [p.format(pkg=pkg) for p in ALWAYS if not (root / p.format(pkg=pkg)).is_file()]
    assert missing == []


def test_no_file_name_contains_a_quote_or_template_syntax(
    rendered: tuple[dict[str, Any], Path],
) -> None:
    _, root = rendered
    names = [p.relative_to(root).as_posix() for p in root.rglob("*")]
    bad = [n for n in names if any(s in n for s in ('"', "{{", "{%", ".jinja"))]
    assert bad == []


def test_whitespace_hooks_of_pre_commit_would_change_nothing(
    rendered: tuple[dict[str, Any], Path],
) -> None:
    """trailing-whitespace and end-of-file-fixer run on the first commit: no diff allowed."""
    _, root = rendered
    problems = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        content = path.read_bytes()
        if b"\0" in content or not content:
            continue
        rel = path.relative_to(root).as_posix()
        trailing = [
            n for n, line in enumerate(content.split(b"\n"), 1) if line != line.rstrip(b" \t")
        ]
        if trailing:
            problems.append(f"{rel}: trailing whitespace on lines {trailing[:5]}")
        if not content.endswith(b"\n") or content.endswith(b"\n\n"):
            problems.append(f"{rel}: must end with exactly one newline")
    assert problems == []


def test_no_jinja_statement_survives_in_any_file(rendered: tuple[dict[str, Any], Path]) -> None:
    """A `{% ... %}` left in output means a tag was escaped or mistyped in the template.

    (`{{ }}` is legitimate output: GitHub expressions and Go templates of Argo CD and
    kubeconform use it.)
    """
    _, root = rendered
    leftovers = [
        path.relative_to(root).as_posix()
        for path in root.rglob("*")
        if path.is_file() and re.search(rb"\{%-?\s|\s-?%\}", path.read_bytes())
    ]
    assert leftovers == []


def test_scripts_are_executable(rendered: tuple[dict[str, Any], Path]) -> None:
    _, root = rendered
    for script in ("scripts/check_conflicts.py", "scripts/fetch-crds.sh"):
        assert os.access(root / script, os.X_OK), f"{script} lost its executable bit"


def test_answers_file_records_the_answers(rendered: tuple[dict[str, Any], Path]) -> None:
    answers, root = rendered
    recorded = yaml.safe_load((root / ".copier-answers.yml").read_text(encoding="utf-8"))
    for name, value in answers.items():
        assert recorded[name] == value, name
    assert "package_name" not in recorded  # computed (when: false), never stored


def test_package_directory_follows_service_name(rendered: tuple[dict[str, Any], Path]) -> None:
    answers, root = rendered
    assert [p.name for p in (root / "src").iterdir() if p.is_dir()] == [package_of(answers)]


# ---------------------------------------------------------------------------
# Files that come and go with the answers
# ---------------------------------------------------------------------------
def test_defaults_render_all_environments_istio_eventing_and_argocd(renderer: Renderer) -> None:
    root = renderer.render(DEFAULTS)
    overlays = root / "deployments/knative/overlays"
    assert sorted(p.name for p in overlays.iterdir()) == ["dev", "prod", "staging"]
    for env in ("dev", "prod", "staging"):
        assert (overlays / env / "kustomization.yaml").is_file()
        assert (overlays / env / "patches/service-patch.yaml").is_file()
    assert (root / "deployments/argocd").is_dir()
    kinds = kinds_in(root)
    assert {"Service", "Broker", "Trigger", "PeerAuthentication", "AuthorizationPolicy"} <= kinds
    assert {"AppProject", "ApplicationSet"} <= kinds
    assert "KafkaSource" not in kinds
    assert "Role" not in kinds


def test_service_manager_off_renders_none_of_its_files(renderer: Renderer) -> None:
    root = renderer.render(DEFAULTS)
    files = files_of(root)
    assert "src/hello_events/handlers/builds.py" not in files
    assert "tests/test_builds.py" not in files
    assert not any("service-manager" in f for f in files)
    assert "service-manager" not in (root / "pyproject.toml").read_text(encoding="utf-8")


def test_service_manager_on_renders_its_module_handlers_and_rbac(renderer: Renderer) -> None:
    root = renderer.render(SERVICE_MANAGER)
    pkg = package_of(SERVICE_MANAGER)
    assert (root / f"src/{pkg}/handlers/builds.py").is_file()
    assert (root / "tests/test_builds.py").is_file()
    assert {"Role", "RoleBinding"} <= kinds_in(root)
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    assert '"knative-events[service-manager]==' in pyproject


def test_idempotency_and_tracing_are_switched_on_not_written_out(renderer: Renderer) -> None:
    """Redis idempotency and tracing: extras, settings and manifests; the URL is a Secret's."""
    answers = {**MINIMAL, "idempotency": "redis", "idempotency_ttl": 900, "tracing": True}
    root = renderer.render(answers)
    pkg = package_of(answers)
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    assert '"knative-events[redis,tracing]==' in pyproject
    settings = (root / f"src/{pkg}/settings.py").read_text(encoding="utf-8")
    assert 'idempotency: Idempotency = "redis"' in settings
    assert "idempotency_ttl_seconds: int = 900" in settings
    assert "tracing: bool = True" in settings
    handlers = (root / f"src/{pkg}/handlers/__init__.py").read_text(encoding="utf-8")
    assert "registry = HandlerRegistry(idempotent=True)" in handlers
    service = yaml.safe_load((root / "deployments/knative/base/service.yaml").read_text())
    [container] = service["spec"]["template"]["spec"]["containers"]
    [redis_url] = container["env"]
    assert redis_url == {
        "name": "REDIS_URL",
        "valueFrom": {"secretKeyRef": {"name": f"{answers['service_name']}-redis", "key": "url"}},
    }
    external = yaml.safe_load((root / "deployments/knative/external-references.yaml").read_text())
    assert {"apiVersion": "v1", "kind": "Secret", "name": f"{answers['service_name']}-redis"} in (
        external
    )
    config = yaml.safe_load((root / "deployments/knative/base/configmap.yaml").read_text())
    assert config["data"]["OTEL_SERVICE_NAME"] == answers["service_name"]
    assert config["data"]["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"
    assert "redis://" not in "".join(
        p.read_text(encoding="utf-8") for p in (root / "deployments").rglob("*.yaml")
    )


def test_without_idempotency_and_tracing_nothing_of_them_is_rendered(renderer: Renderer) -> None:
    root = renderer.render(MINIMAL)
    pkg = package_of(MINIMAL)
    assert "HandlerRegistry()" in (root / f"src/{pkg}/handlers/__init__.py").read_text()
    settings = (root / f"src/{pkg}/settings.py").read_text(encoding="utf-8")
    assert "idempotency" not in settings
    assert "tracing" not in settings
    deployments = "".join(p.read_text() for p in (root / "deployments").rglob("*.yaml"))
    assert "REDIS_URL" not in deployments
    assert "OTEL_" not in deployments


def test_minimal_render_has_one_overlay_and_no_optional_parts(renderer: Renderer) -> None:
    root = renderer.render(MINIMAL)
    overlays = root / "deployments/knative/overlays"
    assert [p.name for p in overlays.iterdir()] == ["dev"]
    assert not (root / "deployments/argocd").exists()
    assert not (root / "deployments/knative/eventing").exists()
    kinds = kinds_in(root)
    assert kinds.isdisjoint(
        {"Broker", "Trigger", "KafkaSource", "PeerAuthentication", "AuthorizationPolicy"}
    )
    assert kinds.isdisjoint({"AppProject", "ApplicationSet", "Application"})
    assert "Service" in kinds


def test_kafka_source_and_chosen_environments(renderer: Renderer) -> None:
    root = renderer.render(KAFKA_HPA_CANARY)
    overlays = root / "deployments/knative/overlays"
    assert sorted(p.name for p in overlays.iterdir()) == ["dev", "prod"]
    kinds = kinds_in(root)
    assert "KafkaSource" in kinds
    assert (root / "deployments/knative/eventing/kafka-source.yaml").is_file()
    assert not (root / "deployments/knative/eventing/rabbitmq-broker-config.yaml").exists()


def test_rabbitmq_broker_renders_its_config_not_kafkas(renderer: Renderer) -> None:
    root = renderer.render(RABBITMQ)
    eventing = root / "deployments/knative/eventing"
    assert (eventing / "rabbitmq-broker-config.yaml").is_file()
    assert not (eventing / "kafka-broker-config.yaml").exists()
    assert not (eventing / "kafka-source.yaml").exists()
    overlays = root / "deployments/knative/overlays"
    assert [p.name for p in overlays.iterdir()] == ["staging"]


def test_one_trigger_per_event_type(renderer: Renderer) -> None:
    root = renderer.render(KAFKA_HPA_CANARY)
    types = []
    for path in sorted((root / "deployments").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and doc.get("kind") == "Trigger":
                types.append(doc["spec"]["filter"]["attributes"]["type"])
    assert sorted(types) == sorted(KAFKA_HPA_CANARY["event_types"])


def test_free_text_answers_survive_quotes_backslashes_and_unicode(renderer: Renderer) -> None:
    """description, author_name and author_email land in TOML verbatim, whatever they hold."""
    answers = {
        "service_name": "text-check",
        "description": 'Parses "C:\\logs\\*.txt" & <tags> for Zoë\'s team \\u0041',
        "author_name": 'O\'Brien "Ops" \\ Co',
        "author_email": 'o"brien@example.com',
    }
    root = renderer.render(answers)
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["description"] == answers["description"]
    assert project["authors"] == [
        {"name": answers["author_name"], "email": answers["author_email"]}
    ]
    assert answers["description"] in (root / "README.md").read_text(encoding="utf-8")


# ---------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["defaults", "kafka-hpa-canary"])
def test_identical_answers_render_byte_identical_trees(renderer: Renderer, name: str) -> None:
    answers = ALL_SETS[name]
    first = renderer.render(answers, fresh=True)
    second = renderer.render(answers, fresh=True)
    assert files_of(first) == files_of(second)
    _, mismatch, errors = filecmp.cmpfiles(first, second, sorted(files_of(first)), shallow=False)
    assert (mismatch, errors) == ([], [])
    for rel in files_of(first):
        assert (first / rel).stat().st_mode == (second / rel).stat().st_mode, rel


# ---------------------------------------------------------------------------
# Bad answers: the validator's message, and nothing written
# ---------------------------------------------------------------------------
BAD_ANSWERS = [
    ("service_name", "Hello_Events", "service_name must be a DNS-1035 label"),
    ("service_name", "1st-service", "service_name must be a DNS-1035 label"),
    ("service_name", "ends-with-", "service_name must be a DNS-1035 label"),
    ("service_name", "a" * 51, "service_name must be at most 50 characters"),
    ("description", "two\nlines", "description must be a single line"),
    ("author_name", "   ", "author_name must not be empty"),
    ("author_email", "nobody", "author_email must look like name@domain.tld"),
    ("author_email", "a@b", "author_email must look like name@domain.tld"),
    ("python_version", "3.10", "'3.10' is not in ['3.11', '3.12', '3.13']"),
    ("port", 8012, "port 8012 is reserved by Knative's queue-proxy"),
    ("port", 9090, "port 9090 is reserved by Knative's queue-proxy"),
    ("port", 0, "port must be between 1 and 65535"),
    ("port", 65536, "port must be between 1 and 65535"),
    ("image", "ghcr.io/Acme/App", "image must be a lowercase repository reference"),
    ("image", "ghcr.io/acme/app:1.0", "image must be a lowercase repository reference"),
    ("image", "ghcr.io/acme/app@sha256:abc", "image must be a lowercase repository reference"),
    ("image", "hello-events", "image must be a lowercase repository reference"),
    ("event_types", "[]", "event_types must be a non-empty YAML list of CloudEvent types"),
    ("event_types", "{a: b}", "event_types must be a non-empty YAML list of CloudEvent types"),
    ("event_types", "com.example.x", "event_types must be a non-empty YAML list"),
    ("event_types", "[a.b, a.b]", "event_types must not repeat a type"),
    ("event_types", "['bad type']", "event type bad type must be a non-empty string"),
    ("idempotency_ttl", 0, "idempotency_ttl must be between 1 and 604800 seconds"),
    ("idempotency_ttl", 604801, "idempotency_ttl must be between 1 and 604800 seconds"),
]


@pytest.fixture(scope="module")
def plain_template(renderer: Renderer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The snapshot without its .git: copier reads it in place instead of cloning it.

    Validation runs before anything is rendered, on the same copier.yml, so the refusals
    are the same; skipping the clone makes each refused answer ten times faster. The
    command-line test below still goes through the git snapshot with ``-r HEAD``.
    """
    dest = tmp_path_factory.mktemp("plain-template") / "template"
    shutil.copytree(renderer.template, dest, ignore=shutil.ignore_patterns(".git"))
    return dest


@pytest.mark.parametrize(
    ("question", "value", "message"),
    BAD_ANSWERS,
    ids=[f"{q}-{i}" for i, (q, _, _) in enumerate(BAD_ANSWERS)],
)
def test_bad_answer_fails_with_its_message_and_writes_nothing(
    plain_template: Path, tmp_path: Path, question: str, value: Any, message: str
) -> None:
    dst = tmp_path / "service"
    dst.mkdir()
    (dst / "KEEP").write_text("the user's file\n", encoding="utf-8")
    with pytest.raises(ValueError, match=question) as raised:
        copier.run_copy(
            str(plain_template),
            str(dst),
            data={question: value},
            defaults=True,
            quiet=True,
            unsafe=False,
        )
    assert message in str(raised.value)
    assert sorted(p.name for p in dst.iterdir()) == ["KEEP"]


def test_every_validator_message_tested_here_is_in_copier_yml() -> None:
    """The expected texts above come from copier.yml: a reworded rule must update both."""
    from renderer import REPO_ROOT

    source = (REPO_ROOT / "copier.yml").read_text(encoding="utf-8")
    for question, _, message in BAD_ANSWERS:
        if question == "python_version":
            continue  # copier's own choice message
        stem = message.split(" is reserved")[0].replace("8012", "{{ port }}")
        stem = stem.replace("9090", "{{ port }}").replace("bad type", "{{ t }}")
        assert stem in source, message


def test_cli_refuses_a_reserved_port_without_writing(renderer: Renderer, tmp_path: Path) -> None:
    """The same refusal through the `copier` command line users type."""
    dst = tmp_path / "cli"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "copier",
            "copy",
            "--defaults",
            "--quiet",
            "-r",
            "HEAD",
            "-d",
            "port=8013",
            str(renderer.template),
            str(dst),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "port 8013 is reserved by Knative's queue-proxy" in done.stderr
    assert not dst.exists() or list(dst.iterdir()) == []


def test_service_manager_role_grants_exactly_what_the_manager_calls(renderer: Renderer) -> None:
    """The rendered Role and ``knative_events.service_manager.RBAC_RULES`` agree rule by rule.

    The package's tests prove the manager calls only what RBAC_RULES lists (against the
    Kubernetes API emulator); this proves the manifest grants exactly that, no more.
    """
    from knative_events.service_manager import RBAC_RULES

    root = renderer.render(SERVICE_MANAGER)
    role_files = list(root.glob("deployments/knative/components/service-manager-rbac/role.yaml"))
    assert len(role_files) == 1
    role = yaml.safe_load(role_files[0].read_text(encoding="utf-8"))
    granted = [
        {key: tuple(rule[key]) for key in ("apiGroups", "resources", "verbs")}
        for rule in role["rules"]
    ]
    assert granted == [dict(rule) for rule in RBAC_RULES]


def test_free_text_answers_never_reach_python_source(renderer: Renderer) -> None:
    """A description with quotes and backslashes cannot break (or warn in) the service's code."""
    root = renderer.render({"description": 'Say """hi""" \\ and \\n to C:\\temp'})
    for path in (root / "src").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        compile(text, str(path), "exec")
        assert "C:\\temp" not in text, path


def test_the_first_steps_lock_before_the_first_commit() -> None:
    """uv.lock goes into the first commit, so `make test` leaves the tree clean and the
    next `copier update` does not stop on an untracked lock file."""
    message = yaml.safe_load((REPO_ROOT / "copier.yml").read_text(encoding="utf-8"))[
        "_message_after_copy"
    ]
    lines = [line.strip() for line in message.splitlines()]
    lock = next(i for i, line in enumerate(lines) if line.startswith("uv lock"))
    commit = next(i for i, line in enumerate(lines) if "git commit" in line)
    test = next(i for i, line in enumerate(lines) if line.startswith("make test"))
    assert lock < commit < test


def _built(root: Path, env: str) -> list[dict[str, Any]]:
    """``kubectl kustomize`` of one overlay, as documents."""
    done = subprocess.run(
        ["kubectl", "kustomize", str(root / "deployments/knative/overlays" / env)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def test_the_managers_rbac_lives_only_in_the_managed_namespace(renderer: Renderer) -> None:
    """Role, RoleBinding and (with eventing) the Broker of managed services sit in
    <service_manager_namespace>-<env>; nothing grants the manager its own namespace."""
    root = renderer.render(SERVICE_MANAGER)
    answers = yaml.safe_load((root / ".copier-answers.yml").read_text(encoding="utf-8"))
    for env in answers["environments"]:
        docs = _built(root, env)
        own = f"{answers['namespace']}-{env}"
        managed = f"{answers['service_manager_namespace']}-{env}"
        by_kind = {(d["kind"], d["metadata"]["name"]): d for d in docs}
        assert ("Namespace", managed) in by_kind
        for kind in ("Role", "RoleBinding"):
            rbac = [d for d in docs if d["kind"] == kind]
            assert [d["metadata"]["namespace"] for d in rbac] == [managed]
        binding = next(d for d in docs if d["kind"] == "RoleBinding")
        assert binding["subjects"][0]["namespace"] == own
        config = next(d for d in docs if d["kind"] == "ConfigMap")
        assert config["data"]["SERVICE_MANAGER_NAMESPACE"] == managed
        brokers = {d["metadata"]["namespace"] for d in docs if d["kind"] == "Broker"}
        assert brokers == ({own, managed} if answers["eventing"] else set())


def test_prod_serves_no_api_docs(renderer: Renderer) -> None:
    root = renderer.render(DEFAULTS)
    for env in ("dev", "prod"):
        config = next(d for d in _built(root, env) if d["kind"] == "ConfigMap")
        assert config["data"].get("API_DOCS") == ("false" if env == "prod" else None)


def test_event_auth_oidc_names_the_audience_in_every_trigger(renderer: Renderer) -> None:
    """One audience per environment, in the ConfigMap the app reads and in every Trigger."""
    root = renderer.render({**DEFAULTS, "event_auth": "oidc"})
    answers = yaml.safe_load((root / ".copier-answers.yml").read_text(encoding="utf-8"))
    for env in answers["environments"]:
        docs = _built(root, env)
        config = next(d for d in docs if d["kind"] == "ConfigMap")
        audience = f"serving.knative.dev/service/{answers['namespace']}-{env}/hello-events"
        assert config["data"]["EVENT_AUTH"] == "oidc"
        assert config["data"]["EVENT_AUDIENCE"] == audience
        triggers = [d for d in docs if d["kind"] == "Trigger"]
        assert triggers
        assert {t["spec"]["subscriber"]["audience"] for t in triggers} == {audience}
        account = next(d for d in docs if d["kind"] == "ServiceAccount")
        assert account["automountServiceAccountToken"] is True
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    assert '"knative-events[oidc]==' in pyproject


def test_without_event_auth_no_token_is_mounted(renderer: Renderer) -> None:
    root = renderer.render(DEFAULTS)
    docs = _built(root, "dev")
    assert (
        next(d for d in docs if d["kind"] == "ServiceAccount")["automountServiceAccountToken"]
        is False
    )
    assert all("audience" not in d["spec"]["subscriber"] for d in docs if d["kind"] == "Trigger")
