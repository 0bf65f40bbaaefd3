"""Decode CloudEvents from HTTP requests: binary, structured and batch content modes.

Hand-written on purpose instead of ``cloudevents.core.bindings.http``: the SDK decodes
with the standard ``json`` module, parses times with ``dateutil``, falls back to treating
an unparsable JSON body as a plain string (so bad JSON is silently accepted), and invents
``id``/``time`` when they are missing. This module uses orjson (faster than ``json``
on event-sized bodies), checks each attribute once with the shared rules of
:mod:`.models`, and builds the event with ``construct`` so nothing is checked twice.
The tests prove it reads what the SDK writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import Enum
from functools import lru_cache
from typing import Any, Final
from urllib.parse import unquote

import orjson

from .errors import (
    CloudEventError,
    CloudEventSerializationError,
    CloudEventValidationError,
    UnsupportedContentTypeError,
)
from .models import (
    CACHED_KEY_LENGTH,
    REQUIRED_ATTRIBUTES,
    CloudEvent,
    DataKind,
    data_kind,
    event_from_mapping,
)

STRUCTURED_CONTENT_TYPE: Final = "application/cloudevents+json"
BATCH_CONTENT_TYPE: Final = "application/cloudevents-batch+json"
_CE_PREFIX: Final = "ce-"

Headers = Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]]


class ContentMode(Enum):
    """The CloudEvents HTTP content modes."""

    BINARY = "binary"
    STRUCTURED = "structured"
    BATCH = "batch"


def content_mode(content_type: str | None) -> ContentMode:
    """The content mode a Content-Type selects; 415 for a CloudEvents format other than JSON."""
    if content_type is None or len(content_type) > CACHED_KEY_LENGTH:
        return _content_mode(content_type)
    return _cached_content_mode(content_type)


def _content_mode(content_type: str | None) -> ContentMode:
    if content_type is None:
        return ContentMode.BINARY
    media = content_type.partition(";")[0].strip().lower()
    if media.startswith("application/cloudevents-batch"):
        if media == BATCH_CONTENT_TYPE:
            return ContentMode.BATCH
        raise UnsupportedContentTypeError(
            f"batch format {media!r} is not supported; send {BATCH_CONTENT_TYPE}",
            attribute="datacontenttype",
        )
    if media.startswith("application/cloudevents"):
        if media == STRUCTURED_CONTENT_TYPE:
            return ContentMode.STRUCTURED
        raise UnsupportedContentTypeError(
            f"event format {media!r} is not supported; send {STRUCTURED_CONTENT_TYPE} "
            "or use binary mode",
            attribute="datacontenttype",
        )
    return ContentMode.BINARY


_cached_content_mode = lru_cache(maxsize=256)(_content_mode)


def decode_data(content_type: str | None, body: bytes) -> tuple[Any, str | None]:
    """Binary-mode body to ``(data, data_base64)`` by the kind of its content type."""
    if not body:
        return None, None
    kind = data_kind(content_type)
    if kind is DataKind.JSON:
        try:
            return orjson.loads(body), None
        except orjson.JSONDecodeError as exc:
            raise CloudEventSerializationError(
                f"data is not valid JSON: {exc}", attribute="data"
            ) from None
    if kind is DataKind.TEXT:
        try:
            return body.decode("utf-8"), None
        except UnicodeDecodeError:
            raise CloudEventSerializationError(
                f"data of type {content_type} is not valid UTF-8 text", attribute="data"
            ) from None
    import base64  # noqa: PLC0415 - only opaque payloads need it; keeps the JSON path lean

    return None, base64.b64encode(body).decode("ascii")


def parse_binary(ce: Mapping[str, str], content_type: str | None, body: bytes) -> CloudEvent:
    """Binary mode: attributes from ``ce-*`` headers (names without the prefix), data from the body.

    Header values are percent-decoded as the HTTP binding (3.1.3.2) requires.
    """
    decoded = {
        name: percent_decoded(name, value) if "%" in value else value for name, value in ce.items()
    }
    return binary_event(decoded, content_type, body)


def percent_decoded(name: str, value: str) -> str:
    """A ``ce-*`` header value with its percent-escapes decoded (strict UTF-8)."""
    try:
        return unquote(value, errors="strict")
    except UnicodeDecodeError:
        raise CloudEventValidationError(
            f"header ce-{name} is not percent-encoded UTF-8", attribute=name
        ) from None


def binary_event(ce: dict[str, Any], content_type: str | None, body: bytes) -> CloudEvent:
    """:func:`parse_binary` for decoded header values; fills in ``ce`` and builds on it.

    The endpoint decodes the headers as it scans them, so the dict it passes is the
    event's raw mapping already: no copy per event.
    """
    ce["datacontenttype"] = content_type
    try:
        ce["data"], ce["data_base64"] = decode_data(content_type, body)
        return event_from_mapping(ce)
    except CloudEventError:
        # Checked only on failure, where it names every missing header at once.
        missing = [name for name in REQUIRED_ATTRIBUTES if name not in ce]
        if not missing:
            raise
    headers = ", ".join(f"ce-{name}" for name in missing)
    raise CloudEventValidationError(
        f"binary-mode event is missing header(s) {headers}; send ce-specversion, ce-id, "
        f"ce-source and ce-type, or a structured event as {STRUCTURED_CONTENT_TYPE}",
        attribute=missing[0],
    )


def _loads(body: bytes) -> Any:
    if not body:
        raise CloudEventSerializationError("the request body is empty", attribute=None)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise CloudEventSerializationError(f"body is not valid JSON: {exc}") from None


def parse_structured(body: bytes) -> CloudEvent:
    """Structured mode: the whole event is one JSON object in the body."""
    document = _loads(body)
    if not isinstance(document, dict):
        raise CloudEventSerializationError(
            f"a structured event must be a JSON object, not {type(document).__name__}"
        )
    return event_from_mapping(document)


def parse_batch(body: bytes) -> list[CloudEvent]:
    """Batch mode: a JSON array of structured events; errors name the event's index."""
    document = _loads(body)
    if not isinstance(document, list):
        raise CloudEventSerializationError(
            f"a batch must be a JSON array of events, not {type(document).__name__}"
        )
    events: list[CloudEvent] = []
    for index, item in enumerate(document):
        if not isinstance(item, dict):
            raise CloudEventSerializationError(
                f"batch item [{index}] must be a JSON object, not {type(item).__name__}"
            )
        try:
            events.append(event_from_mapping(item))
        except CloudEventValidationError as exc:
            raise CloudEventValidationError(
                f"batch item [{index}]: {exc.detail}", attribute=exc.attribute
            ) from None
    return events


def _split_headers(headers: Headers) -> tuple[str | None, dict[str, str]]:
    """Content-Type and the ``ce-*`` attributes of any header collection, names lowercased."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    content_type: str | None = None
    ce: dict[str, str] = {}
    for raw_name, raw_value in items:
        name = raw_name.decode("latin-1") if isinstance(raw_name, bytes) else raw_name
        value = raw_value.decode("latin-1") if isinstance(raw_value, bytes) else raw_value
        name = name.lower()
        if name.startswith(_CE_PREFIX):
            ce[name[3:]] = value
        elif name == "content-type":
            content_type = value
    return content_type, ce


def from_http(headers: Headers, body: bytes) -> CloudEvent:
    """Decode one CloudEvent (binary or structured mode) from HTTP headers and body."""
    content_type, ce = _split_headers(headers)
    mode = content_mode(content_type)
    if mode is ContentMode.STRUCTURED:
        return parse_structured(body)
    if mode is ContentMode.BATCH:
        raise UnsupportedContentTypeError(
            f"{BATCH_CONTENT_TYPE} holds several events; use from_http_batch",
            attribute="datacontenttype",
        )
    return parse_binary(ce, content_type, body)


def from_http_batch(headers: Headers, body: bytes) -> list[CloudEvent]:
    """Decode a batch (``application/cloudevents-batch+json``) into its events."""
    content_type, _ = _split_headers(headers)
    if content_mode(content_type) is not ContentMode.BATCH:
        raise UnsupportedContentTypeError(
            f"a batch needs Content-Type {BATCH_CONTENT_TYPE}, not {content_type!r}",
            attribute="datacontenttype",
        )
    return parse_batch(body)
