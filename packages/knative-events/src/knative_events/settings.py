"""Runtime settings from the environment, checked at start-up.

Each field reads the environment variable of the same name in upper case (``PORT``,
``K_SERVICE``, ...); values given to ``Settings(...)`` win over the environment, and
``Settings(environ={})`` ignores it. A bad value stops start-up with an error that names
the variable, so a broken ConfigMap fails the revision instead of serving with a guess.

Knative sets PORT, K_SERVICE, K_REVISION and K_CONFIGURATION in every revision, and
K_SINK when a SinkBinding or a source points this service somewhere. The limits below
protect the event endpoint.

A service bakes its own defaults (its name, its revision's timeout and concurrency) into a
subclass, which keeps the same reading and checks::

    @dataclass(frozen=True, init=False)
    class Settings(RuntimeSettings):
        k_service: str = "hello-events"
        max_concurrent_handlers: int = 100
        greeting: str = "hello"  # a field of its own: read from GREETING

A subclass may add fields of type ``str``, ``int``, ``float`` (or ``X | None`` of those);
they are read from the environment the same way.

A dataclass with a dozen lines of checks rather than pydantic-settings: importing pydantic
and pydantic-settings is the largest part of a cold start, and a Knative pod needs none of
their sources (dotenv files, cloud secret stores).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import MISSING, Field, dataclass, fields
from typing import Any, Final, Literal, get_args

MIB = 1024 * 1024

PORT_MIN: Final = 1
"""Lowest TCP port a server can listen on (0 would mean "any free port")."""
PORT_MAX: Final = 65535
"""Highest TCP port."""

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LOG_LEVELS: Final[tuple[str, ...]] = get_args(LogLevel)
Idempotency = Literal["none", "memory", "redis"]
IDEMPOTENCY_STORES: Final[tuple[str, ...]] = get_args(Idempotency)


class SettingsError(ValueError):
    """A setting that cannot be used; the message names its environment variable."""


@dataclass(frozen=True, init=False)
class Settings:
    """Everything the app reads from the environment."""

    port: int = 8080
    """Port to listen on (Knative sets PORT; 8080 is its default)."""
    k_service: str = ""
    """Knative Service name (set by Knative; a subclass gives the service's own name)."""
    k_revision: str | None = None
    """Knative Revision name."""
    k_configuration: str | None = None
    """Knative Configuration name."""
    k_sink: str | None = None
    """Where to send events (SinkBinding)."""
    broker_url: str | None = None
    """Broker ingress URL for the emitter."""
    max_body_bytes: int = MIB
    """Largest event body accepted."""
    handler_timeout_seconds: float = 30.0
    """Keep it below the revision's timeoutSeconds: the service answers 504 itself before the
    queue-proxy cuts the request."""
    max_concurrent_handlers: int = 1000
    """Match the revision's containerConcurrency: beyond it an event gets 503 + Retry-After
    instead of queueing behind slow handlers."""
    max_header_bytes: int = 64 * 1024
    """Largest request line and header block the server reads (431 beyond it); needs
    ``--http knative_events.server:BoundedHttpToolsProtocol``."""
    header_timeout_seconds: float = 10.0
    """Time a connection has to send a complete header block (408 and closed after it)."""
    event_auth: str = "none"
    """``oidc``: every event needs the bearer token Knative Eventing's sender identity
    attaches (knative_events.event_auth, the ``oidc`` extra); ``none``: no check."""
    event_audience: str | None = None
    """The audience the Triggers name (``spec.subscriber.audience``); required with oidc."""
    oidc_jwks_url: str = "https://kubernetes.default.svc/openid/v1/jwks"
    """The service-account issuer's keys (the API server's by default)."""
    oidc_issuer: str | None = None
    """When set, a token's ``iss`` must be this (the cluster's service-account issuer)."""
    api_docs: bool = True
    """Serve ``/docs``, ``/redoc`` and ``/openapi.json``; the prod overlay sets API_DOCS=false
    (a map of the service is of use to an attacker, not to the broker)."""
    retry_after_seconds: int = 1
    """Retry-After sent with 503."""
    log_level: LogLevel = "INFO"
    """Python logging level of the app's JSON logs."""
    idempotency: Idempotency = "none"
    """Where opted-in handlers keep outcomes: none, memory (this pod only) or redis."""
    idempotency_ttl_seconds: int = 3600
    """How long an outcome is kept: a repeat of an event within it does not run again."""
    idempotency_max_keys: int = 100_000
    """The memory store's bound: past it the oldest outcomes are dropped first."""
    redis_url: str | None = None
    """The Redis store's URL (redis://, rediss://), from a Secret; needed with redis."""
    tracing: bool = False
    log_success_level: LogLevel = "DEBUG"
    """The level of the log line of each handled event (failures: INFO or WARNING)."""
    log_success_sample_rate: float = 1.0
    """The share of handled events that get that line (0 to 1)."""
    """OpenTelemetry spans per event, exported over OTLP/HTTP as the OTEL_* variables say."""

    def __init__(self, *, environ: Mapping[str, str] | None = None, **values: Any) -> None:
        """Read each field from ``values``, else from ``environ`` (default ``os.environ``)."""
        environ = os.environ if environ is None else environ
        for field in fields(self):
            if field.name in values:
                value = values.pop(field.name)
            else:
                text = environ.get(field.name.upper())
                value = _default(field) if text is None else _convert(field, text)
            check = _CHECKS.get(field.name)
            problem = check(value) if check is not None else None
            if problem:
                shown = "<hidden>" if field.name in _SECRETS else repr(value)
                raise SettingsError(f"{field.name.upper()}={shown}: {field.name} {problem}")
            object.__setattr__(self, field.name, value)  # frozen: set once, here
        if values:
            raise TypeError(f"unknown settings: {', '.join(sorted(values))}")
        if getattr(self, "event_auth", "none") == "oidc" and not getattr(
            self, "event_audience", None
        ):
            raise SettingsError(
                "EVENT_AUDIENCE must be set with EVENT_AUTH=oidc: it is the audience the "
                "Triggers name and every token must carry"
            )
        if self.idempotency == "redis" and not self.redis_url:
            raise SettingsError("REDIS_URL must be set: IDEMPOTENCY=redis keeps outcomes there")


def _integer(text: str) -> int:
    return int(text.strip())


def _number(text: str) -> float:
    value = float(text.strip())
    if not math.isfinite(value):
        raise ValueError(text)
    return value


_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


def _boolean(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise ValueError(text)


# Environment text to the type a field declares.
_PARSERS: Final[dict[str, tuple[Callable[[str], Any], str]]] = {
    "int": (_integer, "an integer"),
    "float": (_number, "a number"),
    "bool": (_boolean, "true or false"),
}


def _type_name(annotation: Any) -> str:
    """``int`` for ``int``, ``"int"`` and ``int | None``, whichever way the type was written.

    Annotations are strings in modules with ``from __future__ import annotations`` (this
    one) and types elsewhere (a subclass in a service may be either).
    """
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", None)
    if text is None:  # a union such as int | None, or typing.Optional[int]
        text = str(annotation)
    text = text.replace("typing.", "").strip()
    if text.startswith("Optional[") and text.endswith("]"):
        text = text[len("Optional[") : -1]
    parts = [part.strip() for part in text.split("|") if part.strip() not in ("None", "")]
    return parts[0] if len(parts) == 1 else text


def _default(field: Field[Any]) -> Any:
    if field.default is not MISSING:
        return field.default
    if field.default_factory is not MISSING:
        return field.default_factory()
    raise SettingsError(f"{field.name.upper()} must be set: {field.name} has no default")


def _convert(field: Field[Any], text: str) -> Any:
    parser = _PARSERS.get(_type_name(field.type))
    if parser is None:
        return text
    parse, kind = parser
    try:
        return parse(text)
    except ValueError:
        raise SettingsError(f"{field.name.upper()}={text!r}: {field.name} must be {kind}") from None


def _whole(low: int, high: int | None = None) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return "must be an integer"
        if value < low or (high is not None and value > high):
            return f"must be {low} or more" if high is None else f"must be {low} to {high}"
        return None

    return check


def _positive(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "must be a number"
    return None if value > 0 and math.isfinite(value) else "must be greater than 0"


def _level(value: Any) -> str | None:
    return None if value in LOG_LEVELS else f"must be one of {', '.join(LOG_LEVELS)}"


def _share(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "must be a number"
    return None if 0 <= value <= 1 else "must be between 0 and 1"


def _idempotency(value: Any) -> str | None:
    if value in IDEMPOTENCY_STORES:
        return None
    return f"must be one of {', '.join(IDEMPOTENCY_STORES)}"


def _redis_url(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value.startswith(_REDIS_SCHEMES)):
        return None
    return "must be a redis://, rediss:// or unix:// URL"


_REDIS_SCHEMES: Final = ("redis://", "rediss://", "unix://")
_SECRETS: Final = frozenset({"redis_url"})
"""Fields whose value may hold a password: an error names the variable, never the value."""

_CHECKS: Final[dict[str, Callable[[Any], str | None]]] = {
    "port": _whole(PORT_MIN, PORT_MAX),
    "max_body_bytes": _whole(1),
    "handler_timeout_seconds": _positive,
    "max_concurrent_handlers": _whole(1),
    "max_header_bytes": _whole(1024),
    "header_timeout_seconds": _positive,
    "retry_after_seconds": _whole(0),
    "log_level": _level,
    "event_auth": lambda value: None if value in ("none", "oidc") else "must be none or oidc",
    "idempotency": _idempotency,
    "idempotency_ttl_seconds": _whole(1),
    "idempotency_max_keys": _whole(1),
    "redis_url": _redis_url,
    "log_success_level": _level,
    "log_success_sample_rate": _share,
}
