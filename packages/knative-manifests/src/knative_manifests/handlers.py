"""Handlers and Triggers checked together: every routed event type has a handler.

A Trigger whose ``filter.attributes.type`` has no handler makes the broker deliver events
the service answers with an error, and retry them until they land in the dead-letter sink;
the API server cannot know that. With ``registry = "module:attribute"`` in
``[tool.knative-manifests]``, ``validate`` imports the service's handler registry and:

* reports each Trigger (delivering to a Service of this repository) whose type has no
  handler: rule ``triggers/handler-missing``, which fails validation;
* warns about each registered type that no Trigger routes, unless its registration is
  ``direct_only`` (called directly or through a SinkBinding): rule
  ``triggers/handler-unrouted``, a warning only, since the handler may be reached otherwise.

A Trigger without a type filter delivers every type, so it reaches every handler.

The registry is duck-typed (``.types``: the registered types; ``.get(type)``: a registration
with a ``direct_only`` attribute, or None), so this package does not depend on the runtime.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .project import ProjectConfigError
from .rules import SERVICE, TRIGGER, Violation, group_kind_of

HANDLER_MISSING = "triggers/handler-missing"
HANDLER_UNROUTED = "triggers/handler-unrouted"


class RegistryImportError(ProjectConfigError):
    """The configured registry cannot be imported or is not a handler registry."""


@dataclass(frozen=True)
class HandlerTypes:
    """What the check needs of a registry: each type, and whether it is ``direct_only``."""

    direct_only: Mapping[str, bool] = field(default_factory=dict)

    @property
    def types(self) -> list[str]:
        return sorted(self.direct_only)


def _types_of(registry: Any, spec: str) -> HandlerTypes:
    types = getattr(registry, "types", None)
    get = getattr(registry, "get", None)
    if callable(types):
        types = types()
    if not callable(get) or not isinstance(types, Iterable) or isinstance(types, str | bytes):
        raise RegistryImportError(
            f"registry {spec!r} is a {type(registry).__name__}, not a handler registry "
            "(it needs .types, the registered event types, and .get(type))"
        )
    result: dict[str, bool] = {}
    for event_type in types:
        if not isinstance(event_type, str):
            raise RegistryImportError(f"registry {spec!r}: event type {event_type!r} is no string")
        registration = get(event_type)
        result[event_type] = bool(getattr(registration, "direct_only", False))
    return HandlerTypes(result)


def load_registry(spec: str, root: Path) -> HandlerTypes:
    """Import ``"module.path:attribute"`` from ``<root>/src``, fresh, and leave no trace.

    The service's package normally lives under ``src/`` and is importable once installed;
    putting ``src`` first makes the check see the working tree even when it is not. The
    import is isolated: modules of the same top-level package imported earlier (another
    service validated in this process, or this one's own tests) are set aside while the
    registry is imported and put back afterwards, so each root gets its own handlers and
    the caller's modules stay the objects they were.
    """
    module_name, _, attribute = spec.partition(":")
    source = root / "src"
    top = module_name.partition(".")[0]
    saved_path = list(sys.path)
    saved_modules = {
        name: module
        for name, module in sys.modules.items()
        if name == top or name.startswith(top + ".")
    }
    if source.is_dir():
        for name in saved_modules:
            del sys.modules[name]
        sys.path.insert(0, str(source))
    try:
        module = importlib.import_module(module_name)
        registry = functools.reduce(getattr, attribute.split("."), module)
        return _types_of(registry, spec)
    except RegistryImportError:
        raise
    except Exception as error:  # any failure while importing is reported the same way
        raise RegistryImportError(
            f"cannot import the handler registry {spec!r} ([tool.knative-manifests] registry "
            f"of {root / 'pyproject.toml'}): {type(error).__name__}: {error}"
        ) from error
    finally:
        if source.is_dir():
            for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
                del sys.modules[name]
            sys.modules.update(saved_modules)
            sys.path[:] = saved_path


def _service_names(docs: Sequence[Mapping[str, Any]]) -> set[str]:
    return {
        str((d.get("metadata") or {}).get("name"))
        for d in docs
        if isinstance(d, Mapping) and group_kind_of(d) == SERVICE
    }


def _delivers_to(trigger: Mapping[str, Any], services: set[str]) -> bool:
    subscriber = (trigger.get("spec") or {}).get("subscriber")
    ref = subscriber.get("ref") if isinstance(subscriber, Mapping) else None
    if not isinstance(ref, Mapping):
        return False
    api_version = ref.get("apiVersion")
    group = api_version.rpartition("/")[0] if isinstance(api_version, str) else ""
    return (group, ref.get("kind")) == SERVICE and ref.get("name") in services


def _trigger_type(trigger: Mapping[str, Any]) -> str | None:
    spec = trigger.get("spec") or {}
    filter_ = spec.get("filter") if isinstance(spec, Mapping) else None
    attributes = filter_.get("attributes") if isinstance(filter_, Mapping) else None
    value = attributes.get("type") if isinstance(attributes, Mapping) else None
    return value if isinstance(value, str) else None


@dataclass
class HandlerCheck:
    """The violations (missing handlers) and warnings (unrouted handlers) found."""

    violations: list[Violation] = field(default_factory=list)
    warnings: list[Violation] = field(default_factory=list)


def check_handlers(
    handlers: HandlerTypes, environments: Mapping[str, Sequence[Mapping[str, Any]]]
) -> HandlerCheck:
    """Match each environment's Triggers against ``handlers``; see the module docstring."""
    result = HandlerCheck()
    routed: set[str] = set()
    every_type = False
    for env, docs in environments.items():
        services = _service_names(docs)
        for doc in docs:
            if group_kind_of(doc) != TRIGGER or not _delivers_to(doc, services):
                continue
            name = str((doc.get("metadata") or {}).get("name", ""))
            event_type = _trigger_type(doc)
            if event_type is None:
                every_type = True
                continue
            routed.add(event_type)
            if event_type not in handlers.direct_only:
                result.violations.append(
                    Violation(
                        HANDLER_MISSING,
                        f"Trigger {name} routes events of type {event_type!r} but the "
                        f"registry has no handler for it (handled: "
                        f"{', '.join(handlers.types) or 'none'})",
                        "Trigger",
                        name,
                        "spec.filter.attributes.type",
                        env,
                    )
                )
    if every_type:
        return result
    for event_type in handlers.types:
        if event_type not in routed and not handlers.direct_only[event_type]:
            result.warnings.append(
                Violation(
                    HANDLER_UNROUTED,
                    f"the handler of {event_type!r} is registered but no Trigger in "
                    f"{', '.join(environments) or 'any environment'} routes that type to "
                    "the service (add a Trigger, or register it with direct_only=True if "
                    "it is called directly)",
                )
            )
    return result
