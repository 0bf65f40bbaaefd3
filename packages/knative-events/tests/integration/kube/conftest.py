"""Fixtures of the service manager's tests: the emulator, a kubeconfig, a manager."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import kmock
import pytest
from kube_support import DEFAULTS, KnativeApiEmulator, write_kubeconfig
from prometheus_client import CollectorRegistry

from knative_events.service_manager import (
    ServiceManager,
    ServiceManagerMetrics,
    ServiceManagerSettings,
)


@pytest.fixture
async def k8s() -> AsyncIterator[KnativeApiEmulator]:
    """The emulator, listening on a free port of 127.0.0.1."""
    async with KnativeApiEmulator() as emulator, kmock.Server(emulator):
        yield emulator


@pytest.fixture
def kubeconfig(k8s: KnativeApiEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """KUBECONFIG pointing at the emulator (no in-cluster service account here)."""
    path = write_kubeconfig(tmp_path / "kubeconfig", str(k8s.url))
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


@pytest.fixture
def registry() -> CollectorRegistry:
    """A fresh Prometheus registry so each test counts from zero."""
    return CollectorRegistry()


@pytest.fixture
def settings() -> ServiceManagerSettings:
    """Known settings (whatever the answers were), without pauses between conflict retries."""
    return ServiceManagerSettings(
        broker="default",
        broker_class="MTChannelBasedBroker",
        dead_letter_sink="",
        conflict_backoff_seconds=0,
    )


@pytest.fixture
async def manager(
    kubeconfig: Path, settings: ServiceManagerSettings, registry: CollectorRegistry
) -> AsyncIterator[ServiceManager]:
    """A ServiceManager built the way the service builds it: from the environment."""
    async with ServiceManager.from_environment(
        DEFAULTS, settings=settings, metrics=ServiceManagerMetrics(registry)
    ) as service_manager:
        yield service_manager
