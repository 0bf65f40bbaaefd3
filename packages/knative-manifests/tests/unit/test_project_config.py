"""``[tool.knative-manifests]``: found upward from the working directory, read strictly."""

from __future__ import annotations

from pathlib import Path

import pytest

from knative_manifests import constants as c
from knative_manifests.project import (
    MAX_PYPROJECT_BYTES,
    ProjectConfig,
    ProjectConfigError,
    find_root,
    load_project_config,
)


def write(root: Path, text: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / "pyproject.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_both_keys_are_read(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[project]\nname = "x"\n\n[tool.knative-manifests]\n'
        'registry = "hello_events.handlers:registry"\ncanary-percent = 10\n',
    )
    assert load_project_config(tmp_path) == ProjectConfig(
        root=tmp_path,
        registry="hello_events.handlers:registry",
        canary_percent=10,
        source=path,
    )


def test_no_file_or_no_table_is_an_empty_configuration(tmp_path: Path) -> None:
    assert load_project_config(tmp_path) == ProjectConfig(root=tmp_path)
    write(tmp_path, '[project]\nname = "x"\n[tool.ruff]\nline-length = 100\n')
    config = load_project_config(tmp_path)
    assert (config.registry, config.canary_percent) == (None, None)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('registry = "a.b:c"\nregsitry = "x"\n', "unknown key(s) regsitry"),
        ('registry = "a.b"\n', "registry must be a string"),
        ('registry = "a.b:c\\n"\n', "registry must be a string"),
        ('registry = ["a:b"]\n', "registry must be a string"),
        ("canary-percent = 0\n", "canary-percent must be an integer from 1 to 99"),
        (f"canary-percent = {c.CANARY_PERCENT_MAX + 1}\n", "canary-percent must be"),
        ("canary-percent = 10.5\n", "canary-percent must be"),
        ("canary-percent = false\n", "canary-percent must be"),
    ],
)
def test_bad_values_name_the_key_and_the_file(tmp_path: Path, table: str, message: str) -> None:
    path = write(tmp_path, f"[tool.knative-manifests]\n{table}")
    with pytest.raises(ProjectConfigError) as raised:
        load_project_config(tmp_path)
    assert message in str(raised.value)
    assert str(path) in str(raised.value)


def test_the_table_must_be_a_table(tmp_path: Path) -> None:
    write(tmp_path, '[tool]\nknative-manifests = "yes"\n')
    with pytest.raises(ProjectConfigError, match=r"\[tool\.knative-manifests\] must be a table"):
        load_project_config(tmp_path)


def test_broken_toml_is_named(tmp_path: Path) -> None:
    write(tmp_path, "[tool.knative-manifests\n")
    with pytest.raises(ProjectConfigError, match="not valid TOML"):
        load_project_config(tmp_path)


def test_an_oversized_file_is_not_read(tmp_path: Path) -> None:
    write(tmp_path, "# " + "x" * MAX_PYPROJECT_BYTES + "\n")
    with pytest.raises(ProjectConfigError, match="larger than"):
        load_project_config(tmp_path)


def test_find_root_walks_up_to_the_nearest_pyproject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "service", "")
    nested = tmp_path / "service" / "deployments" / "knative"
    nested.mkdir(parents=True)
    assert find_root(nested) == (tmp_path / "service").resolve()
    monkeypatch.chdir(nested)
    assert find_root() == (tmp_path / "service").resolve()
    write(nested, "")  # a nearer one wins
    assert find_root() == nested.resolve()
