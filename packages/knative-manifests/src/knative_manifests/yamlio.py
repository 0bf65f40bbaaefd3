"""The one way this package reads YAML: bounded, so a hostile file cannot stall or crash it.

Every YAML file or text the tools read (overlays, patches, kustomizations, Argo CD files,
``external-references.yaml``, CRDs, kustomize's output) is loaded here, and refused with a
``YamlRefusedError`` naming the file and the reason when

* it is larger than ``YAML_MAX_BYTES`` (read at most one byte past the cap, never the rest);
* it has an anchor (``&name``) or an alias (``*name``, also in a ``<<: *name`` merge key).
  Aliases are refused, not bounded: one alias can stand for a whole subtree, so nine lines
  of nested aliases (the "billion laughs") expand to a billion nodes in whatever walks the
  data next (a comparison, a dump, kustomize). Kubernetes manifests have no need of them and
  kustomize writes none, so refusing them is simpler and safer than counting expansion; an
  anchor without an alias is refused too, so the rule is one sentence;
* it nests mappings and sequences deeper than ``YAML_MAX_DEPTH``: libyaml's composer
  recurses once per level and a few hundred thousand ``[`` overflow the C stack.

The checks walk libyaml's event stream (flat, no recursion, no node built) before the
document is composed, so a refused text is never expanded. libyaml's loader
(``CSafeLoader``) is used when PyYAML has it, the pure-Python ``SafeLoader`` otherwise.
``YamlRefusedError`` is a ``yaml.YAMLError``: code that reports invalid YAML reports a
refusal the same way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from . import constants as c

LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_OPEN = (yaml.MappingStartEvent, yaml.SequenceStartEvent)


class YamlRefusedError(yaml.YAMLError):
    """A YAML file or text refused before loading; ``source`` names it, ``reason`` says why."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


def read_text(path: str | os.PathLike[str]) -> str:
    """The UTF-8 text of ``path``; a file over ``YAML_MAX_BYTES`` is refused unread."""
    with open(path, "rb") as stream:
        data = stream.read(c.YAML_MAX_BYTES + 1)
    if len(data) > c.YAML_MAX_BYTES:
        raise YamlRefusedError(
            str(path), f"larger than {c.YAML_MAX_BYTES} bytes (the YAML size cap); refused"
        )
    return data.decode("utf-8")


def check_text(text: str, source: str = "<text>") -> None:
    """Refuse ``text`` (raise ``YamlRefusedError``) when it is too large, has an anchor or
    an alias, or nests too deep; a syntax error raises ``yaml.YAMLError``."""
    if len(text) > c.YAML_MAX_BYTES or len(text.encode("utf-8")) > c.YAML_MAX_BYTES:
        raise YamlRefusedError(
            source, f"larger than {c.YAML_MAX_BYTES} bytes (the YAML size cap); refused"
        )
    depth = 0
    for event in yaml.parse(text, Loader=LOADER):
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        if isinstance(event, yaml.AliasEvent):
            raise YamlRefusedError(
                source,
                f"line {line}: alias *{event.anchor}: YAML anchors and aliases are refused "
                "(an alias can expand without bound)",
            )
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise YamlRefusedError(
                source,
                f"line {line}: anchor &{anchor}: YAML anchors and aliases are refused "
                "(an alias can expand without bound)",
            )
        if isinstance(event, _OPEN):
            depth += 1
            if depth > c.YAML_MAX_DEPTH:
                raise YamlRefusedError(
                    source, f"line {line}: nested deeper than {c.YAML_MAX_DEPTH} levels; refused"
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def loads(text: str, source: str = "<text>") -> Any:
    """The one YAML document of ``text``, after ``check_text``."""
    check_text(text, source)
    return yaml.load(text, Loader=LOADER)  # noqa: S506 - a safe loader


def loads_all(text: str, source: str = "<text>") -> list[Any]:
    """Every YAML document of ``text`` (``None`` for an empty one), after ``check_text``."""
    check_text(text, source)
    return list(yaml.load_all(text, Loader=LOADER))


def load_file(path: Path) -> Any:
    """The one YAML document of the file ``path`` (bounded as ``read_text``, ``loads``)."""
    return loads(read_text(path), str(path))


def load_all_file(path: Path) -> list[Any]:
    """Every YAML document of the file ``path`` (bounded as ``read_text``, ``loads_all``)."""
    return loads_all(read_text(path), str(path))
