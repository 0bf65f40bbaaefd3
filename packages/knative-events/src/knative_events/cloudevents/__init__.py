"""The CloudEvents adapter: model, HTTP codec, handler registry and the event endpoint.

Public API::

    CloudEvent, from_http, from_http_batch, to_binary, to_structured, to_batch,
    HandlerRegistry, CloudEventError, CloudEventValidationError, CloudEventSerializationError
"""

from .errors import (
    CloudEventError,
    CloudEventSerializationError,
    CloudEventValidationError,
    ProblemError,
)
from .models import CloudEvent
from .parser import from_http, from_http_batch
from .registry import HandlerRegistry
from .serializer import to_batch, to_binary, to_structured

__all__ = [
    "CloudEvent",
    "CloudEventError",
    "CloudEventSerializationError",
    "CloudEventValidationError",
    "HandlerRegistry",
    "ProblemError",
    "from_http",
    "from_http_batch",
    "to_batch",
    "to_binary",
    "to_structured",
]
