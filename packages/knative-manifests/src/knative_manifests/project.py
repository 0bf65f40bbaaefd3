"""The service a command works on: its root directory and its ``[tool.knative-manifests]``.

The commands run inside a service repository. Its ``pyproject.toml`` says what the package
cannot know on its own: where the service's handler registry lives (so ``validate`` can
match handlers and Triggers) and the share a new canary gets (``traffic start``)::

    [tool.knative-manifests]
    registry = "hello_events.handlers:registry"
    canary-percent = 10
    knative-version = "1.23"

    [tool.knative-manifests.contracts]   # make contracts: Triggers, schemas, EventTypes...
    service = "hello-events"
    broker = "default"

Every key is optional (``contracts.py`` checks the contracts table's keys).
``knative-version`` picks the CRD sets, the Kubernetes version and the version-specific
rules ``validate`` applies (``versions.py``); a service that states none is a Knative 1.15
service (``versions.UNSTATED_VERSION``), as every service was before the template asked. A
key this package does not know, or a value of the wrong type, is an error naming the key
and the file: a typo must not silently turn a check off.
"""

from __future__ import annotations

import argparse
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import constants as c
from . import versions

PYPROJECT = "pyproject.toml"
TOOL_TABLE = "knative-manifests"
#: A pyproject.toml larger than this is not a service's project file; refuse to parse it.
MAX_PYPROJECT_BYTES = 1 << 20
_REGISTRY = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
)


class ProjectConfigError(Exception):
    """The service's ``[tool.knative-manifests]`` (or its pyproject.toml) is unusable."""


@dataclass(frozen=True)
class ProjectConfig:
    """What ``[tool.knative-manifests]`` says, with ``root`` the service's directory.

    ``registry`` is ``"module.path:attribute"`` (or ``None``: no handler check);
    ``canary_percent`` is what ``traffic start`` gives a canary without ``--percent``.
    """

    root: Path
    registry: str | None = None
    canary_percent: int | None = None
    source: Path | None = None
    contracts: dict[str, Any] | None = None
    """The raw ``[tool.knative-manifests.contracts]`` table; ``contracts.py`` checks it."""
    knative_version: str = versions.UNSTATED_VERSION

    @property
    def knative(self) -> versions.KnativeVersion:
        """The table entry of the Knative version this service targets."""
        return versions.get(self.knative_version)


def find_root(start: Path | None = None) -> Path:
    """The nearest directory from ``start`` (default: cwd) upward that has a pyproject.toml.

    Without one, ``start`` itself: a bare deployments tree can still be validated.
    """
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / PYPROJECT).is_file():
            return directory
    return here


def _read_text(path: Path) -> str:
    try:
        with path.open("rb") as stream:
            data = stream.read(MAX_PYPROJECT_BYTES + 1)
    except OSError as error:
        raise ProjectConfigError(f"{path}: cannot read it: {error}") from None
    if len(data) > MAX_PYPROJECT_BYTES:
        raise ProjectConfigError(f"{path}: larger than {MAX_PYPROJECT_BYTES} bytes; not read")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ProjectConfigError(f"{path}: not UTF-8: {error}") from None


def _registry(value: Any, path: Path) -> str:
    if not isinstance(value, str) or not _REGISTRY.fullmatch(value):
        raise ProjectConfigError(
            f"{path}: [tool.{TOOL_TABLE}] registry must be a string "
            f'"module.path:attribute" (like "hello_events.handlers:registry"), not {value!r}'
        )
    return value


def _canary_percent(value: Any, path: Path) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not c.CANARY_PERCENT_MIN <= value <= c.CANARY_PERCENT_MAX
    ):
        raise ProjectConfigError(
            f"{path}: [tool.{TOOL_TABLE}] canary-percent must be an integer from "
            f"{c.CANARY_PERCENT_MIN} to {c.CANARY_PERCENT_MAX}, not {value!r}"
        )
    return value


def _knative_version(value: Any, path: Path) -> str:
    if not isinstance(value, str) or value not in versions.VERSIONS:
        raise ProjectConfigError(
            f"{path}: [tool.{TOOL_TABLE}] knative-version must be one of "
            f"{', '.join(repr(v) for v in versions.VERSIONS)} (a string), not {value!r}"
        )
    return value


def parse_project_config(text: str, root: Path, source: Path) -> ProjectConfig:
    """The ``[tool.knative-manifests]`` table of pyproject.toml ``text`` (from ``source``)."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ProjectConfigError(f"{source}: not valid TOML: {error}") from None
    tool = document.get("tool", {})
    table = tool.get(TOOL_TABLE) if isinstance(tool, dict) else None
    if table is None:
        return ProjectConfig(root=root, source=source)
    if not isinstance(table, dict):
        raise ProjectConfigError(f"{source}: [tool.{TOOL_TABLE}] must be a table")
    known = {"registry", "canary-percent", "contracts", "knative-version"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ProjectConfigError(
            f"{source}: [tool.{TOOL_TABLE}] has unknown key(s) {', '.join(unknown)}; "
            f"the keys are {', '.join(sorted(known))}"
        )
    registry = table.get("registry")
    percent = table.get("canary-percent")
    contracts = table.get("contracts")
    if contracts is not None and not isinstance(contracts, dict):
        raise ProjectConfigError(f"{source}: [tool.{TOOL_TABLE}.contracts] must be a table")
    version = table.get("knative-version")
    return ProjectConfig(
        contracts=contracts,
        root=root,
        registry=None if registry is None else _registry(registry, source),
        canary_percent=None if percent is None else _canary_percent(percent, source),
        source=source,
        knative_version=(
            versions.UNSTATED_VERSION if version is None else _knative_version(version, source)
        ),
    )


def load_project_config(root: Path) -> ProjectConfig:
    """Read ``<root>/pyproject.toml``; no file or no table is an empty configuration."""
    path = root / PYPROJECT
    if not path.is_file():
        return ProjectConfig(root=root)
    return parse_project_config(_read_text(path), root, path)


def add_root_argument(parser: argparse.ArgumentParser) -> None:
    """``--root``, the same for every command: where the service's pyproject.toml is."""
    parser.add_argument(
        "--root",
        type=Path,
        default=None,
        help="service root (default: the nearest directory upward with a pyproject.toml)",
    )
