"""`validate`: build every environment with kustomize and check it the way a cluster would.

For each ``deployments/knative/overlays/<env>`` the kustomize output is checked against
the CRD schemas (when a CRD directory is given), the admission rules in ``rules.py`` and the
cross-references in ``references.py``, all of the Knative version the service's
``[tool.knative-manifests]`` names (``versions.py``: its CRD sets, its Kubernetes version for
core kinds, its version-specific rules). The Argo CD files in ``deployments/argocd`` get the
same schema and rule checks, plus: every path an Application would sync exists in the repo.
When the service's ``[tool.knative-manifests]`` names its handler registry, the Triggers
and the handlers are checked against each other (``handlers.py``).

Exit status: 0 clean (warnings allowed), 1 when there is any violation, 2 when the check
could not run (no kustomize, a missing CRD directory, a bad ``[tool.knative-manifests]``,
a registry that does not import, an ``--env`` that is no plain overlay name, a CRD directory
without the CRD sets of the service's Knative version).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from . import constants as c
from . import yamlio
from .argo import TemplateError, generate_applications
from .backstage import check_catalog
from .contracts import parse_contracts
from .contracts import stale as stale_contracts
from .handlers import check_handlers, load_registry
from .overlays import EnvNameError, OverlayError, env_argument, overlay_directory
from .project import (
    ProjectConfig,
    ProjectConfigError,
    add_root_argument,
    find_root,
    load_project_config,
)
from .references import CLUSTER_SCOPED_KINDS, check_references, load_external_references
from .rules import APPLICATION_SET, Violation, check_documents, check_warnings, group_kind_of
from .schemas import SchemaValidator
from .versions import CrdSetMissingError, KnativeVersion, crd_directories

HELP = (
    "kustomize every overlay and check it as a cluster of the service's Knative version "
    f"(knative-version in [tool.knative-manifests]) / Istio {c.ISTIO_VERSION} / Argo CD "
    f"{c.ARGOCD_VERSION} would: schemas, admission rules, references, handlers"
)
CRDS_ENV_VAR = "KNATIVE_CRDS_DIR"
ARGOCD_ENV = "argocd"
KNATIVE_DIR = Path("deployments/knative")
ARGOCD_DIR = Path("deployments/argocd")
#: Names kustomize looks for in a kustomization directory, in its order.
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
#: Kustomization fields whose string entries name a file or a directory kustomize reads.
_PATH_FIELDS = ("resources", "components", "bases", "crds", "patchesStrategicMerge")
#: Kustomization fields whose entries are maps that may name a ``path`` or an inline ``patch``.
_PATCH_FIELDS = ("patches", "patchesJson6902")


@dataclass
class Report:
    """What one validation found.

    ``environments`` lists what was checked, the overlays and ``argocd`` (the Argo CD
    files); ``warnings`` never make the report fail.
    """

    violations: list[Violation] = field(default_factory=list)
    documents: int = 0
    environments: list[str] = field(default_factory=list)
    schemas_checked: bool = False
    warnings: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        """``N documents in M environments: ok``; argocd is not an environment."""
        status = "ok" if self.ok else f"{len(self.violations)} violation(s)"
        if self.warnings:
            status += f", {len(self.warnings)} warning(s)"
        envs = len([e for e in self.environments if e != ARGOCD_ENV])
        return f"{self.documents} documents in {envs} environments: {status}"


class KustomizeError(RuntimeError):
    """kustomize could not build an overlay (or is not installed, or ran out of time)."""


def _local(directory: Path, entry: str) -> Path | None:
    """``entry`` as a path under ``directory``; ``None`` for a remote (URL) resource."""
    if "://" in entry or entry.startswith(("github.com/", "git@")):
        return None
    return directory / entry


def checked_overlay(root: Path, env: str) -> Path:
    """``env``'s overlay directory, once it exists and every file kustomize would read passes.

    The editing commands (image, traffic, promote) start here, so a missing overlay or a
    refused input (too large, aliases) stops them before they read or write anything.
    Raises ``EnvNameError`` for a bad name and ``OverlayError`` for the rest.
    """
    directory = overlay_directory(root, env)
    if not directory.is_dir():
        raise OverlayError(f"no overlay for environment {env!r} at {directory}")
    try:
        check_kustomization_inputs(directory)
    except yamlio.YamlRefusedError as error:
        raise OverlayError(str(error)) from None
    return directory


def check_kustomization_inputs(directory: Path) -> list[Path]:
    """Load every YAML input kustomize would read from ``directory`` through ``yamlio``.

    Walks the kustomization files (``resources``, ``components``, ``bases``, ``crds``,
    ``patchesStrategicMerge``, the ``path`` and inline ``patch`` of ``patches`` and
    ``patchesJson6902``), following directories, and returns the files it read. Raises
    ``yamlio.YamlRefusedError`` for a file or inline patch that is too large, has anchors or
    aliases or nests too deep, so such input never reaches kustomize (which expands aliases
    without bound). Syntax errors are left for kustomize to report; entries that name
    nothing are skipped (kustomize reports those too).
    """
    read: list[Path] = []
    seen: set[Path] = set()
    stack = [directory]
    while stack:
        current = stack.pop()
        key = current.resolve()
        if key in seen:
            continue
        seen.add(key)
        found = [current / n for n in KUSTOMIZATION_NAMES if (current / n).is_file()]
        if not found:
            continue
        data = _load_input(found[0], read)
        for where, entry in _kustomization_entries(found[0], data):
            if "\n" in entry:  # an inline patch (patchesStrategicMerge allows one)
                yamlio.check_text(entry, where)
                continue
            path = _local(current, entry)
            if path is None:
                continue
            if path.is_dir():
                stack.append(path)
            elif path.is_file():
                _load_input(path, read)
    return read


def _kustomization_entries(path: Path, data: Any) -> list[tuple[str, str]]:
    """(where, entry) for each path or inline patch the kustomization ``data`` names; an
    inline ``patch`` of ``patches``/``patchesJson6902`` is checked here already."""
    if not isinstance(data, Mapping):
        return []
    entries: list[tuple[str, str]] = []
    for name in _PATH_FIELDS:
        values = data.get(name)
        for index, value in enumerate(values if isinstance(values, list) else []):
            if isinstance(value, str):
                entries.append((f"{path}: {name}[{index}]", value))
    for name in _PATCH_FIELDS:
        values = data.get(name)
        for index, value in enumerate(values if isinstance(values, list) else []):
            if not isinstance(value, Mapping):
                continue
            if isinstance(value.get("patch"), str):
                yamlio.check_text(value["patch"], f"{path}: {name}[{index}].patch")
            if isinstance(value.get("path"), str):
                entries.append((f"{path}: {name}[{index}].path", value["path"]))
    return entries


def _load_input(path: Path, read: list[Path]) -> Any:
    """``path``'s first document, after ``yamlio`` checked the whole file; ``None`` for a
    file that is no valid YAML (kustomize says why)."""
    read.append(path)
    text = yamlio.read_text(path)
    try:
        documents = yamlio.loads_all(text, str(path))
    except yamlio.YamlRefusedError:
        raise
    except (yaml.YAMLError, UnicodeDecodeError):
        return None
    return documents[0] if documents else None


def kustomize_command() -> list[str]:
    """`kubectl kustomize` when kubectl exists, else the standalone `kustomize build`."""
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    raise KustomizeError("neither kubectl nor kustomize is on PATH; install one of them")


def kustomize_build(directory: Path) -> list[dict[str, Any]]:
    """The documents kustomize builds from ``directory``.

    Its inputs are checked first (``check_kustomization_inputs``: a refused file raises
    ``yamlio.YamlRefusedError`` and kustomize never runs); kustomize gets
    ``KUSTOMIZE_TIMEOUT_SECONDS``, and its output is loaded through ``yamlio`` too.
    Raises ``KustomizeError`` when kustomize fails, times out or writes refused YAML.
    """
    check_kustomization_inputs(directory)
    command = [*kustomize_command(), str(directory)]
    timeout = c.KUSTOMIZE_TIMEOUT_SECONDS
    try:
        done = subprocess.run(  # noqa: S603 - fixed argv, no shell
            command,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise KustomizeError(
            f"`{' '.join(command)}` did not finish within {timeout:g} seconds; stopped"
        ) from None
    if done.returncode != 0:
        raise KustomizeError(done.stderr.strip() or f"kustomize failed on {directory}")
    try:
        documents = yamlio.loads_all(done.stdout, f"the kustomize output of {directory}")
    except yaml.YAMLError as error:
        raise KustomizeError(str(error)) from None
    return [d for d in documents if d is not None]


def _try_build(overlay: Path) -> list[dict[str, Any]] | KustomizeError | yamlio.YamlRefusedError:
    try:
        return kustomize_build(overlay)
    except (KustomizeError, yamlio.YamlRefusedError) as error:
        return error


def overlay_namespace(overlay: Path) -> str | None:
    """The ``namespace:`` an overlay's kustomization sets (what its objects must live in)."""
    data = yamlio.load_file(overlay / "kustomization.yaml")
    value = data.get("namespace") if isinstance(data, Mapping) else None
    return value if isinstance(value, str) else None


def find_overlays(root: Path) -> list[Path]:
    """Every deployments/knative/overlays/<env> with a kustomization.yaml, sorted."""
    base = root / KNATIVE_DIR / "overlays"
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if (p / "kustomization.yaml").is_file())


def _tag(violations: Sequence[Violation], env: str) -> list[Violation]:
    return [replace(v, env=env) for v in violations]


def _schema_violations(
    validator: SchemaValidator | None, docs: Sequence[Mapping[str, Any]]
) -> list[Violation]:
    if validator is None:
        return []
    found: list[Violation] = []
    for doc in docs:
        found.extend(validator.validate(doc))
    return found


def _generated_applications(
    docs: Sequence[Mapping[str, Any]],
) -> Iterator[tuple[Mapping[str, Any], dict[str, Any]]]:
    """Each (ApplicationSet, generated Application) pair of ``docs``.

    An ApplicationSet whose template does not expand is skipped here: the
    argocd/generated-applications rule reports it.
    """
    for doc in docs:
        if group_kind_of(doc) != APPLICATION_SET:
            continue
        try:
            applications = generate_applications(doc)
        except TemplateError:
            continue
        for application in applications:
            yield doc, application


def _argocd_paths(root: Path, docs: Sequence[Mapping[str, Any]]) -> list[Violation]:
    """Each generated Application's source path is a kustomize directory in this repo."""
    found = []
    for doc, application in _generated_applications(docs):
        source = (application.get("spec") or {}).get("source") or {}
        path = source.get("path")
        name = (application.get("metadata") or {}).get("name", "")
        if not isinstance(path, str) or not (root / path / "kustomization.yaml").is_file():
            found.append(
                Violation(
                    "argocd/source-path-exists",
                    f"Application {name}: source path {path!r} is not a kustomization "
                    "directory in this repository",
                    "ApplicationSet",
                    (doc.get("metadata") or {}).get("name", ""),
                    "spec.template.spec.source.path",
                )
            )
    return found


def _allowed(entries: Any, group: str, kind: str) -> bool:
    for entry in entries or []:
        if not isinstance(entry, Mapping):
            continue
        if entry.get("group") in ("*", group) and entry.get("kind") in ("*", kind):
            return True
    return False


def _argocd_kinds(
    root: Path, docs: Sequence[Mapping[str, Any]], outputs: Mapping[Path, list[dict[str, Any]]]
) -> list[Violation]:
    """Every kind an Application syncs is whitelisted by its AppProject (else sync fails)."""
    projects = {
        (d.get("metadata") or {}).get("name"): d.get("spec") or {}
        for d in docs
        if group_kind_of(d) == ("argoproj.io", "AppProject")
    }
    found = []
    for doc, application in _generated_applications(docs):
        spec = application.get("spec") or {}
        project = projects.get(spec.get("project"))
        path = (spec.get("source") or {}).get("path")
        if project is None or not isinstance(path, str):
            continue
        for item in outputs.get((root / path).resolve(), []):
            group, kind = group_kind_of(item)
            scoped = (group, kind) in CLUSTER_SCOPED_KINDS
            allow = "clusterResourceWhitelist" if scoped else "namespaceResourceWhitelist"
            deny = "clusterResourceBlacklist" if scoped else "namespaceResourceBlacklist"
            if not _allowed(project.get(allow), group, kind) or _allowed(
                project.get(deny), group, kind
            ):
                found.append(
                    Violation(
                        "argocd/project-allows-kinds",
                        f"Application {(application.get('metadata') or {}).get('name')} "
                        f"syncs {group or 'core'}/{kind} "
                        f"{(item.get('metadata') or {}).get('name')} but AppProject "
                        f"{spec.get('project')} does not allow it ({allow})",
                        "ApplicationSet",
                        (doc.get("metadata") or {}).get("name", ""),
                        "spec.template.spec.project",
                    )
                )
    return found


def _check_argocd(
    root: Path,
    envs: Sequence[str] | None,
    validator: SchemaValidator | None,
    outputs: Mapping[Path, list[dict[str, Any]]],
    report: Report,
    *,
    version: KnativeVersion,
) -> None:
    """The Argo CD files: schemas, rules, synced paths and kinds (``outputs`` per overlay)."""
    argocd_dir = root / ARGOCD_DIR
    if argocd_dir.is_dir() and (not envs or ARGOCD_ENV in envs):
        docs: list[dict[str, Any]] = []
        for path in sorted(argocd_dir.glob("*.yaml")):
            try:
                loaded = yamlio.load_all_file(path)
            except yamlio.YamlRefusedError as error:
                report.violations.append(Violation("yaml/refused", str(error), env=ARGOCD_ENV))
                continue
            except yaml.YAMLError as error:
                report.violations.append(
                    Violation(
                        "argocd/yaml", f"{path.name} is not valid YAML: {error}", env=ARGOCD_ENV
                    )
                )
                continue
            docs.extend(d for d in loaded if d is not None)
        if docs:
            report.environments.append(ARGOCD_ENV)
            report.documents += len(docs)
            found = _schema_violations(validator, docs)
            found += check_documents(docs, version)
            found += _argocd_paths(root, docs)
            found += _argocd_kinds(root, docs, outputs)
            report.violations.extend(_tag(found, ARGOCD_ENV))


def validate_tree(
    root: Path,
    crds_dir: Path | None = None,
    envs: Sequence[str] | None = None,
    *,
    project: ProjectConfig | None = None,
) -> Report:
    """Build and check every environment (or only ``envs``) and the Argo CD files.

    ``project`` is the service's ``[tool.knative-manifests]``; by default it is read from
    ``<root>/pyproject.toml`` (none there: no handler check). Raises ``ProjectConfigError``
    (or its ``RegistryImportError``) when that configuration cannot be used, and
    ``KustomizeError`` when no kustomize is installed: those are not findings about the
    manifests, so they are not violations either. ``crds_dir`` is a CRD cache or shared
    root holding the CRD sets of the service's Knative version (``CrdSetMissingError``
    when it does not).
    """
    if project is None:
        project = load_project_config(root)
    version = project.knative
    handlers = load_registry(project.registry, root) if project.registry else None
    report = Report(schemas_checked=crds_dir is not None)
    validator = (
        SchemaValidator(crd_directories(crds_dir, version), version.kubernetes_version)
        if crds_dir is not None
        else None
    )
    try:
        external = load_external_references(root / KNATIVE_DIR / "external-references.yaml")
    except ValueError as error:
        report.violations.append(Violation("references/external-file", str(error)))
        external = []
    overlays = find_overlays(root)
    if not overlays:
        report.violations.append(
            Violation("kustomize/build", f"no overlays under {root / KNATIVE_DIR / 'overlays'}")
        )
    overlays = [o for o in overlays if not envs or o.name in envs]
    kustomize_command()  # fail once, clearly, when neither kubectl nor kustomize exists
    # kustomize runs are independent processes: build the environments side by side.
    with ThreadPoolExecutor(max_workers=max(1, min(4, len(overlays)))) as pool:
        builds = list(pool.map(_try_build, overlays))
    outputs: dict[Path, list[dict[str, Any]]] = {}
    for overlay, built in zip(overlays, builds, strict=True):
        env = overlay.name
        report.environments.append(env)
        if isinstance(built, yamlio.YamlRefusedError):
            report.violations.append(Violation("yaml/refused", str(built), env=env))
            continue
        if isinstance(built, KustomizeError):
            report.violations.append(Violation("kustomize/build", str(built), env=env))
            continue
        docs = built
        outputs[overlay.resolve()] = docs
        report.documents += len(docs)
        found = _schema_violations(validator, docs)
        found += check_documents(docs, version)
        found += check_references(docs, external, overlay_namespace(overlay))
        report.violations.extend(_tag(found, env))
        report.warnings.extend(_tag(check_warnings(docs, version), env))
    contracts = (
        parse_contracts(project.contracts, f"{project.source} [tool.knative-manifests.contracts]")
        if project.contracts is not None
        else None
    )
    if contracts is not None and handlers is not None:
        report.violations.extend(stale_contracts(root, contracts, handlers))
    if handlers is not None and outputs:
        environments = {o.name: outputs[o.resolve()] for o in overlays if o.resolve() in outputs}
        matched = check_handlers(
            handlers,
            environments,
            source=contracts.source if contracts else None,
            strict=contracts is not None and contracts.broker is not None,
        )
        report.violations.extend(matched.violations)
        report.warnings.extend(matched.warnings)

    if outputs:
        report.violations.extend(
            check_catalog(
                root, {o.name: outputs[o.resolve()] for o in overlays if o.resolve() in outputs}
            )
        )
    _check_argocd(root, envs, validator, outputs, report, version=version)
    return report


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `validate`."""
    add_root_argument(parser)
    parser.add_argument(
        "--crds",
        type=Path,
        default=None,
        help=f"directory of upstream CRDs (default: ${CRDS_ENV_VAR}); see scripts/fetch-crds.sh",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=None,
        type=env_argument,
        help="only this environment (repeatable): an overlay name, or argocd",
    )


def run(args: argparse.Namespace) -> int:
    """Run `validate`; print one line per violation and a summary. 0 = clean."""
    crds = args.crds
    if crds is None and os.environ.get(CRDS_ENV_VAR):
        crds = Path(os.environ[CRDS_ENV_VAR])
    if crds is not None and not crds.is_dir():
        print(f"validate: CRD directory {crds} does not exist (scripts/fetch-crds.sh {crds})")
        return 2
    if crds is None:
        print(
            "validate: schema validation skipped: it needs the upstream CRDs. Fetch them with "
            f"`scripts/fetch-crds.sh .crds` and pass `--crds .crds` (or set {CRDS_ENV_VAR}). "
            "Admission rules and references are still checked."
        )
    root = (args.root or find_root()).resolve()
    try:
        for env in args.env or ():
            overlay_directory(root, env)
        report = validate_tree(root, crds, args.env)
    except (EnvNameError, KustomizeError, ProjectConfigError, CrdSetMissingError) as error:
        print(f"validate: {error}")
        return 2
    except ImportError as error:
        print(
            f"validate: schema validation needs the `validate` extra "
            f"(pip install 'knative-manifests[validate]'): {error}"
        )
        return 2
    for violation in report.violations:
        print(violation)
    for warning in report.warnings:
        print(f"WARNING: {warning}")
    print(report.summary())
    return 0 if report.ok else 1
