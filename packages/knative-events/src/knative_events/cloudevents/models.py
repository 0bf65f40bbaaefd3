"""The CloudEvent model (CloudEvents 1.0) and the attribute rules every entry point shares.

One set of checks serves the constructor (``CloudEvent(...)``), pydantic (a CloudEvent
field in a model) and the parser: the parser runs :func:`check_attributes` itself and
then builds the event with :func:`construct`, so an event is checked exactly once.

Why not the ``cloudevents`` SDK's event class: it fills a missing ``id`` with a fresh
UUID and a missing ``time`` with "now" (so a binary request without ``ce-id`` would be
accepted, and a round trip would add attributes), it accepts any ``isoparse``-able time
rather than RFC 3339, and it does not check that ``source`` is a URI-reference. A
receiver must reject such events, so the rules are written out here.
"""

from __future__ import annotations

import base64
import binascii
import re
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from functools import lru_cache
from typing import Any, Final

from .errors import CloudEventValidationError, UnsupportedCharsetError

SPECVERSION: Final = "1.0"
REQUIRED_ATTRIBUTES: Final = ("specversion", "id", "source", "type")
OPTIONAL_ATTRIBUTES: Final = ("datacontenttype", "dataschema", "subject", "time")
CONTEXT_ATTRIBUTES: Final = frozenset(REQUIRED_ATTRIBUTES + OPTIONAL_ATTRIBUTES)
DATA_MEMBERS: Final = frozenset({"data", "data_base64"})
_KNOWN_MEMBERS: Final = CONTEXT_ATTRIBUTES | DATA_MEMBERS
_BYTES_TYPES: Final = (bytes, bytearray)
DEFAULT_DATACONTENTTYPE: Final = "application/json"
# The spec says extension names SHOULD NOT exceed 20 characters: longer names are accepted
# (other senders may use them) but the rule below is a MUST.
RECOMMENDED_EXTENSION_NAME_LENGTH: Final = 20
INT32_MIN: Final = -(2**31)
INT32_MAX: Final = 2**31 - 1

ExtensionValue = str | int | bool

_EXTENSION_NAME = re.compile(r"[a-z0-9]+")
_URI_REFERENCE = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})+")
_SCHEME_PREFIX = re.compile(r"([^:/?#]*):")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)
# RFC 9110 media type (8.3.1, 5.6): type "/" subtype *( OWS ";" OWS [ name "=" value ] ),
# a value being a token or a quoted-string. The character classes are written out, so no
# control character (CR, LF, NUL, DEL, C1) and nothing above U+00FF can match; obs-text in
# quoted strings is allowed from U+00A0 (U+0080-U+009F are the C1 controls).
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z\-]+"  # noqa: S105 - an RFC 9110 token pattern
_OWS = r"[ \t]*"
_QUOTED_STRING = r'"(?:[\t !#-\[\]-~\xa0-\xff]|\\[\t !-~\xa0-\xff])*"'
# Each part can match in one way only (OWS follows ";" and a parameter, never twice in a
# row): the match stays linear in the value's length, whatever a sender writes.
_PARAMETER = rf";{_OWS}(?:({_TOKEN})=({_TOKEN}|{_QUOTED_STRING}){_OWS})?"
_MEDIA_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}{_OWS}((?:{_PARAMETER})*)")
_PARAMETERS = re.compile(_PARAMETER)
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
# The charsets text and JSON data may be sent in (IANA names and aliases, lowercase) and
# the Python codec of each. A fixed list, not codecs.lookup: that also knows codecs such as
# "rot13" or "zlib" that are no charset, and a list keeps the 415's advice exact.
_CHARSETS: Final = {
    **dict.fromkeys(("utf-8", "utf8", "csutf8"), "utf-8"),
    **dict.fromkeys(
        (
            "us-ascii",
            "ascii",
            "ansi_x3.4-1968",
            "ansi_x3.4-1986",
            "iso-ir-6",
            "iso_646.irv:1991",
            "iso646-us",
            "us",
            "ibm367",
            "cp367",
            "csascii",
        ),
        "ascii",
    ),
    **dict.fromkeys(
        (
            "iso-8859-1",
            "iso_8859-1",
            "iso_8859-1:1987",
            "iso-ir-100",
            "latin1",
            "latin-1",
            "l1",
            "ibm819",
            "cp819",
            "csisolatin1",
        ),
        "latin-1",
    ),
}
DEFAULT_CHARSET: Final = "utf-8"


class DataKind(Enum):
    """How a ``datacontenttype`` carries data: a JSON value, text, or opaque bytes."""

    JSON = "json"
    TEXT = "text"
    BINARY = "binary"


# Caches keyed by what senders write hold only short keys, so a sender cannot fill memory.
CACHED_KEY_LENGTH: Final = 256


def data_kind(content_type: str | None) -> DataKind:
    """Classify a content type; ``None`` means JSON (CloudEvents JSON format, 3.1)."""
    if content_type is None or len(content_type) > CACHED_KEY_LENGTH:
        return _data_kind(content_type)
    return _cached_data_kind(content_type)


def _data_kind(content_type: str | None) -> DataKind:
    if content_type is None:
        return DataKind.JSON
    media = content_type.partition(";")[0].strip().lower()
    if media in ("application/json", "text/json") or media.endswith("+json"):
        return DataKind.JSON
    if media.startswith("text/") or media in ("application/xml",) or media.endswith("+xml"):
        return DataKind.TEXT
    return DataKind.BINARY


_cached_data_kind = lru_cache(maxsize=256)(_data_kind)


def loaded_base_model() -> type[Any] | None:
    """pydantic's ``BaseModel`` if something has imported it, else None; never imports it.

    A value can only be a pydantic model once pydantic is loaded, so the registry and the
    serializer ask this instead of importing pydantic for services that use no models.
    """
    main = sys.modules.get("pydantic.main")
    return None if main is None else main.BaseModel


def _invalid(name: str, detail: str) -> CloudEventValidationError:
    return CloudEventValidationError(detail, attribute=name)


def _required_string(raw: Mapping[str, Any], name: str) -> str:
    value = raw.get(name)
    if value is None:
        raise _invalid(name, f"required attribute '{name}' is missing")
    if not isinstance(value, str):
        raise _invalid(name, f"attribute '{name}' must be a string, not {type(value).__name__}")
    if not value:
        raise _invalid(name, f"attribute '{name}' must not be empty")
    return value


def is_uri_reference(value: str, *, absolute: bool = False) -> bool:
    """RFC 3986 URI-reference check: characters, percent-escapes, scheme, one fragment.

    Not a full grammar (brackets are allowed anywhere, not only in an IP-literal host),
    but it refuses what matters for routing and logs: spaces, control and non-ASCII
    characters, broken escapes, and a first segment that looks like an invalid scheme.
    """
    if not _URI_REFERENCE.fullmatch(value) or value.count("#") > 1:
        return False
    prefix = _SCHEME_PREFIX.match(value)
    if prefix is None:
        return not absolute
    return _SCHEME.fullmatch(prefix.group(1)) is not None


# A service sees few distinct sources: each is checked once (short ones only, see above).
_cached_is_source = lru_cache(maxsize=1024)(is_uri_reference)


def media_type(value: str) -> tuple[DataKind, str | None]:
    """Check a ``datacontenttype`` (RFC 9110 media type): its data kind and Python codec.

    The codec is the one of its ``charset`` parameter (default UTF-8) for text and JSON,
    None for opaque data (whose charset says nothing about the bytes this service reads).
    A value that is no media type is a 400, a charset not in the supported list a 415;
    both name ``datacontenttype``. Short values are answered from a cache.
    """
    if len(value) > CACHED_KEY_LENGTH:
        return _media_type(value)
    return _cached_media_type(value)


def _media_type(value: str) -> tuple[DataKind, str | None]:
    match = _MEDIA_TYPE.fullmatch(value)
    if match is None:
        raise _invalid(
            "datacontenttype",
            f"attribute 'datacontenttype' must be an RFC 9110 media type (type/subtype, "
            f'parameters as token=token or token="quoted", no control characters), '
            f"not {value!r}",
        )
    kind = _data_kind(value)
    if kind is DataKind.BINARY:
        return kind, None
    charset: str | None = None
    for parameter in _PARAMETERS.finditer(match.group(1)):
        name, text = parameter.groups()
        if name is not None and name.lower() == "charset":
            charset = _QUOTED_PAIR.sub(r"\1", text[1:-1]) if text[0] == '"' else text
    if charset is None:
        return kind, DEFAULT_CHARSET
    codec = _CHARSETS.get(charset.lower())
    if codec is None:
        raise UnsupportedCharsetError(
            f"charset {charset!r} of datacontenttype {value!r} is not supported; "
            "send utf-8, us-ascii or iso-8859-1",
            attribute="datacontenttype",
        )
    return kind, codec


# Raising calls are not cached, so values that fail cost their check each time but never
# take a cache slot.
_cached_media_type = lru_cache(maxsize=256)(_media_type)


def parse_time(value: object) -> datetime:
    """An RFC 3339 timestamp (string or aware datetime) as an aware datetime.

    A leap second (``...T23:59:60Z``) is accepted as ``23:59:59.999999`` (see
    :func:`_leap_second`).
    """
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise _invalid("time", "attribute 'time' must be timezone-aware")
        return value
    if not isinstance(value, str):
        raise _invalid(
            "time", f"attribute 'time' must be an RFC 3339 string, not {type(value).__name__}"
        )
    if not _RFC3339.fullmatch(value):
        raise _invalid("time", f"attribute 'time' is not an RFC 3339 timestamp: {value!r}")
    try:
        return datetime.fromisoformat(value.upper())
    except ValueError as exc:
        if value[17:19] == "60":  # the only place a leap second costs anything
            return _leap_second(value)
        raise _invalid("time", f"attribute 'time' is not a valid timestamp: {exc}") from None


def _leap_second(value: str) -> datetime:
    """A leap second (RFC 3339 5.7: ``23:59:60Z``, or the same moment at another offset).

    ``datetime`` cannot hold second 60, so the time becomes the last microsecond before
    the next minute (``23:59:59.999999``, fraction dropped, offset kept): it still sorts
    after every earlier time of the day and before the next day. A second 60 that is not
    the last second of a UTC day is refused.
    """
    rest = value[19:].lstrip(".0123456789")  # the fraction, if any, then the offset
    try:
        moment = datetime.fromisoformat((value[:17] + "59" + rest).upper())
        utc = moment.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise _invalid("time", f"attribute 'time' is not a valid timestamp: {exc}") from None
    if (utc.hour, utc.minute) != (23, 59):
        raise _invalid(
            "time",
            f"attribute 'time' has second 60, which only the last minute of a UTC day "
            f"can have (a leap second): {value!r}",
        )
    return moment.replace(microsecond=999_999)


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with ``Z`` (offsets with seconds cannot be written in RFC 3339)."""
    try:
        text = value.astimezone(UTC).isoformat()
    except OverflowError:  # year 1 or 9999 shifted out of range: keep the original offset
        return value.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _present_string(name: str, value: object) -> str:
    """An optional attribute that is present (not None): a non-empty string."""
    if not isinstance(value, str):
        raise _invalid(name, f"attribute '{name}' must be a string, not {type(value).__name__}")
    if not value:
        raise _invalid(name, f"attribute '{name}' must not be empty when present")
    return value


def _check_extension_name(name: str) -> None:
    if name in _KNOWN_MEMBERS or not _EXTENSION_NAME.fullmatch(name):
        raise _invalid(
            name,
            f"extension attribute name {name!r} must consist of lowercase letters a-z and "
            "digits 0-9 only and must not be 'data' or a context attribute's name",
        )


def check_extension(name: str, value: object) -> ExtensionValue:
    """Check an extension attribute's name (spec: a-z and 0-9 only) and value type."""
    _check_extension_name(name)
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        if not INT32_MIN <= value <= INT32_MAX:
            raise _invalid(
                name, f"extension attribute '{name}' is outside the 32-bit integer range"
            )
        return value
    raise _invalid(
        name,
        f"extension attribute '{name}' must be a string, integer or boolean, "
        f"not {type(value).__name__}",
    )


def check_attributes(  # noqa: PLR0912 - every event's path: common cases inline, no calls
    raw: Mapping[str, Any], *, python_api: bool = False
) -> dict[str, Any]:
    """Validate a CloudEvent given as a flat mapping (the JSON format's object shape).

    Keys other than the context attributes, ``data`` and ``data_base64`` are extension
    attributes. Returns the model's field values; raises :class:`CloudEventValidationError`
    naming the first attribute at fault. ``python_api`` is for the model's constructor:
    it may omit ``specversion`` and pass an ``extensions`` mapping. On the wire,
    ``extensions`` is just a (valid) extension name and ``specversion`` is required.
    """
    # The common case (all present, plain strings) costs one comparison each; the
    # _required_string calls only run to name what is wrong.
    get = raw.get
    specversion = get("specversion")
    if specversion != SPECVERSION:
        if not (python_api and specversion is None):
            specversion = _required_string(raw, "specversion")
            raise _invalid(
                "specversion", f"specversion must be '{SPECVERSION}', not {specversion!r}"
            )
        specversion = SPECVERSION
    event_id = get("id")
    if event_id.__class__ is not str or not event_id:
        event_id = _required_string(raw, "id")
    source = get("source")
    if source.__class__ is not str or not source:
        source = _required_string(raw, "source")
    if not (
        _cached_is_source(source) if len(source) <= CACHED_KEY_LENGTH else is_uri_reference(source)
    ):
        raise _invalid("source", f"attribute 'source' must be a URI-reference, not {source!r}")
    event_type = get("type")
    if event_type.__class__ is not str or not event_type:
        event_type = _required_string(raw, "type")

    # Absent means JSON (JSON event format, 3.1): filled in, so every mode agrees on it.
    datacontenttype = get("datacontenttype")
    if datacontenttype is None:
        datacontenttype = DEFAULT_DATACONTENTTYPE
    elif datacontenttype.__class__ is not str:
        raise _invalid(
            "datacontenttype",
            f"attribute 'datacontenttype' must be a media type, not {datacontenttype!r}",
        )
    elif len(datacontenttype) > CACHED_KEY_LENGTH:
        _media_type(datacontenttype)
    else:
        _cached_media_type(datacontenttype)
    dataschema = get("dataschema")
    if dataschema is not None:
        dataschema = _present_string("dataschema", dataschema)
        if not is_uri_reference(dataschema, absolute=True):
            raise _invalid(
                "dataschema", f"attribute 'dataschema' must be an absolute URI, not {dataschema!r}"
            )
    subject = get("subject")
    if subject is not None:
        subject = _present_string("subject", subject)
    time = get("time")
    if time is not None:
        time = parse_time(time)

    data = get("data")
    if get("data_base64") is None and data.__class__ not in _BYTES_TYPES:
        data_base64 = None  # the common case, checked inline
    else:
        data, data_base64 = _check_data(raw)
    if not python_api and _KNOWN_MEMBERS.issuperset(raw):
        extensions = {}  # no extension attributes: nothing to check name by name
    else:
        extensions = _check_extensions(raw, python_api=python_api)
    # One literal, so the dict is built at its final size.
    return {
        "specversion": specversion,
        "id": event_id,
        "source": source,
        "type": event_type,
        "datacontenttype": datacontenttype,
        "dataschema": dataschema,
        "subject": subject,
        "time": time,
        "data": data,
        "data_base64": data_base64,
        "extensions": extensions,
    }


def _check_data(raw: Mapping[str, Any]) -> tuple[Any, str | None]:
    data = raw.get("data")
    data_base64 = raw.get("data_base64")
    if isinstance(data, bytes | bytearray):
        if data_base64 is not None:
            raise _invalid(
                "data_base64", "an event carries either 'data' or 'data_base64', not both"
            )
        return None, base64.b64encode(data).decode("ascii")
    if data_base64 is None:
        return data, None
    if data is not None:
        raise _invalid("data_base64", "an event carries either 'data' or 'data_base64', not both")
    if not isinstance(data_base64, str):
        raise _invalid("data_base64", "'data_base64' must be a base64 string")
    try:
        base64.b64decode(data_base64, validate=True)
    except binascii.Error as exc:
        raise _invalid("data_base64", f"'data_base64' is not valid base64: {exc}") from None
    return None, data_base64


def _check_extensions(raw: Mapping[str, Any], *, python_api: bool) -> dict[str, ExtensionValue]:
    extensions: dict[str, ExtensionValue] = {}
    given = raw.get("extensions") if python_api else None
    if given is not None:
        if not isinstance(given, Mapping):
            raise _invalid("extensions", "'extensions' must be a mapping of name to value")
        for name, value in given.items():
            if value is not None:
                extensions[str(name)] = check_extension(str(name), value)
    for name, value in raw.items():
        if name in _KNOWN_MEMBERS or (python_api and name == "extensions"):
            continue
        if value is not None:
            extensions[name] = check_extension(name, value)
        else:  # JSON null means "absent" in the JSON event format, but the name must be valid
            _check_extension_name(name)
    return extensions


class CloudEvent:
    """A CloudEvents 1.0 event.

    ``data`` holds a JSON value (JSON content types) or a string (text types); opaque
    bytes travel as ``data_base64`` (pass ``data=b"..."`` and the event encodes it).
    ``datacontenttype`` is never empty: absent means ``application/json`` in every mode
    (a binary request without Content-Type is read as JSON).
    Extension attributes live in ``extensions`` and may also be given as keyword
    arguments: ``CloudEvent(id=..., source=..., type=..., traceparent="...")``.

    A plain class rather than a pydantic model: every attribute rule is written out above
    (pydantic would only hold the values), and importing pydantic is a large part of a cold
    start, which a scaled-from-zero pod pays before its first event.
    pydantic still knows the type (:meth:`__get_pydantic_core_schema__`): a CloudEvent can
    be a field of a pydantic model, a FastAPI response model or a JSON body
    (``event: Annotated[CloudEvent, Body()]``), checked by the same rules. For a route that
    takes events in any content mode, use ``CloudEventDep`` instead.
    """

    # The attributes; an instance keeps them in its __dict__ (see construct()).
    specversion: str
    id: str
    source: str
    type: str
    datacontenttype: str
    dataschema: str | None
    subject: str | None
    time: datetime | None
    data: Any
    data_base64: str | None
    extensions: dict[str, ExtensionValue]

    def __init__(
        self,
        *,
        id: str,
        source: str,
        type: str,
        specversion: str = SPECVERSION,
        datacontenttype: str | None = None,
        dataschema: str | None = None,
        subject: str | None = None,
        time: datetime | str | None = None,
        data: Any = None,
        data_base64: str | None = None,
        extensions: Mapping[str, ExtensionValue] | None = None,
        **extension_attributes: ExtensionValue,
    ) -> None:
        raw: dict[str, Any] = {
            **extension_attributes,
            "specversion": specversion,
            "id": id,
            "source": source,
            "type": type,
            "datacontenttype": datacontenttype,
            "dataschema": dataschema,
            "subject": subject,
            "time": time,
            "data": data,
            "data_base64": data_base64,
            "extensions": extensions,
        }
        self.__dict__.update(check_attributes(raw, python_api=True))

    @property
    def data_bytes(self) -> bytes | None:
        """The decoded ``data_base64`` payload, if the event carries bytes."""
        if self.data_base64 is None:
            return None
        return base64.b64decode(self.data_base64)

    def attributes(self) -> dict[str, Any]:
        """Every attribute by name (a copy; ``extensions`` as a nested mapping)."""
        values = dict(self.__dict__)
        values["extensions"] = dict(self.extensions)
        return values

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # mutable, compared by value

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={value!r}"
            for name, value in self.__dict__.items()
            if name in REQUIRED_ATTRIBUTES[1:] or value not in (None, {})
        )
        return f"CloudEvent({shown})"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """How pydantic validates and writes the type (imported only when pydantic asks)."""
        from pydantic_core import core_schema  # noqa: PLC0415 - pydantic is loaded already

        return core_schema.no_info_plain_validator_function(
            _from_python,
            serialization=core_schema.plain_serializer_function_ser_schema(
                _to_json_object, when_used="json"
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: Any, handler: Any) -> dict[str, Any]:
        """The JSON event format's object, as the OpenAPI page documents it."""
        from .openapi import EVENT_SCHEMA  # noqa: PLC0415 - only for schema generation

        return dict(EVENT_SCHEMA)


def _from_python(value: Any) -> CloudEvent:
    """pydantic's validator: an event as is, or a mapping in the JSON format's shape."""
    if isinstance(value, CloudEvent):
        return value
    if not isinstance(value, Mapping):
        # A ValueError, not a TypeError: pydantic turns it into a ValidationError.
        raise ValueError(f"a CloudEvent must be given as an object, not {type(value).__name__}")
    try:
        return event_from_mapping(value)
    except CloudEventValidationError as exc:
        raise ValueError(exc.detail) from None


def _to_json_object(event: CloudEvent) -> dict[str, Any]:
    from .serializer import structured_dict  # noqa: PLC0415 - serializer imports this module

    return structured_dict(event)


_new = object.__new__


def construct(fields: dict[str, Any]) -> CloudEvent:
    """Build a CloudEvent from checked, complete field values without checking them again.

    ``fields`` must come from :func:`check_attributes`; the constructor runs the same
    function, and a unit test proves both give equal events.
    """
    event = _new(CloudEvent)
    event.__dict__ = fields
    return event


def event_from_mapping(raw: Mapping[str, Any]) -> CloudEvent:
    """Validate a flat mapping (structured JSON shape) and build the event without re-validating."""
    return construct(check_attributes(raw))
