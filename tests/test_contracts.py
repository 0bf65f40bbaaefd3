"""From handler to contract: the rendered service's Triggers, schemas, EventTypes and AsyncAPI
document are what ``knative-manifests contracts`` writes from its handler registry.

* A fresh render already holds, byte for byte, what ``make contracts`` would write, for the
  hand-picked answer sets (the pairwise and Hypothesis suites of test_deployments.py go
  through ``validate``, which fails on any semantic difference); its EventTypes pass the
  Knative 1.15 and 1.23 CRDs.
* A handler added in code is unreachable and its contracts stale until ``make contracts``
  runs; then ``validate`` passes; a Trigger taken out of the manifests fails it again.
* ``make send`` posts to the running service in each content mode and prints the answer,
  and ``VIA=<env>`` shows which Triggers would deliver the event.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from answers import answer_set_id, pairwise_answer_sets
from knative_events.testing import wait_until_ready
from knative_manifests import contracts
from knative_manifests.schemas import SchemaValidator
from knative_manifests.validate import validate_tree
from renderer import CRDS_DIR, SHARED, Renderer
from sample_answers import DEFAULTS, KAFKA_HPA_CANARY, MINIMAL, SERVICE_MANAGER
from test_project_files import make_for_real

CRDS_123 = SHARED / "crds-knative-1.23"

#: The hand-picked sets plus answers that exercise names, quoting and delivery options.
SETS: dict[str, dict[str, Any]] = {
    "defaults": DEFAULTS,
    "service-manager": SERVICE_MANAGER,
    "service-manager-eventing": {**SERVICE_MANAGER, "eventing": True},
    "minimal": MINIMAL,
    "kafka-hpa-canary": KAFKA_HPA_CANARY,
    "rabbitmq": {"broker_class": "RabbitMQBroker", "dead_letter_sink": "dlq", "namespace": "no"},
    "odd-types-dead-letter-source": {
        "event_types": ["Com.Example/Odd:Type", "a.b.c", "com.example.x-y"],
        "dead_letter_sink": "https://dlq.example.com/x?a=1&b=2",
        "trigger_source": "/apis/orders",
        "namespace": "8",
        "git_repo_url": "git@github.com:acme/svc.git",
    },
}

ORDERS_MODULE = '''"""Orders: a handler added in code, with a model, an extra filter and a reply."""

from __future__ import annotations

from knative_events import CloudEvent
from pydantic import BaseModel, Field

from hello_events.handlers import registry


class OrderPlaced(BaseModel):
    """An order a customer placed."""

    order_id: str = Field(min_length=3)
    quantity: int = Field(ge=1)


class OrderAccepted(BaseModel):
    order_id: str


registry.emits("com.example.order.accepted", data=OrderAccepted, description="We took it.")


@registry.on("com.example.order.placed", data=OrderPlaced, attributes={"subject": "shop"})
async def order_placed(event: CloudEvent, data: OrderPlaced) -> CloudEvent | None:
    """Accept the order and say so."""
    return CloudEvent(
        id=f"accepted-{event.id}",
        source="/orders",
        type="com.example.order.accepted",
        data={"order_id": data.order_id},
    )
'''


def generated_differences(root: Path) -> list[str]:
    """Files whose text differs from what the generator writes for ``root``'s registry."""
    loaded = contracts.load(root)
    assert loaded is not None, "the render has no [tool.knative-manifests.contracts]"
    expected = contracts.expected_files(root, *loaded)
    differ = [
        path
        for path, text in expected.items()
        if not (root / path).is_file() or (root / path).read_text() != text
    ]
    extra = {f"schemas/{p.name}" for p in (root / "schemas").glob("*")} - set(expected)
    return differ + sorted(extra)


@pytest.mark.parametrize("name", list(SETS))
def test_a_fresh_render_holds_exactly_what_make_contracts_writes(
    name: str, renderer: Renderer
) -> None:
    root = renderer.render(SETS[name])
    assert generated_differences(root) == []
    eventing = SETS[name].get("eventing", True)
    eventtypes = root / contracts.EVENTTYPES_FILE
    assert eventtypes.is_file() == eventing
    if not eventing:
        return
    docs = list(yaml.safe_load_all(eventtypes.read_text()))
    triggers = [d for d in yaml.safe_load_all((root / contracts.TRIGGERS_FILE).read_text()) if d]
    assert len([d for d in docs if d]) >= len(triggers) >= 1
    for crds in (CRDS_DIR, CRDS_123):
        validator = SchemaValidator(crds)
        for doc in filter(None, docs):
            assert doc["spec"]["reference"]["kind"] == "Broker"
            assert doc["spec"]["schema"].endswith(".json")
            assert validator.validate(doc) == [], (crds.name, doc["metadata"]["name"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rules_of(report: Any) -> set[str]:
    return {v.rule for v in report.violations}


def _default_render_with_orders(renderer: Renderer, tmp_path: Path) -> Path:
    """A copy of the default render whose owner added ``handlers/orders.py`` in code."""
    project = tmp_path / "svc"
    shutil.copytree(renderer.render(DEFAULTS), project)
    handlers = project / "src/hello_events/handlers"
    (handlers / "orders.py").write_text(ORDERS_MODULE)
    init = handlers / "__init__.py"
    init.write_text(init.read_text().replace("import events", "import events, orders"))
    return project


def test_a_handler_added_in_code_needs_make_contracts_and_then_passes_validate(
    renderer: Renderer, tmp_path: Path
) -> None:
    project = _default_render_with_orders(renderer, tmp_path)

    before = validate_tree(project, CRDS_DIR, ["dev"])
    assert {"contracts/stale", "triggers/handler-unrouted"} <= rules_of(before), before.violations
    stale = {v.name for v in before.violations if v.rule == "contracts/stale"}
    assert {
        contracts.TRIGGERS_FILE,
        contracts.EVENTTYPES_FILE,
        contracts.ASYNCAPI_FILE,
        "schemas/com.example.order.placed.json",
        "schemas/com.example.order.accepted.json",
    } <= stale

    made = make_for_real(project, tmp_path, "contracts")
    assert made.returncode == 0, made.stdout + made.stderr
    after = validate_tree(project, CRDS_DIR)
    assert after.ok, [str(v) for v in after.violations]
    trigger = next(
        d
        for d in yaml.safe_load_all((project / contracts.TRIGGERS_FILE).read_text())
        if d and d["spec"]["filter"]["attributes"]["type"] == "com.example.order.placed"
    )
    assert trigger["spec"]["filter"]["attributes"] == {
        "type": "com.example.order.placed",
        "subject": "shop",
    }
    schema = yaml.safe_load((project / "schemas/com.example.order.placed.json").read_text())
    assert schema["required"] == ["order_id", "quantity"]
    asyncapi = yaml.safe_load((project / contracts.ASYNCAPI_FILE).read_text())
    assert asyncapi["asyncapi"] == "3.0.0"
    assert asyncapi["operations"]["send-com.example.order.accepted"]["action"] == "send"
    assert asyncapi["operations"]["receive-com.example.order.placed"]["action"] == "receive"

    # The rendered handler tests still pass: the factory builds a valid OrderPlaced.
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_handlers.py"],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project / "src")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert tests.returncode == 0, tests.stdout[-3000:]

    # Left out of the manifests: the Trigger of the new handler is deleted by hand.
    path = project / contracts.TRIGGERS_FILE
    kept = [
        d
        for d in yaml.safe_load_all(path.read_text())
        if d and d["spec"]["filter"]["attributes"]["type"] != "com.example.order.placed"
    ]
    path.write_text(yaml.safe_dump_all(kept, sort_keys=False))
    removed = validate_tree(project, CRDS_DIR, ["dev"])
    assert {"contracts/stale", "triggers/handler-unrouted"} <= rules_of(removed)
    unrouted = [v for v in removed.violations if v.rule == "triggers/handler-unrouted"]
    assert "com.example.order.placed" in unrouted[0].message


def test_make_send_posts_in_each_mode_and_shows_the_triggers(
    renderer: Renderer, tmp_path: Path
) -> None:
    project = _default_render_with_orders(renderer, tmp_path)
    assert make_for_real(project, tmp_path, "contracts").returncode == 0
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "hello_events.main:app", "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning"],
        cwd=project,
        env={**os.environ, "PYTHONPATH": str(project / "src")},
    )  # fmt: skip
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", process=server)
        outputs = {}
        for mode in ("binary", "structured", "batch"):
            done = make_for_real(
                project, tmp_path, "send", "TYPE=com.example.order.placed", f"MODE={mode}",
                f"PORT={port}",
            )  # fmt: skip
            assert done.returncode == 0, done.stdout + done.stderr
            assert "HTTP 200 OK" in done.stdout
            assert '"type": "com.example.order.accepted"' in done.stdout
            assert '"order_id": "example"' in done.stdout
            outputs[mode] = done.stdout
        stub = make_for_real(project, tmp_path, "send", "TYPE=com.example.sample.created",
                             f"PORT={port}")  # fmt: skip
        assert stub.returncode == 0
        assert "HTTP 202 Accepted" in stub.stdout
        assert "(no reply event)" in stub.stdout
        bad = make_for_real(project, tmp_path, "send", "TYPE=com.example.order.placed",
                            'DATA={"order_id": "x"}', f"PORT={port}")  # fmt: skip
        assert bad.returncode != 0
        assert "HTTP 422 Unprocessable Entity" in bad.stdout
        assert "/problems/invalid-data" in bad.stdout
        routed = make_for_real(project, tmp_path, "send", "TYPE=com.example.order.placed",
                               "VIA=dev", f"PORT={port}")  # fmt: skip
        assert routed.returncode == 0, routed.stdout + routed.stderr
        assert "+ hello-events-com-example-order-placed -> Service/hello-events: delivers" in (
            routed.stdout
        )
        assert "- hello-events-com-example-sample-created -> Service/hello-events: skips" in (
            routed.stdout
        )
        assert "1 of 2 Trigger(s) deliver com.example.order.placed" in routed.stdout
        # SEND_TRANSCRIPT=<file> keeps what make send printed (quoted in the release notes).
        if os.environ.get("SEND_TRANSCRIPT"):
            Path(os.environ["SEND_TRANSCRIPT"]).write_text(
                "\n".join(f"$ make send ... MODE={m}\n{o}" for m, o in outputs.items())
                + f"\n$ make send ... (stub)\n{stub.stdout}\n$ make send ... DATA=bad\n{bad.stdout}"
                + f"\n$ make send ... VIA=dev\n{routed.stdout}"
            )
    finally:
        server.terminate()
        server.wait(timeout=15)


BACKSTAGE_ROWS = [row for row in pairwise_answer_sets() if row.get("backstage")]


@pytest.mark.parametrize("data", BACKSTAGE_ROWS, ids=[answer_set_id(d) for d in BACKSTAGE_ROWS])
def test_catalog_info_of_each_pairwise_backstage_render_is_valid(
    data: dict[str, Any], renderer: Renderer
) -> None:
    root = renderer.render(data)
    entities = [d for d in yaml.safe_load_all((root / "catalog-info.yaml").read_text()) if d]
    assert [e["kind"] for e in entities] == ["Component", "API"]
    component, api = entities
    assert component["spec"]["owner"] == data.get("backstage_owner", component["spec"]["owner"])
    assert component["spec"]["providesApis"] == [api["metadata"]["name"]]
    assert api["spec"]["definition"] == {"$text": "./asyncapi.yaml"}
    assert (root / "mkdocs.yml").is_file() and (root / "docs/index.md").is_file()
    service = yaml.safe_load((root / "deployments/knative/base/service.yaml").read_text())
    assert service["metadata"]["labels"]["backstage.io/kubernetes-id"] == data.get(
        "service_name", "hello-events"
    )
    # The rules of knative_manifests.backstage, on every built environment.
    report = validate_tree(root, None)
    assert not [v for v in report.violations if v.rule.startswith("backstage/")], [
        str(v) for v in report.violations
    ]


def test_backstage_off_renders_no_catalog_and_no_label(renderer: Renderer) -> None:
    root = renderer.render(DEFAULTS)
    assert not (root / "catalog-info.yaml").exists()
    assert not (root / "mkdocs.yml").exists()
    assert "backstage.io" not in (root / "deployments/knative/base/service.yaml").read_text()


@pytest.mark.parametrize(
    ("edit", "rule"),
    [
        (lambda r: (r / "asyncapi.yaml").unlink(), "backstage/definition-file"),
        (lambda r: (r / "mkdocs.yml").unlink(), "backstage/techdocs"),
        (
            lambda r: _replace(
                r / "catalog-info.yaml", 'owner: "group:platform-team"', "owner: a b"
            ),
            "backstage/entity",
        ),
        (
            lambda r: _replace(r / "catalog-info.yaml", "- hello-events-events", "- other-api"),
            "backstage/api-missing",
        ),
        (
            lambda r: _replace(
                r / "deployments/knative/base/service.yaml",
                "backstage.io/kubernetes-id: hello-events",
                "backstage.io/kubernetes-id: other",
            ),
            "backstage/kubernetes-id",
        ),
    ],
)
def test_a_broken_catalog_fails_validate_by_rule(
    edit: Any, rule: str, renderer: Renderer, tmp_path: Path
) -> None:
    project = tmp_path / "svc"
    shutil.copytree(renderer.render({"backstage": True}), project)
    edit(project)
    report = validate_tree(project, None, ["dev"])
    assert rule in rules_of(report), [str(v) for v in report.violations]


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))
