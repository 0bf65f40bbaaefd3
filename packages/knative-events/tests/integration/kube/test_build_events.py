"""Build and delete CloudEvents, through the app's event endpoint, to the emulated cluster."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import build_handlers as builds
import httpx
import pytest
from kube_support import DEFAULTS, KnativeApiEmulator, make_build, write_kubeconfig

from knative_events.app import create_app
from knative_events.cloudevents.errors import SenderNotAllowedError
from knative_events.service_manager import (
    ManagerProvider,
    ServiceManager,
    ServiceManagerSettings,
    default_metrics,
)
from knative_events.settings import Settings

KINDS = ("ServiceAccount", "ConfigMap", "Service", "Trigger")


@pytest.fixture
async def wired(
    kubeconfig: Path, settings: ServiceManagerSettings
) -> AsyncIterator[ServiceManager]:
    """What the handlers build on first use, with the test's settings (and the app's metrics)."""
    manager = ServiceManager.from_environment(
        DEFAULTS, settings=settings, metrics=default_metrics()
    )
    builds.provider.override(manager)
    yield manager
    builds.provider.override(None)
    await manager.aclose()


async def test_the_provider_builds_its_manager_from_the_environment_once(
    kubeconfig: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SERVICE_MANAGER_BROKER", "from-env")
    provider = ManagerProvider(DEFAULTS)
    manager = provider.get()
    try:
        assert provider.get() is manager
        assert manager.defaults is DEFAULTS
        assert manager.settings.broker == "from-env"
        assert manager.settings.delivery_retry == DEFAULTS.delivery_retry
        provider.override(None)
        assert provider.get() is not manager
        await provider.get().aclose()
    finally:
        await manager.aclose()


def sample(metrics_text: str, line_prefix: str) -> float:
    """The value of the first exposition line that starts with ``line_prefix``."""
    for line in metrics_text.splitlines():
        if line.startswith(line_prefix):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{line_prefix} not in /metrics")


@pytest.fixture
async def client(wired: ServiceManager) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(environ={}), registry=builds.registry)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        yield http


def post(
    http: httpx.AsyncClient, event_type: str, data: dict[str, Any], source: str = "/builds"
) -> Any:
    headers = {
        "ce-specversion": "1.0",
        "ce-type": event_type,
        "ce-source": source,
        "ce-id": "build-1",
        "content-type": "application/json",
    }
    return http.post("/", headers=headers, content=json.dumps(data))


async def test_a_build_event_deploys_the_service(
    client: httpx.AsyncClient, wired: ServiceManager, k8s: KnativeApiEmulator
) -> None:
    build = make_build()
    success = 'knative_service_creation_total{status="success"}'
    before = sample((await client.get("/metrics")).text, success)

    response = await post(client, builds.BUILD_COMPLETED_TYPE, build.model_dump())

    assert response.status_code == 202, response.text
    name = wired.generate_service_name(build.third_party_id, build.parser_id)
    assert all(k8s.stored(kind, name) is not None for kind in KINDS)
    assert sample((await client.get("/metrics")).text, success) == before + 1


async def test_a_malformed_build_event_is_a_4xx_that_names_the_field(
    client: httpx.AsyncClient, k8s: KnativeApiEmulator
) -> None:
    data = make_build().model_dump() | {"image_uri": "registry.example.com/parsers/p"}

    response = await post(client, builds.BUILD_COMPLETED_TYPE, data)

    assert 400 <= response.status_code < 500
    assert "image_uri" in response.text
    assert "tag or a digest" in response.text
    assert k8s.api_calls() == []


async def test_a_kubernetes_error_is_a_5xx_and_leaves_nothing(
    client: httpx.AsyncClient, wired: ServiceManager, k8s: KnativeApiEmulator
) -> None:
    build = make_build()
    k8s.inject("POST", "Trigger", 500)

    response = await post(client, builds.BUILD_COMPLETED_TYPE, build.model_dump())

    assert response.status_code >= 500
    name = wired.generate_service_name(build.third_party_id, build.parser_id)
    assert all(k8s.stored(kind, name) is None for kind in KINDS)
    # The broker redelivers; the second attempt succeeds.
    response = await post(client, builds.BUILD_COMPLETED_TYPE, build.model_dump())
    assert response.status_code < 300
    assert all(k8s.stored(kind, name) is not None for kind in KINDS)


async def test_a_delete_event_removes_the_service_and_repeats_safely(
    client: httpx.AsyncClient, wired: ServiceManager, k8s: KnativeApiEmulator
) -> None:
    build = make_build()
    await post(client, builds.BUILD_COMPLETED_TYPE, build.model_dump())
    ids = {"third_party_id": build.third_party_id, "parser_id": build.parser_id}

    first = await post(client, builds.SERVICE_DELETE_TYPE, ids)
    second = await post(client, builds.SERVICE_DELETE_TYPE, ids)

    assert first.status_code < 300
    assert second.status_code < 300
    name = wired.generate_service_name(build.third_party_id, build.parser_id)
    assert all(k8s.stored(kind, name) is None for kind in KINDS)


async def test_out_of_cluster_a_build_event_is_a_503_that_names_the_cause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No service account and no kubeconfig: retryable, and the body says why."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "")
    builds.provider.override(None)
    app = create_app(Settings(environ={}), registry=builds.registry)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        response = await post(http, builds.BUILD_COMPLETED_TYPE, make_build().model_dump())
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    problem = response.json()
    assert problem["type"] == "/problems/dependency-unavailable"
    assert "Kubernetes" in problem["detail"]
    assert "credentials" in problem["detail"]


async def test_an_unreachable_api_server_is_a_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: ServiceManagerSettings
) -> None:
    """A kubeconfig whose API server does not answer: 503 (retried), not a 500 bug report."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]  # nobody listens here once the socket is closed
    path = write_kubeconfig(tmp_path / "kubeconfig", f"http://127.0.0.1:{closed}")
    monkeypatch.setenv("KUBECONFIG", str(path))
    manager = ServiceManager.from_environment(DEFAULTS, settings=settings)
    builds.provider.override(manager)
    try:
        app = create_app(Settings(environ={}), registry=builds.registry)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
            created = await post(http, builds.BUILD_COMPLETED_TYPE, make_build().model_dump())
            deleted = await post(http, builds.SERVICE_DELETE_TYPE, make_build().model_dump())
        for response in (created, deleted):
            assert response.status_code == 503, response.text
            assert response.json()["type"] == "/problems/dependency-unavailable"
            assert "Kubernetes API is unavailable" in response.json()["detail"]
    finally:
        builds.provider.override(None)
        await manager.aclose()


@pytest.mark.parametrize("event_type", [builds.BUILD_COMPLETED_TYPE, builds.SERVICE_DELETE_TYPE])
async def test_an_event_from_another_source_is_a_403_and_touches_nothing(
    client: httpx.AsyncClient, wired: ServiceManager, k8s: KnativeApiEmulator, event_type: str
) -> None:
    response = await post(client, event_type, make_build().model_dump(), source="/attacker")

    assert response.status_code == 403, response.text
    assert response.json()["attribute"] == "source"
    assert k8s.api_calls() == []


@pytest.mark.parametrize(
    ("image", "status"),
    [
        ("attacker.example.com:5000/miner/xmrig:latest", 422),  # 'latest' is no build
        ("attacker.example.com:5000/miner/xmrig:1", 403),  # not an allowed registry
        ("registry.example.com/parsers-evil/p:1", 403),  # a prefix ends at a '/'
    ],
)
async def test_an_image_from_elsewhere_is_refused_before_any_api_call(
    client: httpx.AsyncClient,
    wired: ServiceManager,
    k8s: KnativeApiEmulator,
    image: str,
    status: int,
) -> None:
    data = make_build().model_dump() | {"image_uri": image}

    response = await post(client, builds.BUILD_COMPLETED_TYPE, data)

    assert response.status_code == status, response.text
    problem = response.json()
    assert "image_uri" in (problem["attribute"], *(e["loc"][0] for e in problem.get("errors", [])))
    assert k8s.api_calls() == []


async def test_require_digest_refuses_a_tag_only_image(
    wired: ServiceManager, k8s: KnativeApiEmulator
) -> None:
    strict = ServiceManager(
        wired._client,
        namespace=wired.namespace,
        defaults=DEFAULTS,
        settings=wired.settings.model_copy(update={"require_digest": True}),
        metrics=wired.metrics,
    )
    build = make_build()
    with pytest.raises(SenderNotAllowedError, match="digest"):
        await strict.create_service("p", build)
    assert k8s.api_calls() == []
    repository = build.image_uri.rpartition(":")[0]
    pinned = build.model_copy(update={"image_uri": repository + "@sha256:" + "b" * 64})
    name = strict.generate_service_name(build.third_party_id, build.parser_id)
    await strict.create_service(name, pinned)
    assert k8s.stored("Service", name) is not None
