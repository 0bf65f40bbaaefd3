"""``catalog-info.yaml`` checked as Backstage's catalog would read it, and against the manifests.

Backstage ingests a bad entity silently (the processor logs an error, the Component never
shows up), so ``validate`` checks the file when the service has one:

* each entity: ``apiVersion`` backstage.io/v1alpha1 or v1beta1, a known ``kind``, a
  ``metadata.name`` of at most 63 letters and digits joined by single ``-_.``, and the
  ``spec`` fields the kind requires (Component: type, lifecycle, owner; API: type,
  lifecycle, owner, definition), ``owner``/``system`` as entity references (rule
  ``backstage/entity``);
* ``providesApis`` names an API entity of the file (``backstage/api-missing``), an API's
  ``$text`` definition a file that exists (``backstage/definition-file``), and
  ``backstage.io/techdocs-ref: dir:.`` a ``mkdocs.yml`` (``backstage/techdocs``);
* the Component's ``backstage.io/kubernetes-id`` is the label of the Knative Service every
  environment builds, or Backstage's Kubernetes tab stays empty (``backstage/kubernetes-id``).

The field rules follow Backstage's descriptor format (catalog-model's JSON schemas for
the Component and API kinds, and its entity-name and reference rules).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import yamlio
from .rules import SERVICE, Violation, group_kind_of

CATALOG_FILE = "catalog-info.yaml"
API_VERSIONS = frozenset({"backstage.io/v1alpha1", "backstage.io/v1beta1"})
KINDS = frozenset(
    {"Component", "API", "Resource", "System", "Domain", "Group", "User", "Location", "Template"}
)
KUBERNETES_ID = "backstage.io/kubernetes-id"
TECHDOCS_REF = "backstage.io/techdocs-ref"
_NAME = re.compile(r"[A-Za-z0-9]+([-_.][A-Za-z0-9]+)*")
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_REF = re.compile(
    r"(?:([A-Za-z]+):)?(?:([a-z0-9]([-a-z0-9]*[a-z0-9])?)/)?([A-Za-z0-9]+([-_.][A-Za-z0-9]+)*)"
)
_REQUIRED = {
    "Component": ("type", "lifecycle", "owner"),
    "API": ("type", "lifecycle", "owner", "definition"),
}


def _entity(doc: Any, index: int) -> list[Violation]:
    def bad(message: str, path: str = "") -> Violation:
        name = str(((doc or {}).get("metadata") or {}).get("name", f"[{index}]"))
        kind = str((doc or {}).get("kind", "entity"))
        return Violation("backstage/entity", message, kind, name, path, CATALOG_FILE)

    if not isinstance(doc, Mapping):
        return [bad("an entity must be a mapping")]
    found: list[Violation] = []
    if doc.get("apiVersion") not in API_VERSIONS:
        found.append(bad(f"apiVersion must be one of {sorted(API_VERSIONS)}", "apiVersion"))
    kind = doc.get("kind")
    if kind not in KINDS:
        found.append(bad(f"kind {kind!r} is no Backstage kind", "kind"))
    name = (doc.get("metadata") or {}).get("name")
    if not isinstance(name, str) or len(name) > 63 or not _NAME.fullmatch(name):
        found.append(
            bad(
                "metadata.name must be 1-63 letters and digits joined by single '-', '_' or '.'",
                "metadata.name",
            )
        )
    spec = doc.get("spec")
    if not isinstance(spec, Mapping):
        return [*found, bad("spec must be a mapping", "spec")]
    for key in _REQUIRED.get(str(kind), ()):
        value = spec.get(key)
        if key == "definition" and isinstance(value, Mapping):
            if len(value) != 1 or next(iter(value)) not in ("$text", "$json", "$yaml"):
                found.append(
                    bad("definition must be a string or one $text/$json/$yaml", "spec.definition")
                )
            continue
        if not isinstance(value, str) or not value:
            found.append(bad(f"spec.{key} is required (a non-empty string)", f"spec.{key}"))
    for key in ("owner", "system"):
        value = spec.get(key)
        if value is not None and (not isinstance(value, str) or not _REF.fullmatch(value)):
            found.append(bad(f"spec.{key} {value!r} is no entity reference", f"spec.{key}"))
    return found


def _api_name(ref: Any) -> str | None:
    match = _REF.fullmatch(ref) if isinstance(ref, str) else None
    if (
        match is None
        or (match.group(1) or "api").lower() != "api"
        or match.group(2) not in (None, "default")
    ):
        return None  # another kind or namespace: not expected in this file
    return match.group(4)


def _label(doc: Mapping[str, Any]) -> Any:
    """The Knative Service's backstage.io/kubernetes-id label (None for other kinds)."""
    if group_kind_of(doc) != SERVICE:
        return None
    labels = (doc.get("metadata") or {}).get("labels")
    return labels.get(KUBERNETES_ID) if isinstance(labels, Mapping) else None


def check_catalog(
    root: Path, environments: Mapping[str, Sequence[Mapping[str, Any]]]
) -> list[Violation]:
    """Every finding about ``<root>/catalog-info.yaml`` (none when there is no such file)."""
    path = root / CATALOG_FILE
    if not path.is_file():
        return []
    try:
        docs = [d for d in yamlio.load_all_file(path) if d is not None]
    except Exception as error:  # refused or broken YAML: one violation naming it
        return [
            Violation(
                "backstage/entity", f"{CATALOG_FILE} cannot be read: {error}", env=CATALOG_FILE
            )
        ]
    found = [v for index, doc in enumerate(docs) for v in _entity(doc, index)]
    entities = [d for d in docs if isinstance(d, Mapping)]
    apis = {(d.get("metadata") or {}).get("name") for d in entities if d.get("kind") == "API"}
    for doc in entities:
        kind, name = str(doc.get("kind")), str((doc.get("metadata") or {}).get("name"))
        raw_spec = doc.get("spec")
        spec: Mapping[str, Any] = raw_spec if isinstance(raw_spec, Mapping) else {}
        metadata = doc.get("metadata")
        raw = metadata.get("annotations") if isinstance(metadata, Mapping) else None
        annotations: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        for ref in spec.get("providesApis") or []:
            api = _api_name(ref)
            if api is not None and api not in apis:
                found.append(
                    Violation(
                        "backstage/api-missing",
                        f"providesApis names {ref!r}, which this file does not define",
                        kind,
                        name,
                        "spec.providesApis",
                        CATALOG_FILE,
                    )
                )
        definition = spec.get("definition")
        if isinstance(definition, Mapping) and isinstance(definition.get("$text"), str):
            target = definition["$text"]
            if "://" not in target and not (root / target).is_file():
                found.append(
                    Violation(
                        "backstage/definition-file",
                        f"the definition {target} does not exist (run `make contracts`)",
                        kind,
                        name,
                        "spec.definition",
                        CATALOG_FILE,
                    )
                )
        if annotations.get(TECHDOCS_REF) == "dir:." and not (root / "mkdocs.yml").is_file():
            found.append(
                Violation(
                    "backstage/techdocs",
                    f"{TECHDOCS_REF} is dir:. but there is no mkdocs.yml",
                    kind,
                    name,
                    "metadata.annotations",
                    CATALOG_FILE,
                )
            )
        kubernetes_id = annotations.get(KUBERNETES_ID)
        if kind == "Component" and kubernetes_id is not None:
            for env, built in environments.items():
                labelled = [d for d in built if _label(d) == kubernetes_id]
                if not labelled:
                    found.append(
                        Violation(
                            "backstage/kubernetes-id",
                            f"no Knative Service in {env} carries the label {KUBERNETES_ID}: "
                            f"{kubernetes_id}, so Backstage shows none of its resources",
                            kind,
                            name,
                            "metadata.annotations",
                            CATALOG_FILE,
                        )
                    )
    return found
