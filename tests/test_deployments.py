"""Every answer set renders deployments a cluster would accept.

Each render is checked by the rendered project's own validator (``validate_tree``: kustomize
every overlay, CRD schemas from ../shared/crds, the admission rules, cross-references, Argo
CD paths), imported once in-process: one implementation of the rules for the template and
for the services it renders. On top of that, the template-level promises: one overlay per
chosen environment and no other, one Argo CD Application per overlay, no '"' in file names,
and an answers file that records the answers given.

Answer sets: a pairwise set over every choice and bool question of copier.yml, and 100
whole answer sets drawn by Hypothesis (numbers and strings included).
"""

from __future__ import annotations

import importlib
import shutil
import sys
import tomllib
from collections import Counter
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from answers import answer_set_id, answers, pairwise_answer_sets, recorded_mismatches
from hypothesis import HealthCheck, example, given, settings
from renderer import REPO_ROOT, Renderer

OVERLAYS = Path("deployments/knative/overlays")
ARGOCD = Path("deployments/argocd")
ARGOCD_ENV = "argocd"


def _load_all(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def check_argocd(root: Path, recorded: dict[str, Any], kv: SimpleNamespace) -> None:
    """One Application per chosen environment, each syncing that overlay from this repo."""
    argocd = root / ARGOCD
    if not recorded["argocd"]:
        assert not argocd.exists(), f"argocd=false but {argocd} was rendered"
        return
    docs = [d for path in sorted(argocd.glob("*.yaml")) for d in _load_all(path)]
    appsets = [d for d in docs if d.get("kind") == "ApplicationSet"]
    projects = {d["metadata"]["name"] for d in docs if d.get("kind") == "AppProject"}
    assert len(appsets) == 1, f"expected one ApplicationSet in {argocd}, found {len(appsets)}"
    applications = kv.generate_applications(appsets[0])
    envs = set(recorded["environments"])
    by_path = {a["spec"]["source"]["path"]: a for a in applications}
    assert set(by_path) == {str(OVERLAYS / e) for e in envs}, "Applications vs environments"
    names = [a["metadata"]["name"] for a in applications]
    assert len(names) == len(set(names)), f"duplicate Application names {names}"
    for path, app in by_path.items():
        overlay = root / path
        assert (overlay / "kustomization.yaml").is_file(), f"{path} is not a kustomization"
        spec = app["spec"]
        assert spec["source"]["repoURL"] == recorded["git_repo_url"]
        assert spec["project"] == recorded["argocd_project"]
        assert spec["project"] in projects, f"AppProject {spec['project']} not rendered"
        kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
        assert spec["destination"]["namespace"] == kustomization["namespace"], path
        if overlay.name == "prod":
            automated = "automated" in (spec.get("syncPolicy") or {})
            assert automated == recorded["argocd_auto_sync_prod"], "prod auto-sync vs answer"


def check_render(
    root: Path, data: dict[str, Any], kv: SimpleNamespace, crds_dir: Path, stats: Counter[str]
) -> None:
    """Everything a render of ``data`` must satisfy; counts what it checked."""
    recorded = yaml.safe_load((root / ".copier-answers.yml").read_text(encoding="utf-8"))
    mismatches = recorded_mismatches(data, recorded)
    assert not mismatches, "answers file:\n" + "\n".join(mismatches)

    try:  # free-text answers (description, author) land in TOML too
        tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        pytest.fail(f"rendered pyproject.toml is not valid TOML: {error}")

    quoted = [str(p.relative_to(root)) for p in root.rglob("*") if '"' in p.name]
    assert not quoted, f"file names with '\"': {quoted}"

    envs = set(recorded["environments"])
    overlays = {p.name for p in (root / OVERLAYS).iterdir() if p.is_dir()}
    assert overlays == envs, f"overlays {sorted(overlays)} for environments {sorted(envs)}"

    report = kv.validate_tree(root, crds_dir)
    stats["answer sets rendered"] += 1
    stats["documents validated"] += report.documents
    version = recorded["knative_version"]
    stats[f"answer sets rendered (Knative {version})"] += 1
    stats[f"documents validated (Knative {version})"] += report.documents
    stats["overlays built"] += len(set(report.environments) - {ARGOCD_ENV})
    assert report.ok, f"{len(report.violations)} violation(s):\n" + "\n".join(
        str(v) for v in report.violations
    )
    assert report.documents > 0
    assert set(report.environments) - {ARGOCD_ENV} == envs
    assert (ARGOCD_ENV in report.environments) == bool(recorded["argocd"])
    check_argocd(root, recorded, kv)


PAIRWISE = pairwise_answer_sets()


@pytest.mark.slow
@pytest.mark.parametrize("data", PAIRWISE, ids=[answer_set_id(d) for d in PAIRWISE])
def test_pairwise_answer_set_renders_valid_deployments(
    data: dict[str, Any],
    renderer: Renderer,
    knative_validator: SimpleNamespace,
    crds_dir: Path,
    deploy_stats: Counter[str],
) -> None:
    """Each pairwise answer set: every overlay builds and passes schemas and admission rules."""
    root = renderer.render(data)
    check_render(root, data, knative_validator, crds_dir, deploy_stats)


#: Answer sets that once broke a render, replayed on every run (Hypothesis found them).
REGRESSIONS: list[dict[str, Any]] = [
    # Go's YAML 1.1 reads y/n/no/on/off as booleans: names must stay strings (copier.yml
    # refuses such a service_name or broker_name; the other names are quoted).
    {"namespace": "no"},
    {
        "namespace": "y",
        "argocd_project": "n",
        "eventing": True,
        "broker_class": "RabbitMQBroker",
        "rabbitmq_cluster": "off",
    },
    # Answers YAML reads as numbers.
    {
        "namespace": "8",
        "argocd_project": "0",
        "eventing": True,
        "broker_class": "RabbitMQBroker",
        "rabbitmq_cluster": "5",
    },
    # Emoji (outside the BMP), quotes and backslashes in free text.
    {"description": 'Hi 😀 "q" \\ 𐍈', "author_name": "Zoë 🚀"},
]


def replay_regressions(test: Any) -> Any:
    """Every REGRESSIONS answer set as an explicit Hypothesis example."""
    for data in reversed(REGRESSIONS):
        test = example(data=data)(test)
    return test


@pytest.mark.slow
@given(data=answers())
@replay_regressions
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
def test_any_answer_set_renders_valid_deployments(
    data: dict[str, Any],
    renderer: Renderer,
    knative_validator: SimpleNamespace,
    crds_dir: Path,
    deploy_stats: Counter[str],
) -> None:
    """Whole answer sets drawn from everything copier.yml accepts render deployable manifests.

    **Feature: knative-serverless-support, Property 4: Kustomize Overlay Produces Valid Manifest**
    **Feature: knative-serverless-support, Property 5: ArgoCD ApplicationSet Generation**
    **Validates: Requirements 4.4, 4.5, 6.4, 6.5**
    """
    root = renderer.render(data, fresh=True)
    try:
        check_render(root, data, knative_validator, crds_dir, deploy_stats)
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------------
# The validator against the real CRDs and rules, on a render's real documents
# ---------------------------------------------------------------------------
def _built_world(kv: SimpleNamespace) -> dict[str, list[dict[str, Any]]]:
    """Each overlay's kustomize output of the validator's render, plus its Argo CD files."""
    validate = kv.modules["validate"]
    world = {o.name: validate.kustomize_build(o) for o in validate.find_overlays(kv.root)}
    world[ARGOCD_ENV] = [d for p in sorted((kv.root / ARGOCD).glob("*.yaml")) for d in _load_all(p)]
    return world


def _first(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(d for d in docs if d.get("kind") == kind)


def _set(path: str, value: Any) -> Any:
    """A mutation that sets a dotted path under the first document of a kind."""

    def mutate(doc: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node = doc
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value

    return mutate


#: (kind, mutation, valid?) — shape-level edits and what the API server would say.
SCHEMA_MUTATIONS = {
    "ksvc-unknown-pod-field": ("Service", _set("spec.template.spec.notAField", 1), False),
    "ksvc-wrong-type": ("Service", _set("spec.template.spec.containerConcurrency", "ten"), False),
    "ksvc-unknown-spec-field": ("Service", _set("spec.notAField", True), False),
    "ksvc-template-metadata-unknown-field": (
        "Service",
        _set("spec.template.metadata.notAField", "kept"),
        True,
    ),
    "trigger-unknown-spec-field": ("Trigger", _set("spec.notAField", {"x": 1}), True),
    "trigger-unknown-delivery-field": ("Trigger", _set("spec.delivery.notAField", 1), True),
    # Broker's spec is strict; only its delivery keeps unknown fields.
    "broker-unknown-spec-field": ("Broker", _set("spec.notAField", 1), False),
    "broker-unknown-delivery-field": ("Broker", _set("spec.delivery.notAField", 1), True),
    "appset-template-spec-unknown-field": (
        "ApplicationSet",
        _set("spec.template.spec.notAField", 1),
        False,
    ),
    "appset-wrong-type": ("ApplicationSet", _set("spec.goTemplate", "yes"), False),
    "configmap-unknown-field": ("ConfigMap", _set("notAField", 1), False),
}


def _default_schemas(kv: SimpleNamespace, crds_dir: Path) -> Any:
    """A schema validator of the default render's Knative version (its CRD sets)."""
    versions = kv.modules["versions"]
    entry = versions.get(versions.DEFAULT_VERSION)
    return kv.SchemaValidator(versions.crd_directories(crds_dir, entry), entry.kubernetes_version)


def test_built_documents_pass_the_real_crds(
    knative_validator: SimpleNamespace, crds_dir: Path
) -> None:
    """Baseline for the mutations: the untouched documents pass their schemas."""
    validator = _default_schemas(knative_validator, crds_dir)
    for env, docs in _built_world(knative_validator).items():
        for doc in docs:
            assert validator.validate(doc) == [], f"{env}: {doc['kind']} {doc['metadata']}"


@pytest.mark.parametrize(
    ("kind", "mutate", "valid"), list(SCHEMA_MUTATIONS.values()), ids=list(SCHEMA_MUTATIONS)
)
def test_schema_mutation_verdict_follows_the_real_crds(
    kind: str, mutate: Any, valid: bool, knative_validator: SimpleNamespace, crds_dir: Path
) -> None:
    """Unknown fields fail where the CRD is strict and pass under preserve-unknown-fields."""
    world = _built_world(knative_validator)
    docs = world["prod"] + world[ARGOCD_ENV]
    doc = _first(docs, kind)
    mutate(doc)
    violations = _default_schemas(knative_validator, crds_dir).validate(doc)
    if valid:
        assert violations == [], "\n".join(map(str, violations))
    else:
        assert violations, f"{kind} mutation passed the schema"
        assert all(v.rule.startswith("schema/") for v in violations), violations


# ---------------------------------------------------------------------------
# Every admission rule fires, end to end, on a mutated copy of a render's documents
# ---------------------------------------------------------------------------
#: Where a mutation landed: checked by kustomize + validate_tree, or by check_documents only.
END_TO_END, DOCUMENTS_ONLY = "validate_tree", "check_documents"


def _rule_mutations(kv: SimpleNamespace) -> tuple[Any, Any]:
    """The knative-manifests package's mutation table (one per rule) and its document world.

    Its tests (packages/knative-manifests/tests/unit/test_knative_rules.py) keep one mutation
    per rule; reusing them here keeps a single table, applied this time to a render's
    documents written to disk and checked through kustomize and ``validate_tree``.
    """
    tests_dir = REPO_ROOT / "packages" / "knative-manifests" / "tests" / "unit"
    assert (tests_dir / "test_knative_rules.py").is_file(), f"no rule mutations in {tests_dir}"
    if str(tests_dir) not in sys.path:
        sys.path.insert(0, str(tests_dir))
    table = importlib.import_module("test_knative_rules")
    world = importlib.import_module("knative_world")
    return table, world


def _version_mutations(kv: SimpleNamespace, version: str) -> tuple[dict[str, Any], Any]:
    """The mutation of each rule that runs for Knative ``version`` (per-version ones first)."""
    table, world = _rule_mutations(kv)
    entry = kv.modules["versions"].get(version)
    return {
        rule: table.VERSION_MUTATIONS.get((rule, version), table.MUTATIONS[rule])
        for rule in kv.modules["rules"].rules_for(entry)
    }, world


def _canonical(docs: list[dict[str, Any]]) -> list[str]:
    return sorted(yaml.safe_dump(d, sort_keys=True) for d in docs)


class _PlainDumper(yaml.SafeDumper):
    """Writes a repeated object out again instead of as an anchor and alias.

    A mutation may put one object in two places; PyYAML would then write `&id001` /
    `*id001`, which the validator refuses (aliases can expand without bound) and a
    cluster never sees from kustomize.
    """

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _dump_all(docs: list[dict[str, Any]]) -> str:
    return yaml.dump_all(docs, Dumper=_PlainDumper, sort_keys=False)


def _write_prebuilt(root: Path, overlay: str, docs: list[dict[str, Any]], namespace: str) -> None:
    """An overlay whose kustomization just lists already-built documents."""
    target = root / OVERLAYS / overlay
    target.mkdir(parents=True)
    (target / "world.yaml").write_text(_dump_all(docs))
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": namespace,
        "resources": ["world.yaml"],
    }
    (target / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))


KNATIVE_VERSIONS = ["1.23", "1.15"]


@pytest.fixture(scope="module", params=KNATIVE_VERSIONS)
def rule_verdicts(
    request: pytest.FixtureRequest,
    knative_validator: SimpleNamespace,
    crds_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[str, dict[str, tuple[str, set[str], list[str]]]]:
    """For each rule of one Knative version: where its mutation was checked, the rules
    that fired, the messages. The mutated trees state that version in a pyproject.toml,
    so validate_tree takes its CRD sets and its rules."""
    kv = knative_validator
    version: str = request.param
    entry = kv.modules["versions"].get(version)
    mutations, world = _version_mutations(kv, version)
    env = world.first_environment()
    built = _built_world(kv)
    namespace = kv.modules["validate"].overlay_namespace(kv.root / OVERLAYS / env)
    external = kv.root / "deployments" / "knative" / "external-references.yaml"

    def fresh_root(name: str) -> Path:
        root = tmp_path_factory.mktemp(name)
        (root / "pyproject.toml").write_text(
            f'[tool.knative-manifests]\nknative-version = "{version}"\n', encoding="utf-8"
        )
        (root / "deployments" / "knative").mkdir(parents=True)
        shutil.copy(external, root / "deployments" / "knative" / external.name)
        return root

    knative_root = fresh_root("mutated-knative")
    _write_prebuilt(knative_root, "unmutated", built[env], namespace)
    verdicts: dict[str, tuple[str, set[str], list[str]]] = {}
    overlays: dict[str, str] = {}
    for rule, mutate in sorted(mutations.items()):
        docs = yaml.safe_load(yaml.safe_dump(built[env]))
        argocd = yaml.safe_load(yaml.safe_dump(built[ARGOCD_ENV]))
        combined = [*docs, *argocd]
        try:
            mutate(combined)
        except (LookupError, KeyError, IndexError, TypeError):
            # The render has no document of the kind this rule is about (a DestinationRule,
            # a RabbitMQ trigger...): check the rendered tests' sample world instead.
            sample = world.clean_world()
            mutate(sample)
            found = [*kv.check_documents(sample, entry), *kv.check_warnings(sample, entry)]
            verdicts[rule] = (DOCUMENTS_ONLY, {v.rule for v in found}, [str(v) for v in found])
            continue
        # A mutation may add a document (another Service, an EventPolicy): it joins the overlay.
        argocd_ids = {id(d) for d in argocd}
        docs = [d for d in combined if id(d) not in argocd_ids]
        if argocd != built[ARGOCD_ENV]:
            root = fresh_root("mutated-argocd")
            for overlay in built:
                if overlay != ARGOCD_ENV:
                    _write_prebuilt(root, overlay, [], namespace)
            (root / ARGOCD).mkdir(parents=True)
            (root / ARGOCD / "world.yaml").write_text(_dump_all(argocd))
            report = kv.validate_tree(root, crds_dir, [ARGOCD_ENV])
            found = [*report.violations, *report.warnings]
            verdicts[rule] = (END_TO_END, {v.rule for v in found}, [str(v) for v in found])
        else:
            overlay = rule.replace("/", "--")
            _write_prebuilt(knative_root, overlay, docs, namespace)
            overlays[overlay] = rule
    report = kv.validate_tree(knative_root, crds_dir)
    by_overlay: dict[str, list[Any]] = {o: [] for o in [*overlays, "unmutated"]}
    for violation in [*report.violations, *report.warnings]:
        by_overlay[violation.env].append(violation)
    assert by_overlay["unmutated"] == [], "the prebuilt copy of the render is not clean"
    build = kv.modules["validate"].kustomize_build
    for overlay, rule in overlays.items():
        found = by_overlay[overlay]
        written = _load_all(knative_root / OVERLAYS / overlay / "world.yaml")
        if any(v.rule == "kustomize/build" for v in found) or (
            rule not in {v.rule for v in found}
            and _canonical(build(knative_root / OVERLAYS / overlay)) != _canonical(written)
        ):
            # kustomize refuses or undoes the edit (its namespace transformer resets a
            # namespace, annotation values come out as strings): a cluster would never see
            # it, so only the rules can be shown the mutated documents.
            found = [*kv.check_documents(written, entry), *kv.check_warnings(written, entry)]
            verdicts[rule] = (DOCUMENTS_ONLY, {v.rule for v in found}, [str(v) for v in found])
            continue
        verdicts[rule] = (END_TO_END, {v.rule for v in found}, [str(v) for v in found])
    return version, verdicts


def test_every_rule_has_a_mutation(knative_validator: SimpleNamespace) -> None:
    table, _ = _rule_mutations(knative_validator)
    assert set(knative_validator.RULES) == set(table.MUTATIONS)
    every_version = set()
    for version in KNATIVE_VERSIONS:
        every_version |= set(_version_mutations(knative_validator, version)[0])
    assert every_version == set(knative_validator.RULES), "a rule no version runs"
    assert set(KNATIVE_VERSIONS) == set(knative_validator.modules["versions"].VERSIONS)


@pytest.mark.slow
def test_each_rule_fires_alone_on_its_mutation(
    rule_verdicts: tuple[str, dict[str, tuple[str, set[str], list[str]]]],
    knative_validator: SimpleNamespace,
    deploy_stats: Counter[str],
) -> None:
    """Each rule's mutation of real documents makes that rule, and no other rule, fire,
    for each Knative version (the rules that version runs).

    Schema and reference findings may come along (a renamed Service leaves dangling
    references); another admission rule may not.
    """
    version, verdicts = rule_verdicts
    kv = knative_validator
    rules = set(kv.modules["rules"].rules_for(kv.modules["versions"].get(version)))
    wrong = []
    for rule, (where, fired, messages) in sorted(verdicts.items()):
        deploy_stats[f"rules checked via {where} (Knative {version})"] += 1
        if rule not in fired or (fired & rules) != {rule}:
            wrong.append(f"{rule} ({where}): fired {sorted(fired)}\n    " + "\n    ".join(messages))
    assert set(verdicts) == rules
    assert not wrong, f"{len(wrong)} rule(s) misbehave:\n" + "\n".join(wrong)
    end_to_end = [r for r, (where, _, _) in verdicts.items() if where == END_TO_END]
    assert len(end_to_end) >= len(rules) // 2, "most rules should be checked end to end"
