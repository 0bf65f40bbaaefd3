"""JSON logs, one object per line, carrying the id and type of the event being handled.

The endpoint sets :data:`current_event` (a ContextVar, so concurrent handlers never see
each other's ids) around each handler call; every record logged inside the handler, by
any logger, gets ``event_id`` and ``event_type``. Knative's log collectors parse one JSON
object per line, so exceptions go into an ``exc_info`` string field, not extra lines.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Final

import orjson

current_event: ContextVar[tuple[str, str] | None] = ContextVar("current_event", default=None)
"""(id, type) of the CloudEvent whose handler is running, or None."""

_RESERVED: Final = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_HANDLER_NAME: Final = "json-events"


class JsonFormatter(logging.Formatter):
    """Formats records as compact JSON with time, level, logger, message and event fields."""

    def __init__(self, static: dict[str, str] | None = None) -> None:
        super().__init__()
        self.static = {k: v for k, v in (static or {}).items() if v}

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **self.static,
        }
        event = current_event.get()
        if event is not None:
            document["event_id"], document["event_type"] = event
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                document[key] = value
        if record.exc_info:
            document["exc_info"] = self.formatException(record.exc_info)
        return orjson.dumps(document, default=str).decode("utf-8")


def configure_logging(level: str = "INFO", *, service: str = "", revision: str = "") -> None:
    """Send the root, uvicorn and uvicorn.access loggers to stdout as JSON.

    Idempotent: it replaces only the handler it installed before, so test frameworks'
    capture handlers on the root logger survive.
    """
    handler = logging.StreamHandler(sys.stdout)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter({"service": service, "revision": revision}))
    for name in ("", "uvicorn", "uvicorn.access"):
        logger = logging.getLogger(name)
        if name == "uvicorn.access" and not logger.handlers and not logger.propagate:
            continue  # `uvicorn --no-access-log` (the image's CMD) turned it off: keep it off
        for old in [h for h in logger.handlers if h.get_name() == _HANDLER_NAME]:
            logger.removeHandler(old)
        if name:
            # uvicorn installs its own text handlers; replace them so every line is JSON.
            for old in list(logger.handlers):
                logger.removeHandler(old)
            logger.propagate = False
        logger.addHandler(handler)
    logging.getLogger().setLevel(level.upper())
