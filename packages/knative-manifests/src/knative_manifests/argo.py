"""Expand an Argo CD ApplicationSet's list generator into the Applications it would create.

Argo CD renders each string field of the template alone with Go's text/template (goTemplate)
and applies ``templatePatch`` afterwards. This module implements the small subset the
rendered ApplicationSet uses: ``{{.key}}`` / ``{{ .a.b }}`` lookups, ``{{- if .key }}``,
``{{- else }}`` and ``{{- end }}`` with whitespace trimming. Anything else is refused with an
error rather than guessed, so the checks never pass on a template they did not understand.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

import yaml

from . import yamlio
from .constants import ARGOCD_NAMESPACE

_ACTION = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.DOTALL)
_FIELD = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)")


class TemplateError(ValueError):
    """A goTemplate construct outside the supported subset, or a missing key."""


def _lookup(params: Mapping[str, Any], dotted: str, *, missing_ok: bool) -> Any:
    value: Any = params
    for part in dotted.split("."):
        if not isinstance(value, Mapping) or part not in value:
            if missing_ok:
                return None
            raise TemplateError(f"map has no entry for key {part!r} (missingkey=error)")
        value = value[part]
    return value


def _truthy(value: Any) -> bool:
    return value not in (None, False, 0, "", [], {})


def render_go_template(  # noqa: PLR0912 - one branch per template action
    text: str, params: Mapping[str, Any], *, missing_ok: bool = False
) -> str:
    """Render ``text`` with ``params`` as Argo CD's goTemplate would (supported subset)."""
    out: list[str] = []
    # Stack of (emitting_before_if, condition_taken, in_else)
    stack: list[tuple[bool, bool, bool]] = []
    emitting = True
    pos = 0
    for match in _ACTION.finditer(text):
        literal = text[pos : match.start()]
        if match.group(1):
            literal = literal.rstrip()
        if emitting:
            out.append(literal)
        pos = match.end()
        if match.group(3):
            rest = text[pos:]
            pos += len(rest) - len(rest.lstrip())
        action = match.group(2)
        if action.startswith("if "):
            field = _FIELD.fullmatch(action[3:].strip())
            if field is None:
                raise TemplateError(f"unsupported condition {action!r}")
            taken = _truthy(_lookup(params, field.group(1), missing_ok=missing_ok))
            stack.append((emitting, taken, False))
            emitting = emitting and taken
        elif action == "else":
            if not stack or stack[-1][2]:
                raise TemplateError("{{ else }} without {{ if }}")
            before, taken, _ = stack[-1]
            stack[-1] = (before, taken, True)
            emitting = before and not taken
        elif action == "end":
            if not stack:
                raise TemplateError("{{ end }} without {{ if }}")
            emitting = stack.pop()[0]
        else:
            field = _FIELD.fullmatch(action)
            if field is None:
                raise TemplateError(f"unsupported template action {action!r}")
            if emitting:
                value = _lookup(params, field.group(1), missing_ok=missing_ok)
                out.append("<no value>" if value is None else _go_string(value))
    if stack:
        raise TemplateError("{{ if }} without {{ end }}")
    if emitting:
        out.append(text[pos:])
    return "".join(out)


def _go_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _render_tree(node: Any, params: Mapping[str, Any], missing_ok: bool) -> Any:
    if isinstance(node, str):
        return render_go_template(node, params, missing_ok=missing_ok)
    if isinstance(node, list):
        return [_render_tree(item, params, missing_ok) for item in node]
    if isinstance(node, dict):
        return {
            _render_tree(k, params, missing_ok): _render_tree(v, params, missing_ok)
            for k, v in node.items()
        }
    return node


def _merge(base: Any, patch: Any) -> Any:
    """Strategic-merge-ish: maps merge recursively, everything else is replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = _merge(base.get(key), value) if key in base else value
        return merged
    return copy.deepcopy(patch)


def list_elements(appset: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The parameter sets of the ApplicationSet's top-level list generators.

    Other generators (git, cluster, matrix, ...) need a repository or a cluster to expand;
    their Applications are not produced offline, and the structural rules check them instead.
    """
    elements: list[dict[str, Any]] = []
    for generator in appset.get("spec", {}).get("generators") or []:
        if not isinstance(generator, dict) or not isinstance(generator.get("list"), dict):
            continue
        for element in generator["list"].get("elements") or []:
            if not isinstance(element, dict):
                raise TemplateError("list generator elements must be maps")
            elements.append(element)
    return elements


def generate_applications(appset: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Application manifests Argo CD would create from the list generators."""
    spec = appset.get("spec", {})
    if not spec.get("goTemplate"):
        raise TemplateError("only goTemplate ApplicationSets can be expanded offline")
    missing_ok = "missingkey=error" not in (spec.get("goTemplateOptions") or [])
    template = spec.get("template") or {}
    applications = []
    for params in list_elements(appset):
        rendered = _render_tree(copy.deepcopy(template), params, missing_ok)
        patch_text = spec.get("templatePatch")
        if patch_text:
            rendered_patch = render_go_template(patch_text, params, missing_ok=missing_ok)
            try:
                patch = yamlio.loads(rendered_patch, "the ApplicationSet's templatePatch")
            except yaml.YAMLError as error:
                raise TemplateError(f"templatePatch is no usable YAML: {error}") from None
            if patch is not None:
                rendered = _merge(rendered, patch)
        metadata = dict(rendered.get("metadata") or {})
        metadata.setdefault(
            "namespace", appset.get("metadata", {}).get("namespace", ARGOCD_NAMESPACE)
        )
        applications.append(
            {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "Application",
                "metadata": metadata,
                "spec": rendered.get("spec") or {},
            }
        )
    return applications
