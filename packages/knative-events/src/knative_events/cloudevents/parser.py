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

import re
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
    UnsupportedCharsetError,
    UnsupportedContentTypeError,
)
from .models import (
    CACHED_KEY_LENGTH,
    DEFAULT_CHARSET,
    REQUIRED_ATTRIBUTES,
    CloudEvent,
    DataKind,
    event_from_mapping,
    media_type,
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
            return _utf8_json(content_type, ContentMode.BATCH)
        raise UnsupportedContentTypeError(
            f"batch format {media!r} is not supported; send {BATCH_CONTENT_TYPE}",
            attribute="datacontenttype",
        )
    if media.startswith("application/cloudevents"):
        if media == STRUCTURED_CONTENT_TYPE:
            return _utf8_json(content_type, ContentMode.STRUCTURED)
        raise UnsupportedContentTypeError(
            f"event format {media!r} is not supported; send {STRUCTURED_CONTENT_TYPE} "
            "or use binary mode",
            attribute="datacontenttype",
        )
    return ContentMode.BINARY


def _utf8_json(content_type: str, mode: ContentMode) -> ContentMode:
    """A structured or batch Content-Type, checked in full like any media type.

    The JSON event format is UTF-8 (and orjson reads nothing else), so another charset is
    a 415 rather than a body silently read in the wrong one.
    """
    _, codec = media_type(content_type)
    if codec != DEFAULT_CHARSET:
        raise UnsupportedCharsetError(
            f"Content-Type {content_type!r}: {mode.value} events are read as UTF-8 JSON; "
            "send charset=utf-8 or no charset",
            attribute="datacontenttype",
        )
    return mode


_cached_content_mode = lru_cache(maxsize=256)(_content_mode)


def decode_data(content_type: str | None, body: bytes) -> tuple[Any, str | None]:
    """Binary-mode body to ``(data, data_base64)`` by the kind of its content type.

    The content type is checked first (400 when it is no media type, 415 for an
    unsupported charset); text and JSON are decoded in its ``charset`` (default UTF-8).
    """
    codec: str | None
    if content_type is None:
        kind, codec = DataKind.JSON, DEFAULT_CHARSET
    else:
        kind, codec = media_type(content_type)
    if not body:
        return None, None
    if kind is DataKind.JSON and codec == DEFAULT_CHARSET:  # the common case: no copy
        return _json_data(body), None
    if codec is None:  # opaque data
        import base64  # noqa: PLC0415 - only opaque payloads need it; keeps the JSON path lean

        return None, base64.b64encode(body).decode("ascii")
    try:
        text = body.decode(codec)
    except UnicodeDecodeError:
        raise CloudEventSerializationError(
            f"data is not valid {codec} text (datacontenttype {content_type!r})",
            attribute="data",
        ) from None
    return (_json_data(text) if kind is DataKind.JSON else text), None


def _json_data(text: bytes | str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise CloudEventSerializationError(
            f"data is not valid JSON: {exc}", attribute="data"
        ) from None


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


# Repeated members. orjson (like most parsers) keeps the last of two equal keys silently,
# so {"type": "a", ..., "type": "b"} would be read as whatever a sender hoped a proxy or
# logger in between would not. Checking must not cost a second parse on the common path:
#
# * the fast proof: orjson writes the parsed document back (a C-speed copy, cheaper than
#   one substring scan of the body). A compact sender with its keys in the same order
#   sent exactly those bytes, and a body that equals a duplicate-free serialization has
#   no repeated member.
# * otherwise a comma count decides: every member after the first of an object costs one
#   comma, commas inside strings are copied as they are (only a ``\u002c`` escape hides
#   one, so escapes are counted generously), and parsing only ever drops a repeated
#   member with its comma. Equal counts prove that nothing was dropped.
# * only when the counts differ (a repeat somewhere, in the data too, or an escape that
#   only looked like a comma) does a tokenizer walk the strings and brackets of the body,
#   without recursion, and name the member repeated in an event object.
_JSON_TOKENS = re.compile(rb'("[^"\\]*(?:\\.[^"\\]*)*")([ \t\r\n]*:)?|[{}\[\]]', re.DOTALL)
_OPENING: Final = frozenset(b"{[")


def _members_are_unique(body: bytes, document: Any) -> bool:
    """True only if nothing in ``body`` was dropped when orjson parsed it to ``document``."""
    try:
        canonical = orjson.dumps(document)
    except orjson.JSONEncodeError:  # nested deeper than orjson writes: let the walk decide
        return False
    if canonical == body:
        return True
    commas = body.count(b",")
    if b"\\u" in body:
        commas += body.count(b"\\u002c") + body.count(b"\\u002C")
    return commas == canonical.count(b",")


def _repeated_member(body: bytes, depth: int) -> tuple[int, str] | None:
    """The first member repeated in an event object: (its index, the name), or None.

    The event objects are at ``depth`` 1 (the body is one object) or 2 (a batch array).
    ``body`` must be valid JSON (orjson has read it), so strings and brackets are all
    the structure there is.
    """
    level = 0
    index = -1
    seen: set[str] = set()
    for token in _JSON_TOKENS.finditer(body):
        string = token.group(1)
        if string is None:
            if body[token.start()] in _OPENING:
                level += 1
                if level == depth:
                    index += 1
                    seen = set()
            else:
                level -= 1
        elif level == depth and token.group(2) is not None:
            name: str = orjson.loads(string)
            if name in seen:
                return index, name
            seen.add(name)
    return None


def _repeated(name: str, where: str = "") -> CloudEventValidationError:
    return CloudEventValidationError(
        f"{where}member {name!r} occurs more than once in the event object; send each "
        "attribute once",
        attribute=name,
    )


def parse_structured(body: bytes) -> CloudEvent:
    """Structured mode: the whole event is one JSON object in the body.

    A member sent twice is a 400 naming it (see the notes on repeated members above).
    """
    document = _loads(body)
    if not isinstance(document, dict):
        raise CloudEventSerializationError(
            f"a structured event must be a JSON object, not {type(document).__name__}"
        )
    if not _members_are_unique(body, document):
        repeated = _repeated_member(body, 1)
        if repeated is not None:
            raise _repeated(repeated[1])
    return event_from_mapping(document)


def parse_batch(body: bytes) -> list[CloudEvent]:
    """Batch mode: a JSON array of structured events; errors name the event's index."""
    document = _loads(body)
    if not isinstance(document, list):
        raise CloudEventSerializationError(
            f"a batch must be a JSON array of events, not {type(document).__name__}"
        )
    for index, item in enumerate(document):
        if not isinstance(item, dict):
            raise CloudEventSerializationError(
                f"batch item [{index}] must be a JSON object, not {type(item).__name__}"
            )
    if not _members_are_unique(body, document):
        repeated = _repeated_member(body, 2)
        if repeated is not None:
            raise _repeated(repeated[1], f"batch item [{repeated[0]}]: ")
    events: list[CloudEvent] = []
    for index, item in enumerate(document):
        try:
            events.append(event_from_mapping(item))
        except CloudEventValidationError as exc:
            raise CloudEventValidationError(
                f"batch item [{index}]: {exc.detail}", attribute=exc.attribute
            ) from None
    return events


def _split_headers(headers: Headers) -> tuple[str | None, dict[str, str]]:
    """Content-Type and the ``ce-*`` attributes of any header collection, names lowercased.

    A header sent twice (names compared case-insensitively) is a 400 naming the attribute.
    """
    items = headers.items() if isinstance(headers, Mapping) else headers
    content_type: str | None = None
    ce: dict[str, str] = {}
    for raw_name, raw_value in items:
        name = raw_name.decode("latin-1") if isinstance(raw_name, bytes) else raw_name
        value = raw_value.decode("latin-1") if isinstance(raw_value, bytes) else raw_value
        name = name.lower()
        if name.startswith(_CE_PREFIX):
            attribute = name[3:]
            if attribute in ce:
                raise repeated_header(name, attribute)
            ce[attribute] = value
        elif name == "content-type":
            if content_type is not None:
                raise repeated_header(name, "datacontenttype")
            content_type = value
    return content_type, ce


def repeated_header(name: str, attribute: str) -> CloudEventValidationError:
    """The 400 for a header sent twice: which value counts would be the sender's choice."""
    return CloudEventValidationError(
        f"header {name} is sent more than once; send each CloudEvents header once",
        attribute=attribute,
    )


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
