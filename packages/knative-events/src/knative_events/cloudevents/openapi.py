"""OpenAPI description of ``POST /``, which the app serves outside FastAPI's routing."""

from __future__ import annotations

from typing import Any, Final

_PROBLEM: Final[dict[str, Any]] = {
    "application/problem+json": {
        "schema": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "format": "uri-reference"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "attribute": {"type": ["string", "null"]},
            },
            "required": ["type", "title", "status", "detail"],
        }
    }
}

EVENT_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["specversion", "id", "source", "type"],
    "properties": {
        "specversion": {"const": "1.0"},
        "id": {"type": "string", "minLength": 1},
        "source": {"type": "string", "format": "uri-reference", "minLength": 1},
        "type": {"type": "string", "minLength": 1},
        "datacontenttype": {"type": "string"},
        "dataschema": {"type": "string", "format": "uri"},
        "subject": {"type": "string", "minLength": 1},
        "time": {"type": "string", "format": "date-time"},
        "data": {},
        "data_base64": {"type": "string", "contentEncoding": "base64"},
    },
    "additionalProperties": {"type": ["string", "integer", "boolean"]},
}


def _ce_header(name: str, required: bool) -> dict[str, Any]:
    return {
        "name": f"ce-{name}",
        "in": "header",
        "required": False,
        "description": f"Binary mode: the {name} attribute"
        + (" (required in binary mode)." if required else "."),
        "schema": {"type": "string"},
    }


_ERRORS: Final = {
    "400": "Malformed event, missing or invalid attribute, or no handler for its type",
    "405": "Not POST",
    "413": "Body larger than MAX_BODY_BYTES",
    "415": "Content type this service cannot read",
    "422": "Data does not match the handler's model",
    "500": "The handler raised (the sender should retry)",
    "503": "MAX_CONCURRENT_HANDLERS busy; see Retry-After",
    "504": "The handler exceeded HANDLER_TIMEOUT_SECONDS",
}

EVENT_PATH_ITEM: Final[dict[str, Any]] = {
    "post": {
        "tags": ["events"],
        "summary": "Receive a CloudEvent",
        "description": (
            "CloudEvents 1.0 over HTTP in binary mode (ce-* headers, data in the body), "
            "structured mode (application/cloudevents+json) or batch mode "
            "(application/cloudevents-batch+json). A handler's reply event comes back in "
            "binary mode with 200; 202 means accepted without a reply."
        ),
        "operationId": "receive_cloudevent",
        "parameters": [
            _ce_header(name, name in ("specversion", "id", "source", "type"))
            for name in ("specversion", "id", "source", "type", "subject", "time", "dataschema")
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/cloudevents+json": {"schema": EVENT_SCHEMA},
                "application/cloudevents-batch+json": {
                    "schema": {"type": "array", "items": EVENT_SCHEMA}
                },
                "*/*": {"schema": {"description": "Binary mode: the event's data"}},
            },
        },
        "responses": {
            "200": {"description": "Handled; the reply event in binary mode"},
            "202": {"description": "Handled, no reply"},
            **{code: {"description": text, "content": _PROBLEM} for code, text in _ERRORS.items()},
        },
    }
}
