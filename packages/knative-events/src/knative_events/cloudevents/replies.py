"""A handler's reply becomes a valid CloudEvent on the wire, or a 500: never a bad 2xx.

A broker that gets a 200 whose body is not a valid CloudEvent treats the delivery as
failed and sends the event again (knative/eventing#7503, #7515), so a malformed reply
makes the handler run twice. The event a handler returns was checked when it was built,
but :class:`CloudEvent` is a plain mutable object: a handler may change an attribute
afterwards (``reply.id = ""``), or put data in it that JSON cannot hold. The reply is
therefore checked again and encoded here, and any failure is the handler's 500 with a log
line naming the handler, so Knative retries the event (and dead-letters it at the end)
instead of routing a broken reply.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from .errors import HandlerError
from .models import CloudEvent, check_attributes
from .problem import AsgiHeaders
from .serializer import binary_pairs, to_batch

logger = logging.getLogger(__name__)


def checked(reply: CloudEvent, handler: str) -> None:
    """Raise the handler's 500 (logged, naming ``handler``) unless ``reply`` is still valid."""
    try:
        check_attributes(reply.attributes(), python_api=True)
    except Exception as exc:  # a mutated attribute may fail in any way, not only ours
        raise _invalid(handler, exc) from None


def binary_reply(reply: CloudEvent, handler: str) -> tuple[AsgiHeaders, bytes]:
    """The reply in binary mode (ASGI pairs and body), checked first."""
    checked(reply, handler)
    try:
        return binary_pairs(reply)
    except Exception as exc:
        raise _invalid(handler, exc) from None


def batch_reply(replies: Sequence[tuple[CloudEvent, str]]) -> tuple[AsgiHeaders, bytes]:
    """A batch's replies (each with its handler's name) as one JSON array, checked first."""
    for reply, handler in replies:
        checked(reply, handler)
    try:
        headers, body = to_batch([reply for reply, _ in replies])
    except Exception as exc:
        raise _invalid(", ".join(sorted({name for _, name in replies})), exc) from None
    return [
        (b"content-type", headers["content-type"].encode("ascii")),
        (b"content-length", str(len(body)).encode("ascii")),
    ], body


def _invalid(handler: str, exc: BaseException) -> HandlerError:
    detail = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
    logger.error("handler %s returned a reply that is not a valid CloudEvent: %s", handler, detail)
    return HandlerError(
        f"the reply of handler {handler} is not a valid CloudEvent ({detail}); "
        "the event can be retried"
    )
