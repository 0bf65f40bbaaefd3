"""``knative-manifests contracts``: the files that follow from the handler registry.

The registry is the one place a service says which CloudEvent types it consumes (its
handlers, with the extra filter attributes each declares) and emits (``registry.emits``).
``make contracts`` writes from it, and ``validate`` fails while any of them is stale:

* ``deployments/knative/eventing/triggers.yaml``: one Trigger per handled type that is not
  ``direct_only`` (type + the handler's attributes + the project's ``source``), with the
  delivery policy of ``[tool.knative-manifests.contracts]``;
* ``schemas/<type>.json``: the JSON Schema of each consumed and emitted type's data (the
  pydantic model's; "any JSON value" for a handler without a model);
* ``deployments/knative/eventing/eventtypes.yaml``: an EventType per type, referencing the
  Broker, with ``schema`` (the dataschema URL) set. ``eventing.knative.dev/v1beta2`` is
  used: the one EventType version that both Knative 1.15 and 1.23 serve and store with
  ``reference``, ``schema`` and ``type`` fields (v1beta3 drops ``schema`` and ``type``);
* ``asyncapi.yaml``: an AsyncAPI 3.0 document: a channel and an operation per type
  (``receive`` for consumed, ``send`` for emitted), its payload the schema file.

Without ``broker`` in the table (a service without Knative Eventing) only the schemas and
the AsyncAPI document are written. The files are written as text by hand, not by a YAML
library, so that the template renders them byte for byte the same (a test proves it) and
a fresh service's ``make contracts`` changes nothing.

The table's keys: ``service`` (the Knative Service, required), ``broker``, ``source``,
``labels``, ``annotations``, ``retry``, ``backoff-policy``, ``backoff-delay``,
``dead-letter-sink``, ``schema-base-url`` (where the schemas are published; the
EventTypes' and the AsyncAPI document's URLs start with it), ``subscriber-audience``
(``spec.subscriber.audience`` of each Trigger, for OIDC-authenticated delivery).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from . import constants as c
from . import yamlio
from .formats import is_dns1035_label, parse_iso8601_duration
from .handlers import HandlerTypes, TypeContract, load_registry
from .project import ProjectConfig, ProjectConfigError, add_root_argument, find_root
from .project import load_project_config as _load_project
from .rules import Violation

HELP = "regenerate Triggers, JSON Schemas, EventTypes and the AsyncAPI document from the handlers"
STALE = "contracts/stale"
TRIGGERS_FILE = "deployments/knative/eventing/triggers.yaml"
EVENTTYPES_FILE = "deployments/knative/eventing/eventtypes.yaml"
SCHEMAS_DIR = "schemas"
ASYNCAPI_FILE = "asyncapi.yaml"
#: The EventType version Knative 1.15 and 1.23 both serve (and store) with spec.schema.
EVENTTYPE_API_VERSION = "eventing.knative.dev/v1beta2"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
_KEYS = frozenset(
    {"service", "broker", "source", "labels", "annotations", "trigger-annotations", "retry",
     "backoff-policy", "backoff-delay", "dead-letter-sink", "schema-base-url",
     "subscriber-audience"}
)  # fmt: skip
_YAML_WORDS = frozenset({"y", "n", "yes", "no", "on", "off", "true", "false", "null", "~"})


class ContractsError(ProjectConfigError):
    """``[tool.knative-manifests.contracts]`` is unusable, or the registry contradicts it."""


@dataclass(frozen=True)
class ContractsConfig:
    """The checked ``[tool.knative-manifests.contracts]`` table."""

    service: str
    broker: str | None = None
    source: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    trigger_annotations: Mapping[str, str] = field(default_factory=dict)
    retry: int | None = None
    backoff_policy: str | None = None
    backoff_delay: str | None = None
    dead_letter_sink: str | None = None
    schema_base_url: str = SCHEMAS_DIR
    subscriber_audience: str | None = None
    """The OIDC audience of the subscriber (spec.subscriber.audience), when events are
    authenticated."""


def _string_map(value: Any, key: str, where: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ContractsError(f"{where}: {key} must be a table of strings")
    return dict(value)


def parse_contracts(table: Mapping[str, Any], where: str) -> ContractsConfig:
    """Check the table; every error names the key."""
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ContractsError(
            f"{where}: unknown key(s) {', '.join(unknown)}; the keys are {', '.join(sorted(_KEYS))}"
        )
    service = table.get("service")
    if not is_dns1035_label(service):
        raise ContractsError(
            f"{where}: service must be the Knative Service's name, not {service!r}"
        )
    broker = table.get("broker") or None
    if broker is not None and not is_dns1035_label(broker):
        raise ContractsError(f"{where}: broker must be a DNS-1035 label, not {broker!r}")
    source = table.get("source") or None
    if source is not None and (
        not isinstance(source, str) or not re.fullmatch(r"[!-~]{1,2048}", source)
    ):
        raise ContractsError(f"{where}: source must be a URI-reference without spaces")
    retry = table.get("retry")
    if retry is not None and (
        isinstance(retry, bool) or not isinstance(retry, int) or not 0 <= retry <= 100
    ):
        raise ContractsError(f"{where}: retry must be an integer from 0 to 100, not {retry!r}")
    policy = table.get("backoff-policy") or None
    if policy not in (None, "exponential", "linear"):
        raise ContractsError(
            f"{where}: backoff-policy must be exponential or linear, not {policy!r}"
        )
    delay = table.get("backoff-delay") or None
    if delay is not None:
        try:
            parse_iso8601_duration(delay)
        except ValueError as error:
            raise ContractsError(f"{where}: backoff-delay: {error}") from None
    sink = table.get("dead-letter-sink") or None
    if sink is not None and not (
        is_dns1035_label(sink) or re.fullmatch(r"https?://[^/\s]+(/\S*)?", str(sink))
    ):
        raise ContractsError(
            f"{where}: dead-letter-sink must be a Knative Service name or an http(s) URL"
        )
    base = table.get("schema-base-url", SCHEMAS_DIR)
    if not isinstance(base, str) or not re.fullmatch(r"[!-~]{1,1024}", base):
        raise ContractsError(f"{where}: schema-base-url must be a URL without spaces")
    return ContractsConfig(
        service=str(service),
        broker=broker,
        source=source,
        labels=_string_map(table.get("labels", {}), "labels", where),
        annotations=_string_map(table.get("annotations", {}), "annotations", where),
        trigger_annotations=_string_map(
            table.get("trigger-annotations", {}), "trigger-annotations", where
        ),
        retry=retry,
        backoff_policy=policy,
        backoff_delay=delay,
        dead_letter_sink=sink,
        schema_base_url=base.rstrip("/"),
        subscriber_audience=_audience(table.get("subscriber-audience"), where),
    )


def _audience(value: Any, where: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[!-~]{1,1024}", value):
        raise ContractsError(f"{where}: subscriber-audience must be a string without spaces")
    return value


# --------------------------------------------------------------------------------------------
# Names and scalars, the same as the template's includes/deploy.jinja
# --------------------------------------------------------------------------------------------


def resource_name(service: str, event_type: str) -> str:
    """``<service>-<type>`` as a DNS-1035 label of at most 63 characters (the template's
    ``trigger_name``): plain when the type is lowercase letters, digits and dots and fits,
    otherwise slugged, cut and suffixed with 8 hex digits of the type's SHA-1."""
    plain = f"{service}-{event_type.replace('.', '-')}"
    if re.fullmatch(r"[a-z0-9.]+", event_type) and is_dns1035_label(plain) and len(plain) <= 63:
        return plain
    slug = re.sub(r"[^a-z0-9]+", "-", event_type.lower()).strip("-")
    head = f"{service}-{slug}"[:54].strip("-")
    return f"{head}-{hashlib.sha1(event_type.encode()).hexdigest()[:8]}"  # noqa: S324 - a name, not security


#: The schema of every type whose data has no model: any JSON value.
ANY_SCHEMA_FILE = "any-json.json"


def schema_file(event_type: str) -> str:
    """The schema's file name: the type, with characters unsafe in paths as '_'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", event_type) + ".json"


def schema_file_of(contract: TypeContract) -> str:
    """The file holding ``contract``'s data schema (the shared one without a model)."""
    return ANY_SCHEMA_FILE if contract.schema is None else schema_file(contract.event_type)


def _scalar(value: str) -> str:
    """A YAML string scalar, quoted when YAML 1.1 would read it as something else."""
    if value == "" or value[:1] in "0123456789.+-" or value.lower() in _YAML_WORDS:
        return f'"{value}"'
    return value


def _q(value: str) -> str:
    """A double-quoted YAML scalar of free text (JSON is valid YAML; UTF-8 kept as is)."""
    return json.dumps(value, ensure_ascii=False)


def _qh(value: str) -> str:
    """A double-quoted scalar written as Jinja's ``tojson`` writes it (the template uses
    it): ``<``, ``>``, ``&`` and ``'`` as ``\\u`` escapes, so the texts match byte for byte."""
    text = json.dumps(value)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027")):
        text = text.replace(char, escape)
    return text


def _metadata(name: str, config: ContractsConfig, *, trigger: bool = False) -> list[str]:
    lines = ["metadata:", f"  name: {name}"]
    if config.labels:
        lines.append("  labels:")
        lines += [f"    {k}: {_scalar(v)}" for k, v in config.labels.items()]
    annotations = {**config.annotations, **(config.trigger_annotations if trigger else {})}
    if annotations:
        lines.append("  annotations:")
        lines += [f"    {k}: {_qh(v)}" for k, v in annotations.items()]
    return lines


# --------------------------------------------------------------------------------------------
# The files
# --------------------------------------------------------------------------------------------


def routed(handlers: HandlerTypes) -> list[TypeContract]:
    """The handled types a Trigger delivers (not ``direct_only``), sorted."""
    return [handlers.contract(t) for t in handlers.types if not handlers.direct_only[t]]


def _filter_attributes(contract: TypeContract, config: ContractsConfig) -> dict[str, str]:
    attributes = {"type": contract.event_type}
    if config.source is not None:
        attributes["source"] = config.source
    for name in sorted(contract.attributes):
        value = contract.attributes[name]
        if name in attributes and attributes[name] != value:
            raise ContractsError(
                f"the handler of {contract.event_type!r} filters {name}={value!r} but the "
                f"project's Triggers filter {name}={attributes[name]!r}"
            )
        attributes[name] = value
    return attributes


def triggers_yaml(config: ContractsConfig, handlers: HandlerTypes) -> str:
    """The Triggers file."""
    lines = [
        "# Generated by `knative-manifests contracts` (make contracts) from the handler registry:",
        f'# one Trigger per handled CloudEvent type, from the Broker "{config.broker}" to the',
        f'# Knative Service "{config.service}". Change the handlers or',
        "# [tool.knative-manifests.contracts] in pyproject.toml, not this file.",
    ]
    for contract in routed(handlers):
        lines += ["---", f"apiVersion: {c.EVENTING_API_VERSION}", "kind: Trigger"]
        lines += _metadata(resource_name(config.service, contract.event_type), config, trigger=True)
        lines += ["spec:", f"  broker: {config.broker}", "  filter:", "    attributes:"]
        lines += [f"      {k}: {_qh(v)}" for k, v in _filter_attributes(contract, config).items()]
        lines += [
            "  subscriber:",
            "    ref:",
            f"      apiVersion: {c.SERVING_API_VERSION}",
            "      kind: Service",
            f"      name: {config.service}",
        ]
        if config.subscriber_audience is not None:
            lines.append(f"    audience: {_qh(config.subscriber_audience)}")
        delivery = []
        if config.retry is not None:
            delivery.append(f"    retry: {config.retry}")
        if config.backoff_policy is not None:
            delivery.append(f"    backoffPolicy: {config.backoff_policy}")
        if config.backoff_delay is not None:
            delivery.append(f"    backoffDelay: {config.backoff_delay}")
        if config.dead_letter_sink is not None:
            delivery.append("    deadLetterSink:")
            if config.dead_letter_sink.startswith(("http://", "https://")):
                delivery.append(f"      uri: {_qh(config.dead_letter_sink)}")
            else:
                delivery += [
                    "      ref:",
                    f"        apiVersion: {c.SERVING_API_VERSION}",
                    "        kind: Service",
                    f"        name: {config.dead_letter_sink}",
                ]
        if delivery:
            lines += ["  delivery:", *delivery]
    return "\n".join(lines) + "\n"


def _all_types(handlers: HandlerTypes) -> list[tuple[TypeContract, str]]:
    """Every consumed and emitted type with its role, sorted by type."""
    consumed = {t: handlers.contract(t) for t in handlers.types}
    result = []
    for event_type in sorted(set(consumed) | set(handlers.emitted)):
        roles = [
            r for r, d in (("consumed", consumed), ("emitted", handlers.emitted)) if event_type in d
        ]
        contract = consumed.get(event_type) or handlers.emitted[event_type]
        if event_type in consumed and event_type in handlers.emitted:
            emitted = handlers.emitted[event_type]
            if contract.schema is None and emitted.schema is not None:
                contract = TypeContract(event_type, emitted.schema, contract.description)
        result.append((contract, " and ".join(roles)))
    return result


def schema_document(contract: TypeContract | None, config: ContractsConfig) -> dict[str, Any]:
    """The JSON Schema of a type's data (``None``: the shared any-JSON schema)."""
    if contract is None or contract.schema is None:
        return {
            "$schema": JSON_SCHEMA_DIALECT,
            "$id": f"{config.schema_base_url}/{ANY_SCHEMA_FILE}",
            "title": "Any JSON value",
            "description": "The data of event types whose handler has no data model yet.",
        }
    document: dict[str, Any] = {
        k: v for k, v in contract.schema.items() if k not in ("$schema", "$id")
    }
    document["$schema"] = JSON_SCHEMA_DIALECT
    document["$id"] = f"{config.schema_base_url}/{schema_file(contract.event_type)}"
    document["title"] = contract.event_type
    if "description" not in contract.schema and "title" in contract.schema:
        document["description"] = f"The data model {contract.schema['title']}."
    return document


def schema_json(contract: TypeContract | None, config: ContractsConfig) -> str:
    """The schema file's text (2-space JSON, sorted keys, as the template writes it)."""
    return (
        json.dumps(schema_document(contract, config), indent=2, sort_keys=True, ensure_ascii=False)
        + "\n"
    )


def _description(contract: TypeContract, role: str, service: str) -> str:
    text = f"{role.capitalize()} by {service}."
    return f"{text} {contract.description}" if contract.description else text


def eventtypes_yaml(config: ContractsConfig, handlers: HandlerTypes) -> str:
    """The EventTypes file."""
    lines = [
        "# Generated by `knative-manifests contracts` (make contracts) from the handler registry:",
        "# one EventType per CloudEvent type the service consumes or emits, at the Broker",
        f'# "{config.broker}", its dataschema the JSON Schema under schemas/. Not edited by hand.',
    ]
    for contract, role in _all_types(handlers):
        lines += ["---", f"apiVersion: {EVENTTYPE_API_VERSION}", "kind: EventType"]
        lines += _metadata(resource_name(config.service, contract.event_type), config)
        lines += [
            "spec:",
            f"  type: {_qh(contract.event_type)}",
            f"  schema: {_qh(config.schema_base_url + '/' + schema_file_of(contract))}",
            f"  description: {_q(_description(contract, role, config.service))}",
            "  reference:",
            f"    apiVersion: {c.EVENTING_API_VERSION}",
            "    kind: Broker",
            f"    name: {config.broker}",
        ]
    return "\n".join(lines) + "\n"


def _channel_id(event_type: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", event_type)


def asyncapi_yaml(config: ContractsConfig, handlers: HandlerTypes, meta: Mapping[str, str]) -> str:
    """The AsyncAPI 3.0 document of the service."""
    lines = [
        "# Generated by `knative-manifests contracts` (make contracts) from the handler registry.",
        "asyncapi: 3.0.0",
        "info:",
        f"  title: {_qh(config.service)}",
        f"  version: {_qh(meta.get('version', '0.0.0'))}",
        f"  description: {_q(meta.get('description', ''))}",
        "defaultContentType: application/json",
    ]
    types = _all_types(handlers)
    if not types:
        return "\n".join(lines) + "\n"
    lines.append("channels:")
    for contract, _ in types:
        cid = _channel_id(contract.event_type)
        about = f"CloudEvents of type {contract.event_type} on the broker."
        lines += [
            f"  {cid}:",
            f"    address: {_qh(contract.event_type)}",
            f"    description: {_qh(about)}",
            "    messages:",
            f"      {cid}:",
            f"        $ref: {_qh('#/components/messages/' + cid)}",
        ]
    lines.append("operations:")
    for contract, role in types:
        cid = _channel_id(contract.event_type)
        actions = [a for a, r in (("receive", "consumed"), ("send", "emitted")) if r in role]
        for action in actions:
            lines += [
                f"  {action}-{cid}:",
                f"    action: {action}",
                "    channel:",
                f"      $ref: {_qh('#/channels/' + cid)}",
                f"    summary: {_q(_description(contract, role, config.service))}",
            ]
    lines += ["components:", "  messages:"]
    for contract, _ in types:
        cid = _channel_id(contract.event_type)
        lines += [
            f"    {cid}:",
            f"      name: {_qh(contract.event_type)}",
            "      contentType: application/json",
            "      payload:",
            "        schemaFormat: application/schema+json;version=draft-07",
            "        schema:",
            f"          $ref: {_qh('./' + SCHEMAS_DIR + '/' + schema_file_of(contract))}",
        ]
    return "\n".join(lines) + "\n"


def project_meta(root: Path) -> dict[str, str]:
    """``[project]`` version and description of the service's pyproject.toml."""
    path = root / "pyproject.toml"
    if not path.is_file():
        return {}
    project = tomllib.loads(path.read_text(encoding="utf-8")).get("project", {})
    return {k: str(project[k]) for k in ("version", "description") if k in project}


def expected_files(root: Path, config: ContractsConfig, handlers: HandlerTypes) -> dict[str, str]:
    """Path (relative to ``root``) -> the text ``make contracts`` writes there."""
    files: dict[str, str] = {}
    if config.broker is not None:
        files[TRIGGERS_FILE] = triggers_yaml(config, handlers)
        files[EVENTTYPES_FILE] = eventtypes_yaml(config, handlers)
    files[f"{SCHEMAS_DIR}/{ANY_SCHEMA_FILE}"] = schema_json(None, config)
    for contract, _ in _all_types(handlers):
        if contract.schema is not None:
            files[f"{SCHEMAS_DIR}/{schema_file_of(contract)}"] = schema_json(contract, config)
    files[ASYNCAPI_FILE] = asyncapi_yaml(config, handlers, project_meta(root))
    return files


def load(
    root: Path, project: ProjectConfig | None = None
) -> tuple[ContractsConfig, HandlerTypes] | None:
    """The contracts configuration and the registry, or None when contracts are not on."""
    project = project or _load_project(root)
    if project.contracts is None:
        return None
    if project.registry is None:
        raise ContractsError(f"{project.source}: [tool.knative-manifests.contracts] needs registry")
    config = parse_contracts(
        project.contracts, f"{project.source} [tool.knative-manifests.contracts]"
    )
    return config, load_registry(project.registry, root)


def stale(root: Path, config: ContractsConfig, handlers: HandlerTypes) -> list[Violation]:
    """One violation per generated file that is missing or differs, and per extra schema."""
    expected = expected_files(root, config, handlers)
    found = []
    for relative, text in expected.items():
        path = root / relative
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current != text and not _same_content(relative, current, text):
            state = "is missing" if current is None else "is stale"
            found.append(
                Violation(
                    STALE,
                    f"{state}: it differs from what the handler registry generates; "
                    "run `make contracts`",
                    "File",
                    relative,
                )
            )
    schemas = root / SCHEMAS_DIR
    if schemas.is_dir():
        for path in sorted(schemas.glob("*.json")):
            relative = f"{SCHEMAS_DIR}/{path.name}"
            if relative not in expected:
                found.append(
                    Violation(
                        STALE,
                        "belongs to no registered or emitted type; run `make contracts`",
                        "File",
                        relative,
                    )
                )
    return found


def _same_content(relative: str, current: str | None, text: str) -> bool:
    """A file counts as current when it holds the same JSON or YAML documents, however
    written (quoting, escapes, key order): what the cluster and the tools read is what must
    agree; ``make contracts`` rewrites the text anyway."""
    if current is None:
        return False
    try:
        if relative.endswith(".json"):
            return bool(json.loads(current) == json.loads(text))
        return yamlio.loads_all(current, relative) == yamlio.loads_all(text, relative)
    except (ValueError, yaml.YAMLError):
        return False


def write(root: Path, config: ContractsConfig, handlers: HandlerTypes) -> list[str]:
    """Write every generated file (and remove schemas of types that are gone)."""
    expected = expected_files(root, config, handlers)
    changed = []
    for relative, text in expected.items():
        path = root / relative
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(relative)
    schemas = root / SCHEMAS_DIR
    for path in sorted(schemas.glob("*.json")) if schemas.is_dir() else []:
        if f"{SCHEMAS_DIR}/{path.name}" not in expected:
            path.unlink()
            changed.append(f"{SCHEMAS_DIR}/{path.name} (removed)")
    return changed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``contracts``."""
    add_root_argument(parser)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when stale")


def run(args: argparse.Namespace) -> int:
    """Regenerate (or with --check, compare) the contract files."""
    root = (args.root or find_root()).resolve()
    try:
        loaded = load(root)
    except ProjectConfigError as error:
        print(f"contracts: {error}")
        return 2
    if loaded is None:
        print(
            f"contracts: {root / 'pyproject.toml'} has no [tool.knative-manifests.contracts] table"
        )
        return 2
    config, handlers = loaded
    if args.check:
        problems = stale(root, config, handlers)
        for problem in problems:
            print(problem)
        print(f"contracts: {'stale' if problems else 'up to date'}")
        return 1 if problems else 0
    changed = write(root, config, handlers)
    for relative in changed:
        print(f"wrote {relative}")
    print(f"contracts: {len(changed)} file(s) changed")
    return 0
