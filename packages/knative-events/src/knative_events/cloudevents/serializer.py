"""Encode CloudEvents for HTTP: binary mode (replies, the emitter) and structured/batch mode.

orjson writes the bodies; header values are percent-encoded only when they contain a
character the HTTP binding (3.1.3.2) does not allow as is, so the common case is a plain
string copy. :func:`binary_pairs` gives the ASGI form (``bytes`` pairs) the endpoint sends
without building a dict first.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import quote

import orjson

from .errors import CloudEventSerializationError
from .models import (
    DEFAULT_CHARSET,
    CloudEvent,
    DataKind,
    format_time,
    loaded_base_model,
    media_type,
)
from .parser import BATCH_CONTENT_TYPE, STRUCTURED_CONTENT_TYPE

_SAFE: Final = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')


def _default(value: Any) -> Any:
    """orjson fallback: pydantic models inside ``data`` are written as their JSON form."""
    base = loaded_base_model()
    if base is not None and isinstance(value, base):
        return value.model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> bytes:
    """JSON bytes, naming the problem when ``value`` cannot be written as JSON."""
    try:
        return orjson.dumps(value, default=_default)
    except TypeError as exc:
        raise CloudEventSerializationError(
            f"data cannot be written as JSON: {exc}", attribute="data"
        ) from None


def header_value(value: str) -> str:
    """Percent-encode a header value only when it needs it (space, '"', '%', non-ASCII)."""
    if value.isascii() and value.isprintable() and not any(c in value for c in ' "%'):
        return value
    return quote(value, safe=_SAFE)


def _extension_text(value: str | int | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def encode_data(event: CloudEvent) -> bytes:
    """The binary-mode body of an event."""
    if event.data_base64 is not None:
        return base64.b64decode(event.data_base64)
    data = event.data
    if data is None:
        return b""
    kind, codec = media_type(event.datacontenttype)
    if kind is DataKind.JSON:
        body = dumps(data)
        if codec is None or codec == DEFAULT_CHARSET:
            return body
        return _encoded(body.decode(), codec, event)
    if isinstance(data, str) and codec is not None:
        return _encoded(data, codec, event)
    raise CloudEventSerializationError(
        f"data of type {event.datacontenttype} must be a string or data_base64, "
        f"not {type(data).__name__}",
        attribute="data",
    )


def _encoded(text: str, codec: str, event: CloudEvent) -> bytes:
    """Text data in the charset its ``datacontenttype`` names."""
    try:
        return text.encode(codec)
    except UnicodeEncodeError as exc:
        raise CloudEventSerializationError(
            f"data cannot be written in the charset of {event.datacontenttype!r}: {exc.reason} "
            f"({exc.object[exc.start : exc.end]!r})",
            attribute="data",
        ) from None


def binary_attributes(event: CloudEvent) -> list[tuple[str, str]]:
    """The binary-mode headers of an event as ``(name, value)`` strings."""
    pairs = [
        ("ce-specversion", event.specversion),
        ("ce-id", header_value(event.id)),
        ("ce-source", header_value(event.source)),
        ("ce-type", header_value(event.type)),
    ]
    if event.subject is not None:
        pairs.append(("ce-subject", header_value(event.subject)))
    if event.dataschema is not None:
        pairs.append(("ce-dataschema", header_value(event.dataschema)))
    if event.time is not None:
        pairs.append(("ce-time", format_time(event.time)))
    for name, value in event.extensions.items():
        pairs.append((f"ce-{name}", header_value(_extension_text(value))))
    pairs.append(("content-type", event.datacontenttype))
    return pairs


def to_binary(event: CloudEvent) -> tuple[dict[str, str], bytes]:
    """Binary content mode: attributes as ``ce-*`` headers, data as the body."""
    body = encode_data(event)
    return dict(binary_attributes(event)), body


def binary_pairs(event: CloudEvent) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """Binary mode as ASGI header pairs (with content-length) and body."""
    body = encode_data(event)
    pairs = [
        (name.encode("ascii"), value.encode("latin-1")) for name, value in binary_attributes(event)
    ]
    pairs.append((b"content-length", str(len(body)).encode("ascii")))
    return pairs, body


def structured_dict(event: CloudEvent) -> dict[str, Any]:
    """The JSON event format's object for an event (attributes, extensions, data)."""
    document: dict[str, Any] = {
        "specversion": event.specversion,
        "id": event.id,
        "source": event.source,
        "type": event.type,
    }
    document["datacontenttype"] = event.datacontenttype
    if event.dataschema is not None:
        document["dataschema"] = event.dataschema
    if event.subject is not None:
        document["subject"] = event.subject
    if event.time is not None:
        document["time"] = format_time(event.time)
    document.update(event.extensions)
    if event.data_base64 is not None:
        document["data_base64"] = event.data_base64
    elif event.data is not None:
        document["data"] = event.data
    return document


def to_structured(event: CloudEvent) -> tuple[dict[str, str], bytes]:
    """Structured content mode: the whole event as ``application/cloudevents+json``."""
    body = dumps(structured_dict(event))
    return {"content-type": f"{STRUCTURED_CONTENT_TYPE}; charset=utf-8"}, body


def to_batch(events: Sequence[CloudEvent]) -> tuple[dict[str, str], bytes]:
    """Batch content mode: a JSON array of structured events."""
    body = dumps([structured_dict(event) for event in events])
    return {"content-type": f"{BATCH_CONTENT_TYPE}; charset=utf-8"}, body
