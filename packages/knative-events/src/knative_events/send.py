"""``knative-events send``: post one CloudEvent to a running service and show its answer.

The local counterpart of ``func invoke``: ``make send TYPE=<type>`` posts to what ``make
run`` serves. The event is encoded by the runtime's own serializer (binary, structured or
batch mode, the three HTTP modes the endpoint takes), and the answer is read by the same
code the test client uses: the status line, then the problem document or the reply
event(s). Without ``--data`` the data is an example the handler's model accepts, built from
its JSON Schema (``examples.py``), so a service's own registry is imported (``--registry``,
default: ``[tool.knative-manifests] registry`` of the nearest pyproject.toml).

``--via-triggers ENV`` first lists which Triggers of that environment's overlay would
deliver the event, with Knative's filter semantics (``knative_manifests.filters``; the
manifest tooling is a development dependency of every service). It lives here, not in
``knative-manifests``, because it is the runtime's wire format and example builder that
it needs; the tooling is only needed for that one option and is imported for it.

Exit status: 0 for a 2xx answer, 1 for any other answer, 2 when nothing was sent.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import re
import sys
import tomllib
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import orjson

from .cloudevents.models import CloudEvent
from .cloudevents.serializer import structured_dict, to_batch, to_binary, to_structured
from .testing import EventResult, read_answer

HELP = "post a CloudEvent to a running service and print its answer"
DEFAULT_SOURCE = "/knative-events/send"
DEFAULT_PORT = 8080
#: A --data @file larger than this is refused (the endpoint's own limit is lower).
MAX_DATA_BYTES = 4 << 20
_EXTENSION = re.compile(r"([a-z0-9]{1,20})=(.*)", re.DOTALL)
_REGISTRY = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


class SendError(Exception):
    """The event cannot be built or sent; the message says why."""


def default_url() -> str:
    """What ``make run`` serves: http://127.0.0.1:$PORT/ (PORT defaults to 8080)."""
    return f"http://127.0.0.1:{os.environ.get('PORT') or DEFAULT_PORT}/"


def _extension(text: str) -> tuple[str, str]:
    match = _EXTENSION.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(
            f"--extension {text!r} must be name=value with a CloudEvents attribute name "
            "(1 to 20 lowercase letters or digits)"
        )
    return match.group(1), match.group(2)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``send``."""
    parser.add_argument("--type", required=True, dest="event_type", help="the event's type")
    parser.add_argument("--url", default=None, help="where to POST (default: %(default)s, "
                        "i.e. http://127.0.0.1:$PORT/ as `make run` serves)")  # fmt: skip
    parser.add_argument(
        "--source", default=None, help=f"default: the handler's filter source, or {DEFAULT_SOURCE}"
    )
    parser.add_argument("--id", default=None, help="default: a new UUID")
    parser.add_argument("--subject", default=None)
    parser.add_argument(
        "--data", default=None, help="JSON data, or @file to read it from a file (default: an "
        "example built from the handler's data model)"
    )  # fmt: skip
    parser.add_argument(
        "--extension", action="append", default=[], type=_extension, metavar="NAME=VALUE",
        help="an extension attribute (repeatable)",
    )  # fmt: skip
    parser.add_argument(
        "--mode", choices=("binary", "structured", "batch"), default="binary",
        help="HTTP content mode (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument("--count", type=int, default=1, help="events in a batch (default: 1)")
    parser.add_argument("--registry", default=None, help='"module:attribute" of the handler '
                        "registry (default: [tool.knative-manifests] registry)")  # fmt: skip
    parser.add_argument("--root", type=Path, default=None, help="the service's root directory")
    parser.add_argument(
        "--via-triggers", metavar="ENV", default=None,
        help="first show which Triggers of this environment's overlay would deliver the event",
    )  # fmt: skip
    parser.add_argument("--dry-run", action="store_true", help="build (and route), do not send")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds (default: 10)")


def find_root(start: Path | None = None) -> Path:
    """The nearest directory upward with a pyproject.toml (or ``start``)."""
    here = (start or Path.cwd()).resolve()
    return next((d for d in (here, *here.parents) if (d / "pyproject.toml").is_file()), here)


def registry_spec(root: Path) -> str | None:
    """``[tool.knative-manifests] registry`` of ``<root>/pyproject.toml``, if set."""
    path = root / "pyproject.toml"
    if not path.is_file():
        return None
    with path.open("rb") as stream:
        document = tomllib.loads(stream.read(1 << 20).decode("utf-8", "replace"))
    value = document.get("tool", {}).get("knative-manifests", {}).get("registry")
    return value if isinstance(value, str) else None


def load_registry(spec: str, root: Path) -> Any:
    """Import ``module:attribute`` with ``<root>/src`` first on the path."""
    if not _REGISTRY.fullmatch(spec):
        raise SendError(f"--registry must be 'module.path:attribute', not {spec!r}")
    module_name, _, attribute = spec.partition(":")
    source = root / "src"
    if source.is_dir() and str(source) not in sys.path:
        sys.path.insert(0, str(source))
    try:
        module = importlib.import_module(module_name)
        return functools.reduce(getattr, attribute.split("."), module)
    except Exception as error:  # any import failure is reported the same way
        raise SendError(f"cannot import the handler registry {spec!r}: {error}") from error


def read_data(text: str) -> Any:
    """``--data``: a JSON value, or ``@path`` to a file holding one."""
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            with path.open("rb") as stream:
                raw = stream.read(MAX_DATA_BYTES + 1)
        except OSError as error:
            raise SendError(f"--data {text}: cannot read it: {error.strerror}") from None
        if len(raw) > MAX_DATA_BYTES:
            raise SendError(f"--data {text}: larger than {MAX_DATA_BYTES} bytes")
    else:
        raw = text.encode()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise SendError(f"--data {text[:60]!r} is not JSON: {error}") from None


def registration_defaults(args: argparse.Namespace, root: Path) -> tuple[Any, dict[str, str]]:
    """The handler's example data (``{}`` without a model) and its Trigger filter attributes.

    The attributes (``registry.on(..., attributes=...)``) become the event's defaults, so
    the event sent is one the handler's Trigger delivers (``--via-triggers`` shows it).
    """
    spec = args.registry or registry_spec(root)
    if spec is None:
        if args.data is None:
            raise SendError(
                "no --data and no registry to build an example from: pass --data or "
                "--registry (or set [tool.knative-manifests] registry in pyproject.toml)"
            )
        return None, {}
    from .testing import EventFactory  # noqa: PLC0415 - registry types only when needed

    registry = load_registry(spec, root)
    registration = registry.get(args.event_type)
    attributes = dict(registration.attributes) if registration is not None else {}
    if args.data is not None:
        return None, attributes
    try:
        return EventFactory(registry).data(args.event_type), attributes
    except KeyError as error:
        raise SendError(str(error.args[0])) from None
    except ValueError as error:  # ExampleError
        raise SendError(f"{args.event_type}: {error}") from None


def build_events(args: argparse.Namespace, root: Path) -> list[CloudEvent]:
    """The event(s) the options describe (``--count`` of them in batch mode)."""
    example, defaults = registration_defaults(args, root)
    data = read_data(args.data) if args.data is not None else example
    if args.count < 1 or (args.count > 1 and args.mode != "batch"):
        raise SendError("--count must be 1, or more with --mode batch")
    source = defaults.pop("source", DEFAULT_SOURCE) if args.source is None else args.source
    subject = defaults.pop("subject", None) if args.subject is None else args.subject
    defaults.pop("source", None)
    defaults.pop("subject", None)
    extensions = {**defaults, **dict(args.extension)}
    events = []
    for index in range(args.count):
        event_id = args.id or str(uuid.uuid4())
        try:
            events.append(
                CloudEvent(
                    id=event_id if args.count == 1 else f"{event_id}-{index}",
                    source=source,
                    type=args.event_type,
                    subject=subject,
                    data=data,
                    extensions=extensions or None,
                )
            )
        except ValueError as error:
            raise SendError(f"not a valid CloudEvent: {error}") from None
    return events


def encode(events: Sequence[CloudEvent], mode: str) -> tuple[dict[str, str], bytes]:
    """Headers and body of the request in ``mode``."""
    if mode == "batch":
        return to_batch(list(events))
    return to_binary(events[0]) if mode == "binary" else to_structured(events[0])


def attributes_of(event: CloudEvent) -> dict[str, Any]:
    """The event's attributes as a flat map (what a Trigger filter reads)."""
    return {k: v for k, v in structured_dict(event).items() if k not in ("data", "data_base64")}


def show_triggers(event: CloudEvent, env: str, root: Path) -> None:
    """Print each Trigger of ``env`` and whether the broker would deliver ``event`` to it."""
    try:
        from knative_manifests.filters import FilterError, trigger_result  # noqa: PLC0415
        from knative_manifests.validate import checked_overlay, kustomize_build  # noqa: PLC0415
    except ImportError as error:
        raise SendError(f"--via-triggers needs knative-manifests installed: {error}") from None
    try:
        docs = kustomize_build(checked_overlay(root, env))
    except Exception as error:  # kustomize or overlay errors, reported as such
        raise SendError(f"--via-triggers {env}: {error}") from None
    triggers = [d for d in docs if d.get("kind") == "Trigger"]
    attributes = attributes_of(event)
    delivered = 0
    print(f"Triggers in {env} ({len(triggers)}):")
    for trigger in triggers:
        name = trigger.get("metadata", {}).get("name", "?")
        ref = ((trigger.get("spec") or {}).get("subscriber") or {}).get("ref") or {}
        to = f"{ref.get('kind', '?')}/{ref.get('name', '?')}" if ref else "(uri)"
        try:
            result = trigger_result(trigger, attributes)
        except FilterError as error:
            print(f"  ? {name} -> {to}: cannot evaluate: {error}")
            continue
        verdict = "delivers" if result.value != "fail" else "skips"
        delivered += verdict == "delivers"
        print(
            f"  {'+' if verdict == 'delivers' else '-'} {name} -> {to}: {verdict} ({result.value})"
        )
    print(f"{delivered} of {len(triggers)} Trigger(s) deliver {event.type}")


def describe(result: EventResult) -> str:
    """The answer as the command prints it."""
    phrase = httpx.codes.get_reason_phrase(result.status)
    lines = [f"HTTP {result.status} {phrase}".rstrip()]
    if result.problem is not None:
        lines += ["problem:", json.dumps(result.problem, indent=2, ensure_ascii=False)]
    for reply in result.replies:
        lines += ["reply event:", json.dumps(structured_dict(reply), indent=2, ensure_ascii=False)]
    if result.problem is None and not result.replies:
        lines.append("(no reply event)")
    return "\n".join(lines)


def send(url: str, events: Sequence[CloudEvent], mode: str, timeout: float) -> EventResult:
    """POST the events and read the answer."""
    headers, body = encode(events, mode)
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as error:
        raise SendError(
            f"cannot reach {url}: {error} (is the service running? `make run`)"
        ) from None
    return read_answer(response.status_code, response.headers, response.content)


def run(args: argparse.Namespace) -> int:
    """Build, optionally route, send and print; see the module docstring for the status."""
    root = (args.root or find_root()).resolve()
    url = args.url or default_url()
    try:
        if not url.startswith(("http://", "https://")):
            raise SendError(f"--url must be an http(s) URL, not {url!r}")
        events = build_events(args, root)
        if args.via_triggers:
            show_triggers(events[0], args.via_triggers, root)
        first = events[0]
        more = f" (+{len(events) - 1} more)" if len(events) > 1 else ""
        print(
            f"POST {url} ({args.mode}): type={first.type} source={first.source} id={first.id}{more}"
        )
        print(json.dumps(events[0].data, ensure_ascii=False))
        if args.dry_run:
            return 0
        result = send(url, events, args.mode, args.timeout)
    except SendError as error:
        print(f"send: {error}", file=sys.stderr)
        return 2
    print(describe(result))
    return 0 if 200 <= result.status < 300 else 1
