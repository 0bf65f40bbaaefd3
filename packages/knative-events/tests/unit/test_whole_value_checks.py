"""Trust no sender: every pattern that checks input matches the whole value.

A ``$``-anchored ``match`` accepts a trailing line end ("/s\\n"), and ``match`` without an
anchor accepts any suffix, so the event path uses ``fullmatch`` (the one prefix ``match``
left, the URI scheme, is followed by a full check of what it found).
"""

from __future__ import annotations

import ast
import inspect
import re
from types import ModuleType
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from starlette.requests import Request

from knative_events.cloudevents import dependencies, endpoint, models, parser, registry, serializer
from knative_events.cloudevents.dependencies import read_body
from knative_events.cloudevents.errors import CloudEventError
from knative_events.cloudevents.parser import from_http

EVENT_PATH_MODULES = [models, parser, endpoint, serializer, registry, dependencies]
REQUIRED = {"specversion": "1.0", "id": "1", "source": "/s", "type": "t"}


@pytest.mark.parametrize("module", EVENT_PATH_MODULES, ids=lambda module: module.__name__)
def test_no_pattern_relies_on_a_dollar_anchor(module: ModuleType) -> None:
    for name, value in vars(module).items():
        if isinstance(value, re.Pattern):
            text = value.pattern if isinstance(value.pattern, str) else value.pattern.decode()
            outside_classes = re.sub(r"\[(?:\\.|[^\]\\])*\]", "", text)
            assert not re.search(r"(?<!\\)\$", outside_classes), f"{name} uses a $ anchor"


@pytest.mark.parametrize("module", EVENT_PATH_MODULES, ids=lambda module: module.__name__)
def test_patterns_match_whole_values(module: ModuleType) -> None:
    prefix_matches = []
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("match", "search")
        ):
            prefix_matches.append(ast.unparse(node.func.value))
    # The scheme prefix of a URI-reference; models.is_uri_reference fullmatches the scheme.
    assert prefix_matches == (["_SCHEME_PREFIX"] if module is models else [])


@pytest.mark.parametrize(
    ("attribute", "value"),
    [
        ("specversion", "1.0\n"),
        ("source", "/s\n"),
        ("source", "/s\r\n"),
        ("dataschema", "https://example.com/schema\n"),
        ("time", "2024-01-01T00:00:00Z\n"),
        ("time", "2024-01-01T00:00:00\nZ"),
        ("datacontenttype", "application/json\n"),
        ("datacontenttype", "application/json\r\n"),
        ("myext\n", "x"),
    ],
)
def test_a_trailing_line_end_is_refused(attribute: str, value: str) -> None:
    body = orjson.dumps({**REQUIRED, attribute: value})
    with pytest.raises(CloudEventError) as caught:
        parser.parse_structured(body)
    assert caught.value.status == 400
    assert caught.value.attribute == attribute
    if attribute != "myext\n":  # a header name cannot carry a line end; its value can
        headers = {f"ce-{k}": v for k, v in {**REQUIRED, attribute: value}.items()}
        headers.pop("ce-datacontenttype", None)
        content_type = value if attribute == "datacontenttype" else "application/json"
        encoded = {k: v.replace("\n", "%0A").replace("\r", "%0D") for k, v in headers.items()}
        with pytest.raises(CloudEventError) as caught:
            from_http({**encoded, "content-type": content_type}, b"{}")
        assert caught.value.status == 400
        assert caught.value.attribute == attribute


@pytest.mark.parametrize("declared", [b"\xb2", b"\xb9\xb2", b"1\xb3"])
async def test_a_content_length_of_non_ascii_digits_is_no_server_error(declared: bytes) -> None:
    messages: list[dict[str, Any]] = [{"type": "http.request", "body": b"{}", "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [(b"content-length", declared)],
        "app": FastAPI(),
    }
    assert await read_body(Request(scope, receive)) == b"{}"


@pytest.mark.parametrize("name", ["Bad-Name", "a/b", "x\n", ""])
def test_a_null_member_is_absent_but_its_name_is_still_checked(name: str) -> None:
    with pytest.raises(CloudEventError) as caught:
        parser.parse_structured(orjson.dumps({**REQUIRED, name: None}))
    assert (caught.value.status, caught.value.attribute) == (400, name)
    assert parser.parse_structured(orjson.dumps({**REQUIRED, "gone": None})).extensions == {}
