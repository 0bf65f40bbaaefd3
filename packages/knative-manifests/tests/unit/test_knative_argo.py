"""The offline ApplicationSet expansion renders the goTemplate subset like Argo CD does."""

from __future__ import annotations

from typing import Any

import pytest

from knative_manifests.argo import (
    TemplateError,
    generate_applications,
    render_go_template,
)

OPEN, CLOSE = "{" + "{", "}" + "}"


def t(text: str) -> str:
    """Write templates with [[ ]] so this file needs no escaping."""
    return text.replace("[[", OPEN).replace("]]", CLOSE)


def test_lookups_and_nested_keys() -> None:
    params = {"env": "dev", "cluster": {"name": "in-cluster"}}
    assert render_go_template(t("app-[[.env]]@[[ .cluster.name ]]"), params) == (
        "app-dev@in-cluster"
    )


def test_missing_keys_follow_missingkey() -> None:
    with pytest.raises(TemplateError, match="missingkey=error"):
        render_go_template(t("[[.nope]]"), {})
    assert render_go_template(t("[[.nope]]"), {}, missing_ok=True) == "<no value>"


@pytest.mark.parametrize(
    ("flag", "expected"), [(True, "a:\n  b: 1\n  c: 2\n"), (False, "a:\n  b: 1\n  d: 3\n")]
)
def test_conditions_trim_whitespace(flag: bool, expected: str) -> None:
    text = t("a:\n  b: 1\n[[- if .on ]]\n  c: 2\n[[- else ]]\n  d: 3\n[[- end ]]\n")
    assert render_go_template(text, {"on": flag}) == expected


@pytest.mark.parametrize(
    "text",
    ["[[ printf .x ]]", "[[ if eq .a 1 ]]x[[ end ]]", "[[ end ]]", "[[ if .a ]]", "[[ else ]]"],
)
def test_unsupported_or_unbalanced_templates_are_refused(text: str) -> None:
    with pytest.raises(TemplateError):
        render_go_template(t(text), {"a": 1, "x": 2})


def test_applications_from_list_generator_with_template_patch() -> None:
    appset: dict[str, Any] = {
        "metadata": {"name": "apps", "namespace": "argocd"},
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [
                {"list": {"elements": [{"env": "dev", "auto": True}, {"env": "prod"}]}},
                {"clusters": {}},
            ],
            "template": {
                "metadata": {"name": t("svc-[[.env]]")},
                "spec": {"project": "svc", "syncPolicy": {"syncOptions": ["CreateNamespace=true"]}},
            },
            "templatePatch": t(
                "spec:\n  syncPolicy:\n[[- if .auto ]]\n    automated:\n      prune: true\n"
                "[[- end ]]\n    syncOptions: [CreateNamespace=true]\n"
            ),
        },
    }
    with pytest.raises(TemplateError, match="auto"):
        generate_applications(appset)
    appset["spec"]["generators"][0]["list"]["elements"][1]["auto"] = False
    dev, prod = generate_applications(appset)
    assert dev["metadata"] == {"name": "svc-dev", "namespace": "argocd"}
    assert dev["spec"]["syncPolicy"]["automated"] == {"prune": True}
    assert "automated" not in prod["spec"]["syncPolicy"]
    assert prod["kind"] == "Application"


def test_only_go_template_application_sets_expand() -> None:
    with pytest.raises(TemplateError, match="goTemplate"):
        generate_applications({"spec": {"generators": []}})
