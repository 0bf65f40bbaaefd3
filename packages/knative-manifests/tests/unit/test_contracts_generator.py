"""The contracts generator: configuration checks, names, files, staleness and the command."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from knative_manifests import contracts
from knative_manifests.cli import main
from knative_manifests.contracts import ContractsError, parse_contracts
from knative_manifests.filters import delivers
from knative_manifests.handlers import HandlerTypes, TypeContract, probe_event

ORDER_SCHEMA = {
    "title": "Order",
    "type": "object",
    "properties": {"id": {"type": "string"}},
    "required": ["id"],
}
TABLE: dict[str, Any] = {
    "service": "shop",
    "broker": "default",
    "source": "/apis/shop",
    "retry": 3,
    "backoff-policy": "linear",
    "backoff-delay": "PT2S",
    "dead-letter-sink": "https://dlq.example.com/in?a=1&b=2",
    "labels": {"app.kubernetes.io/name": "shop", "app.kubernetes.io/part-of": "8"},
    "annotations": {"argocd.argoproj.io/sync-wave": "2"},
    "trigger-annotations": {"rabbitmq.eventing.knative.dev/parallelism": "10"},
    "schema-base-url": "https://example.com/schemas/",
    "subscriber-audience": "shop.svc",
}


def handlers() -> HandlerTypes:
    placed = TypeContract("com.shop.order.placed", ORDER_SCHEMA, "An order.", {"subject": "web"})
    direct = TypeContract("com.shop.ping", direct_only=True)
    return HandlerTypes(
        {"com.shop.order.placed": False, "com.shop.ping": True},
        {"com.shop.order.placed": placed, "com.shop.ping": direct},
        {"com.shop.order.accepted": TypeContract("com.shop.order.accepted", ORDER_SCHEMA)},
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "red"}, r"unknown key\(s\) colour"),
        ({"service": "Shop"}, "service must be"),
        ({"broker": "b_1"}, "broker must be a DNS-1035 label"),
        ({"retry": 101}, "retry must be an integer from 0 to 100"),
        ({"retry": True}, "retry must be an integer"),
        ({"backoff-policy": "random"}, "backoff-policy must be exponential or linear"),
        ({"backoff-delay": "2s"}, "backoff-delay"),
        ({"dead-letter-sink": "ftp://x"}, "dead-letter-sink must be"),
        ({"labels": {"a": 1}}, "labels must be a table of strings"),
        ({"source": "has space"}, "source must be a URI-reference"),
    ],
)
def test_a_bad_table_is_refused_naming_the_key(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ContractsError, match=message):
        parse_contracts({**TABLE, **change}, "pyproject.toml")


@pytest.mark.parametrize(
    ("event_type", "pattern"),
    [
        ("com.shop.order.placed", r"shop-com-shop-order-placed"),
        ("Com.Shop/Odd:Type", r"shop-com-shop-odd-type-[0-9a-f]{8}"),
        ("a" * 70, "shop-" + "a" * 49 + r"-[0-9a-f]{8}"),
    ],
)
def test_resource_names_are_dns_labels(event_type: str, pattern: str) -> None:
    # tests/test_contracts.py proves they equal the template's trigger_name for renders.
    got = contracts.resource_name("shop", event_type)
    assert re.fullmatch(pattern, got), got
    assert len(got) <= 63


def test_the_generated_files_say_what_the_registry_says() -> None:
    config = parse_contracts(TABLE, "pyproject.toml")
    files = contracts.expected_files(Path("/nonexistent"), config, handlers())
    assert set(files) == {
        contracts.TRIGGERS_FILE,
        contracts.EVENTTYPES_FILE,
        contracts.ASYNCAPI_FILE,
        "schemas/any-json.json",
        "schemas/com.shop.order.placed.json",
        "schemas/com.shop.order.accepted.json",
    }
    triggers = [d for d in yaml.safe_load_all(files[contracts.TRIGGERS_FILE]) if d]
    assert len(triggers) == 1  # the direct_only handler gets none
    spec = triggers[0]["spec"]
    assert spec["filter"]["attributes"] == {
        "type": "com.shop.order.placed", "source": "/apis/shop", "subject": "web"
    }  # fmt: skip
    assert spec["delivery"] == {
        "retry": 3, "backoffPolicy": "linear", "backoffDelay": "PT2S",
        "deadLetterSink": {"uri": "https://dlq.example.com/in?a=1&b=2"},
    }  # fmt: skip
    assert triggers[0]["metadata"]["labels"]["app.kubernetes.io/part-of"] == "8"
    assert spec["subscriber"]["audience"] == "shop.svc"
    assert "rabbitmq.eventing.knative.dev/parallelism" in triggers[0]["metadata"]["annotations"]
    # The Trigger the generator writes delivers the probe event validate uses.
    probe = probe_event(handlers().contract("com.shop.order.placed"), config.source)
    assert delivers(triggers[0], probe)
    eventtypes = [d for d in yaml.safe_load_all(files[contracts.EVENTTYPES_FILE]) if d]
    by_type = {d["spec"]["type"]: d for d in eventtypes}
    assert set(by_type) == {"com.shop.order.placed", "com.shop.order.accepted", "com.shop.ping"}
    assert by_type["com.shop.ping"]["spec"]["schema"] == "https://example.com/schemas/any-json.json"
    assert by_type["com.shop.order.accepted"]["spec"]["description"] == "Emitted by shop."
    assert (
        "rabbitmq.eventing.knative.dev/parallelism"
        not in by_type["com.shop.ping"]["metadata"]["annotations"]
    )
    schema = json.loads(files["schemas/com.shop.order.placed.json"])
    assert schema["$id"] == "https://example.com/schemas/com.shop.order.placed.json"
    assert schema["required"] == ["id"]
    asyncapi = yaml.safe_load(files[contracts.ASYNCAPI_FILE])
    assert set(asyncapi["operations"]) == {
        "receive-com.shop.order.placed", "receive-com.shop.ping", "send-com.shop.order.accepted"
    }  # fmt: skip


def test_a_handler_filter_that_contradicts_the_project_source_is_refused() -> None:
    clash = TypeContract("com.shop.x", attributes={"source": "/elsewhere"})
    registry = HandlerTypes({"com.shop.x": False}, {"com.shop.x": clash})
    with pytest.raises(ContractsError, match="source='/elsewhere'"):
        contracts.triggers_yaml(parse_contracts(TABLE, "p"), registry)


REGISTRY = """
class Registration:
    def __init__(self, event_type, direct_only=False):
        self.event_type, self.direct_only, self.model = event_type, direct_only, None
        self.attributes, self.description = (), "A thing."


class Registry:
    emitted = []

    def __init__(self, *types):
        self._r = {t: Registration(t) for t in types}

    @property
    def types(self):
        return sorted(self._r)

    def get(self, event_type):
        return self._r.get(event_type)


registry = Registry({types})
"""


def service(tmp_path: Path, name: str, *types: str) -> Path:
    (tmp_path / "src").mkdir(exist_ok=True)
    module = REGISTRY.replace("{types}", ", ".join(map(repr, types)))
    (tmp_path / "src" / f"{name}.py").write_text(module)
    (tmp_path / "pyproject.toml").write_text(
        f'[project]\nname = "shop"\nversion = "1.2.3"\ndescription = "Shop."\n'
        f'[tool.knative-manifests]\nregistry = "{name}:registry"\n'
        '[tool.knative-manifests.contracts]\nservice = "shop"\nbroker = "default"\n'
    )
    return tmp_path


def test_the_command_writes_then_checks_then_reports_stale_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = service(tmp_path, "contracts_cmd_a", "com.shop.a", "com.shop.b")
    assert main(["contracts", "--root", str(root), "--check"]) == 1
    assert main(["contracts", "--root", str(root)]) == 0
    assert "wrote deployments/knative/eventing/triggers.yaml" in capsys.readouterr().out
    assert main(["contracts", "--root", str(root), "--check"]) == 0
    assert 'version: "1.2.3"' in (root / "asyncapi.yaml").read_text()
    # Reformatted but the same documents: still current.
    path = root / contracts.TRIGGERS_FILE
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    path.write_text(yaml.safe_dump_all(docs))
    (root / "schemas" / "old.type.json").write_text("{}")
    capsys.readouterr()
    assert main(["contracts", "--root", str(root), "--check"]) == 1
    out = capsys.readouterr().out
    assert "File/schemas/old.type.json: [contracts/stale] belongs to no registered" in out
    assert "triggers.yaml" not in out
    assert main(["contracts", "--root", str(root)]) == 0
    assert not (root / "schemas" / "old.type.json").exists()


def test_without_the_table_the_command_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert main(["contracts", "--root", str(tmp_path)]) == 2
    assert "has no [tool.knative-manifests.contracts] table" in capsys.readouterr().out
