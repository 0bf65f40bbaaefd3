"""RFC 9457 problem details (``application/problem+json``) for every refused event.

``type`` is a relative URI, ``/problems/<slug>``, that the service itself serves (see
:data:`PROBLEM_DOCS` and the route in ``api.py``), so a client can dereference it. The
extension member ``attribute`` names the CloudEvent attribute at fault, or is ``null``.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from . import errors

PROBLEM_CONTENT_TYPE: Final = "application/problem+json"
PROBLEM_BASE: Final = "/problems/"

AsgiHeaders = list[tuple[bytes, bytes]]

# What each problem type means, served at /problems/<slug>.
PROBLEM_DOCS: Final[dict[str, tuple[int, str, str]]] = {
    cls.slug: (cls.status, cls.title, (cls.__doc__ or "").strip().splitlines()[0])
    for cls in (
        errors.ProblemError,
        errors.CloudEventValidationError,
        errors.CloudEventSerializationError,
        errors.UnsupportedContentTypeError,
        errors.PayloadTooLargeError,
        errors.HeadersTooLargeError,
        errors.SenderNotAllowedError,
        errors.EventUnauthorizedError,
        errors.HeaderTimeoutError,
        errors.UnhandledEventTypeError,
        errors.DataValidationError,
        errors.MethodNotAllowedError,
        errors.HandlerError,
        errors.HandlerTimeoutError,
        errors.OverloadedError,
        errors.EventInProgressError,
        errors.IdempotencyUnavailableError,
    )
}
# CloudEventValidationError inherits its slug from CloudEventError: document the base text.
PROBLEM_DOCS[errors.CloudEventError.slug] = (
    400,
    errors.CloudEventError.title,
    "A required attribute is missing, or an attribute has an invalid value.",
)


def problem_document(error: errors.ProblemError) -> dict[str, Any]:
    """The problem object for an error (type, title, status, detail, attribute, extras)."""
    document: dict[str, Any] = {
        "type": PROBLEM_BASE + error.slug,
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "attribute": error.attribute,
    }
    document.update(error.extra)
    return document


def problem_parts(error: errors.ProblemError) -> tuple[int, AsgiHeaders, bytes]:
    """Status, ASGI headers and body of the problem response for ``error``."""
    body = orjson.dumps(problem_document(error))
    headers: AsgiHeaders = [
        (b"content-type", PROBLEM_CONTENT_TYPE.encode("ascii")),
        (b"content-length", str(len(body)).encode("ascii")),
    ]
    headers.extend(
        (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items()
    )
    return error.status, headers, body
