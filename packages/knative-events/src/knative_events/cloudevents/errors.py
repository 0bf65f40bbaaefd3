"""Errors of the CloudEvents adapter, each carrying the HTTP problem it becomes.

Every error knows its status code, a stable ``slug`` (the RFC 9457 problem ``type`` and the
``outcome`` label of the metrics) and, where one is at fault, the CloudEvent ``attribute``.
The endpoint and the FastAPI dependency turn any of them into ``application/problem+json``
without a lookup table, so a new error cannot be forgotten in one of the two places.

Bad input is always a 4xx :class:`CloudEventError`; only the handler's own failures
(:class:`HandlerError` and friends) are 5xx, because Knative retries 5xx and retrying a
malformed event can never succeed.
"""

from __future__ import annotations

from typing import Any, ClassVar


class ProblemError(Exception):
    """The service failed in an unexpected way (answered as an RFC 9457 problem)."""

    status: ClassVar[int] = 500
    slug: ClassVar[str] = "internal-error"
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        attribute: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.attribute = attribute
        self.extra = extra or {}
        self.headers = headers or {}


class CloudEventError(ProblemError):
    """Base error for CloudEvent issues: the request cannot be accepted as sent (4xx)."""

    status = 400
    slug = "invalid-cloudevent"
    title = "Invalid CloudEvent"


class CloudEventValidationError(CloudEventError):
    """A required attribute is missing, or an attribute has an invalid value."""


class CloudEventSerializationError(CloudEventError):
    """A CloudEvent could not be decoded (bad JSON, bad base64) or encoded."""

    slug = "malformed-cloudevent"
    title = "Malformed CloudEvent"


class UnsupportedContentTypeError(CloudEventError):
    """The request's content type is no CloudEvents format this service reads."""

    status = 415
    slug = "unsupported-content-type"
    title = "Unsupported content type"


class UnsupportedCharsetError(UnsupportedContentTypeError, CloudEventValidationError):
    """``datacontenttype`` names a charset this service cannot decode its text or JSON data in.

    A 415 like any unsupported content type, and a validation error, so code that catches
    :class:`CloudEventValidationError` for a bad attribute catches it too.
    """


class PayloadTooLargeError(CloudEventError):
    """The body is larger than MAX_BODY_BYTES."""

    status = 413
    slug = "payload-too-large"
    title = "Payload too large"


class EventUnauthorizedError(CloudEventError):
    """The event carries no valid bearer token (EVENT_AUTH=oidc)."""

    status = 401
    slug = "unauthorized"
    title = "Unauthorized"


class SenderNotAllowedError(CloudEventError):
    """The event is valid, but its sender or what it asks for is not allowed here."""

    status = 403
    slug = "not-allowed"
    title = "Not allowed"


class HeadersTooLargeError(ProblemError):
    """The request line and headers are larger than MAX_HEADER_BYTES."""

    status = 431
    slug = "headers-too-large"
    title = "Request header fields too large"


class HeaderTimeoutError(ProblemError):
    """The request line and headers did not arrive within HEADER_TIMEOUT_SECONDS."""

    status = 408
    slug = "header-timeout"
    title = "Request timeout"


class UnhandledEventTypeError(CloudEventError):
    """No handler is registered for the event's ``type``.

    400, not 404: the Knative data-plane contract retries 404 ("endpoint does not exist")
    but not 400. No retry can make this revision handle a type it has no handler for, so
    400 sends the event straight to the dead-letter sink instead of burning the retries.
    """

    slug = "unhandled-event-type"
    title = "Unhandled event type"


class DataValidationError(CloudEventError):
    """The event is valid but its ``data`` does not fit the handler's model."""

    status = 422
    slug = "invalid-data"
    title = "Invalid event data"


class MethodNotAllowedError(CloudEventError):
    """Events arrive as POST; anything else on the event path is refused."""

    status = 405
    slug = "method-not-allowed"
    title = "Method not allowed"


class HandlerError(ProblemError):
    """The handler raised; 500 so the sender (a Knative broker) retries."""

    status = 500
    slug = "handler-failed"
    title = "Handler failed"


class HandlerTimeoutError(HandlerError):
    """The handler ran longer than HANDLER_TIMEOUT_SECONDS."""

    status = 504
    slug = "handler-timeout"
    title = "Handler timed out"


class DependencyUnavailableError(HandlerError):
    """Something the handler needs is not reachable now (a cluster, a database): 503.

    Raise it from a handler, with a detail that names the dependency and the cause; the
    sender gets 503 and Retry-After, and Knative retries the event later, while a bug
    (any other exception) stays a 500.
    """

    status = 503
    slug = "dependency-unavailable"
    title = "A dependency of the handler is unavailable"

    def __init__(self, detail: str, *, retry_after_seconds: int = 5) -> None:
        super().__init__(detail, headers={"retry-after": str(retry_after_seconds)})


class OverloadedError(HandlerError):
    """MAX_CONCURRENT_HANDLERS are busy; the sender should retry after Retry-After."""

    status = 503
    slug = "overloaded"
    title = "Too many events in progress"


class EventInProgressError(ProblemError):
    """Another delivery of this event (same source and id) is being handled right now: 409.

    The Knative data-plane contract names 409 "Conflict / Processing in progress" and
    retries it, so the broker comes back later and gets the first delivery's outcome.
    """

    status = 409
    slug = "event-in-progress"
    title = "The same event is being handled"


class IdempotencyUnavailableError(HandlerError):
    """The idempotency store cannot be reached: 503, and the handler did not run."""

    status = 503
    slug = "idempotency-unavailable"
    title = "The idempotency store is unavailable"
