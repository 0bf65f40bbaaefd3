"""``yamlio``: the one bounded YAML loader (size cap, no anchors or aliases, nesting bound)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml

from knative_manifests import constants as c
from knative_manifests import yamlio
from knative_manifests.traffic import _revision_number

LAUGHS = "a: &a [lol, lol]\nb: [*a, *a]\n"


def test_plain_yaml_loads_like_safe_load() -> None:
    text = "a: 1\nb: [x, 'a&b*c', \"*not-an-alias\"]\nc: {d: null}\n---\n- 2\n"
    assert yamlio.loads_all(text) == list(yaml.safe_load_all(text))
    assert yamlio.loads("a: 1\n") == {"a": 1}
    assert yamlio.loads("") is None


def test_the_c_loader_is_used_when_pyyaml_has_it() -> None:
    expected = yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader
    assert yamlio.LOADER is expected


def test_a_refusal_is_a_yaml_error_naming_the_source_and_the_reason() -> None:
    with pytest.raises(yamlio.YamlRefusedError) as caught:
        yamlio.loads(LAUGHS, "overlays/dev/patch.yaml")
    assert isinstance(caught.value, yaml.YAMLError)
    assert caught.value.source == "overlays/dev/patch.yaml"
    assert str(caught.value) == (
        "overlays/dev/patch.yaml: line 1: anchor &a: YAML anchors and aliases are refused "
        "(an alias can expand without bound)"
    )


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("a: &x 1\n", "line 1: anchor &x"),
        ("a: 1\nb: *x\n", "line 2: alias *x"),  # an undefined alias is refused, not a crash
        ("base: &b {x: 1}\nc:\n  <<: *b\n", "line 1: anchor &b"),
        ("- &s [1]\n", "line 1: anchor &s"),
        ("a: 1\n---\nb: &late 2\n", "line 3: anchor &late"),  # every document is checked
    ],
)
def test_anchors_and_aliases_are_refused(text: str, found: str) -> None:
    with pytest.raises(yamlio.YamlRefusedError, match=re.escape(found)):
        yamlio.loads_all(text)


def test_a_billion_laughs_is_refused_at_once() -> None:
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [
        f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    started = time.perf_counter()
    with pytest.raises(yamlio.YamlRefusedError):
        yamlio.loads("\n".join(lines))
    assert time.perf_counter() - started < 1


def test_deep_nesting_is_refused_instead_of_crashing() -> None:
    # libyaml's composer recurses per level: 200 000 levels would kill the interpreter.
    with pytest.raises(yamlio.YamlRefusedError, match=f"deeper than {c.YAML_MAX_DEPTH}"):
        yamlio.loads("[" * 200_000)
    with pytest.raises(yamlio.YamlRefusedError, match="deeper"):
        yamlio.loads("a:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 150)))
    allowed = "[" * c.YAML_MAX_DEPTH + "]" * c.YAML_MAX_DEPTH
    assert yamlio.loads(allowed) is not None


def test_text_over_the_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(c, "YAML_MAX_BYTES", 10)
    assert yamlio.loads("a: 123456") == {"a": 123456}  # 9 bytes
    with pytest.raises(yamlio.YamlRefusedError, match="larger than 10 bytes"):
        yamlio.loads("a: 12345678")  # 11 bytes
    with pytest.raises(yamlio.YamlRefusedError, match="larger than 10 bytes"):
        yamlio.loads("a: ééééé")  # 8 characters, 13 bytes


def test_a_file_over_the_cap_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("a: " + "x" * 100 + "\n", encoding="utf-8")
    monkeypatch.setattr(c, "YAML_MAX_BYTES", 50)
    with pytest.raises(yamlio.YamlRefusedError) as caught:
        yamlio.load_file(path)
    assert str(caught.value) == f"{path}: larger than 50 bytes (the YAML size cap); refused"
    monkeypatch.setattr(c, "YAML_MAX_BYTES", 200)
    assert yamlio.load_all_file(path) == [{"a": "x" * 100}]


def test_the_real_cap_fits_the_largest_crd() -> None:
    assert c.YAML_MAX_BYTES == 4 * 1024 * 1024
    assert c.KUSTOMIZE_TIMEOUT_SECONDS == 120


def test_a_syntax_error_is_still_a_yaml_error() -> None:
    with pytest.raises(yaml.YAMLError) as caught:
        yamlio.loads("a: [1\n")
    assert not isinstance(caught.value, yamlio.YamlRefusedError)


def test_the_revision_number_pattern_matches_to_the_end_only() -> None:
    assert _revision_number("order-events-v3") == 3
    assert _revision_number("order-events-v3\n") == 0
