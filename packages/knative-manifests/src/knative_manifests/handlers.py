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

Reachability uses Knative's filter semantics (``filters.py``): a probe event of each
registered type, carrying the filter attributes its handler declares (and the project's
Trigger ``source``, when ``[tool.knative-manifests.triggers]`` sets one), must pass the
filter of at least one Trigger that delivers to the service. With that table present the
Triggers are generated from the registry (``contracts.py``), so an unrouted handler is a
violation, not a warning: the manifests and the code disagree.

The registry is duck-typed (``.types``: the registered types; ``.get(type)``: a registration
with a ``direct_only`` attribute, or None; optionally ``attributes``, ``model``,
``description`` per registration and ``.emitted``), so this package does not depend on the
runtime.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .filters import FilterError, delivers
from .project import ProjectConfigError
from .rules import SERVICE, TRIGGER, Violation, group_kind_of

HANDLER_MISSING = "triggers/handler-missing"
HANDLER_UNROUTED = "triggers/handler-unrouted"


class RegistryImportError(ProjectConfigError):
    """The configured registry cannot be imported or is not a handler registry."""


@dataclass(frozen=True)
class TypeContract:
    """One event type as the registry declares it, for the Triggers and the contracts."""

    event_type: str
    schema: Mapping[str, Any] | None = None
    """The data model's JSON Schema; None: the handler takes any data."""
    description: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)
    """Extra exact Trigger filter attributes (besides ``type``)."""
    direct_only: bool = False


@dataclass(frozen=True)
class HandlerTypes:
    """What the checks need of a registry: each type, whether it is ``direct_only``, and
    (from a runtime registry) each handled and emitted type's contract."""

    direct_only: Mapping[str, bool] = field(default_factory=dict)
    contracts: Mapping[str, TypeContract] = field(default_factory=dict)
    emitted: Mapping[str, TypeContract] = field(default_factory=dict)

    @property
    def types(self) -> list[str]:
        return sorted(self.direct_only)

    def contract(self, event_type: str) -> TypeContract:
        """The contract of a handled type (a bare one when the registry said no more)."""
        return self.contracts.get(event_type) or TypeContract(
            event_type, direct_only=self.direct_only.get(event_type, False)
        )


def _schema(model: Any, spec: str, event_type: str) -> Mapping[str, Any] | None:
    if model is None:
        return None
    build = getattr(model, "model_json_schema", None)
    if not callable(build):
        raise RegistryImportError(
            f"registry {spec!r}: the model of {event_type!r} is no pydantic model"
        )
    schema = build()
    return schema if isinstance(schema, Mapping) else None


def _contract(item: Any, event_type: str, spec: str) -> TypeContract:
    attributes = getattr(item, "attributes", ()) or ()
    pairs = dict(attributes.items() if isinstance(attributes, Mapping) else attributes)
    description = getattr(item, "description", "")
    return TypeContract(
        event_type,
        schema=_schema(getattr(item, "model", None), spec, event_type),
        description=description if isinstance(description, str) else "",
        attributes={str(k): str(v) for k, v in pairs.items()},
        direct_only=bool(getattr(item, "direct_only", False)),
    )


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
    contracts: dict[str, TypeContract] = {}
    for event_type in types:
        if not isinstance(event_type, str):
            raise RegistryImportError(f"registry {spec!r}: event type {event_type!r} is no string")
        registration = get(event_type)
        result[event_type] = bool(getattr(registration, "direct_only", False))
        contracts[event_type] = _contract(registration, event_type, spec)
    emitted: dict[str, TypeContract] = {}
    for item in getattr(registry, "emitted", None) or ():
        event_type = getattr(item, "event_type", None)
        if isinstance(event_type, str):
            emitted[event_type] = _contract(item, event_type, spec)
    return HandlerTypes(result, contracts, emitted)


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


def probe_event(contract: TypeContract, source: str | None = None) -> dict[str, str]:
    """An event of ``contract``'s type as the broker would see it from a matching producer."""
    event = {"specversion": "1.0", "id": "reachability-probe", "source": source or "/probe"}
    event.update(contract.attributes)
    event["type"] = contract.event_type
    return event


def check_handlers(
    handlers: HandlerTypes,
    environments: Mapping[str, Sequence[Mapping[str, Any]]],
    *,
    source: str | None = None,
    strict: bool = False,
) -> HandlerCheck:
    """Match each environment's Triggers against ``handlers``; see the module docstring.

    ``source``: the Trigger source filter the project sets (added to each probe event);
    ``strict``: an unreachable handler is a violation (the Triggers come from the code).
    """
    result = HandlerCheck()
    triggers: list[Mapping[str, Any]] = []
    for env, docs in environments.items():
        services = _service_names(docs)
        for doc in docs:
            if group_kind_of(doc) != TRIGGER or not _delivers_to(doc, services):
                continue
            triggers.append(doc)
            name = str((doc.get("metadata") or {}).get("name", ""))
            event_type = _trigger_type(doc)
            if event_type is None:
                continue
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
    for event_type in handlers.types:
        if handlers.direct_only[event_type] or _reachable(
            probe_event(handlers.contract(event_type), source), triggers
        ):
            continue
        found = Violation(
            HANDLER_UNROUTED,
            f"the handler of {event_type!r} is registered but no Trigger in "
            f"{', '.join(environments) or 'any environment'} delivers that type to the "
            "service ("
            + (
                "run `make contracts` to regenerate the Triggers from the handlers, "
                if strict
                else "add a Trigger, "
            )
            + "or register it with direct_only=True if it "
            "is called directly)",
        )
        (result.violations if strict else result.warnings).append(found)
    return result


def _reachable(event: Mapping[str, str], triggers: Sequence[Mapping[str, Any]]) -> bool:
    """Whether some Trigger's filter passes ``event`` (a filter it cannot read: assume so)."""
    for trigger in triggers:
        try:
            if delivers(trigger, event):
                return True
        except FilterError:
            return True  # reported by the rules as the Trigger's own problem
    return False
