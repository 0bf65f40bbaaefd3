"""A Kubernetes API emulator for the service manager's tests, served over real HTTP.

kmock's ``KubernetesEmulator`` keeps objects in memory behind an aiohttp server, so the real
lightkube client (and its httpx transport) does the talking. This subclass adds what the
tests need from a real API server and kmock leaves out:

* ``metadata.resourceVersion`` on every write, and 409 Conflict for a patch that carries a
  stale one (optimistic concurrency);
* error bodies served as ``application/json`` exactly: lightkube only turns a response
  into ``ApiError`` for that content type, and kmock adds ``; charset=utf-8``;
* a log of every call with start and end times (``calls``), latency per request
  (``latency``) and injected failures (``inject``) or side effects (``before``);
* constant cost per request: kmock re-filters its whole request history and scans every
  stored object for each new request, which made request 200 several times slower than
  request 1.

The benchmark (``benchmarks/service_manager_bench.py`` in the template repository) loads
this module by path to use the same emulator.
"""

from __future__ import annotations

import asyncio
import copy
import datetime
import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp.web
import attrs
import kmock
import yaml
from kmock import KubernetesEmulator, KubernetesError, KubernetesObjectNotFoundError

from knative_events.service_manager import BuildCompletion, ManagerDefaults

NAMESPACE = "runtime"
DEFAULTS = ManagerDefaults(
    manager_name="build-manager",
    event_prefix="com.example",
    service_settings={
        "max_scale": 3,
        "container_concurrency": 10,
        "cpu_request": "100m",
        "cpu_limit": "1000m",
        "memory_request": "256Mi",
        "memory_limit": "1Gi",
        "istio_sidecar": False,
    },
    allowed_sources=("/builds",),
    allowed_registries=("registry.example.com/parsers",),
)
"""What the service under test passes to its ServiceManager (a service's own answers)."""
PLURALS = {
    "ServiceAccount": "serviceaccounts",
    "ConfigMap": "configmaps",
    "Service": "services",
    "Trigger": "triggers",
}
GROUPS = {
    "ServiceAccount": ("", "v1"),
    "ConfigMap": ("", "v1"),
    "Service": ("serving.knative.dev", "v1"),
    "Trigger": ("eventing.knative.dev", "v1"),
}


@dataclass(frozen=True)
class ApiCall:
    """One request the emulator served: what, on which object, when, and the answer."""

    method: str
    plural: str | None
    name: str | None
    started: float
    finished: float
    status: int
    body: Any

    def overlaps(self, other: ApiCall) -> bool:
        """Whether the two requests were in flight at the same time."""
        return self.started < other.finished and other.started < self.finished


@dataclass
class Fault:
    """Answer ``times`` matching requests with ``status`` instead of serving them."""

    method: str
    plural: str
    status: int
    times: int = 1
    name: str | None = None
    reason: str = "InjectedFault"

    def matches(self, method: str, plural: str | None, name: str | None) -> bool:
        return (
            self.times > 0
            and method == self.method
            and plural == self.plural
            and (self.name is None or self.name == name)
        )


@attrs.define(kw_only=True)
class KnativeApiEmulator(KubernetesEmulator):
    """kmock's emulator plus resourceVersions, JSON errors, a call log, latency and faults."""

    latency: float = 0.0
    calls: list[ApiCall] = attrs.field(factory=list)
    faults: list[Fault] = attrs.field(factory=list)
    before: list[Callable[[kmock.Request], None]] = attrs.field(factory=list)
    _versions: Iterator[int] = attrs.field(factory=lambda: itertools.count(1))

    def inject(
        self, method: str, kind: str, status: int, *, times: int = 1, name: str | None = None
    ) -> Fault:
        """Make the next ``times`` ``method`` requests on ``kind`` fail with ``status``."""
        fault = Fault(method.upper(), PLURALS[kind], status, times=times, name=name)
        self.faults.append(fault)
        return fault

    def stored(self, kind: str, name: str, namespace: str = NAMESPACE) -> dict[str, Any] | None:
        """The object as the emulator holds it, or None when absent or deleted."""
        group, version = GROUPS[kind]
        key = (kmock.resource(group, version, PLURALS[kind]), namespace, name)
        if key not in self.objects or self.objects[key].deleted:
            return None
        raw: dict[str, Any] = self.objects[key].raw
        return raw

    def modify(self, kind: str, name: str, patch: dict[str, Any]) -> None:
        """Change a stored object as another writer would (a new resourceVersion)."""
        group, version = GROUPS[kind]
        key = (kmock.resource(group, version, PLURALS[kind]), NAMESPACE, name)
        meta = patch.setdefault("metadata", {})
        meta["resourceVersion"] = str(next(self._versions))
        self.objects[key].patch(patch)

    def api_calls(self, method: str | None = None, kind: str | None = None) -> list[ApiCall]:
        """Calls on Kubernetes resources, optionally of one method and kind."""
        plural = PLURALS[kind] if kind else None
        return [
            call
            for call in self.calls
            if call.plural is not None
            and (method is None or call.method == method)
            and (plural is None or call.plural == plural)
        ]

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        started = time.perf_counter()
        status = 500
        plural = request.resource.plural if request.resource is not None else None
        method = str(request.method.value)
        body = copy.deepcopy(request.data)  # as sent, before the emulator stamps it
        try:
            for hook in list(self.before):  # on arrival, before the latency
                hook(request)
            if self.latency:
                await asyncio.sleep(self.latency)
            for fault in self.faults:
                if fault.matches(method, plural, request.name):
                    fault.times -= 1
                    raise KubernetesError(
                        status=fault.status, reason=fault.reason, message="injected by the test"
                    )
            self._stamp(request)
            # kmock matches a request by walking its whole request history (O(n) per request);
            # the call log above is what the tests read, so keep only this request.
            # No await between here and the matching: concurrent requests cannot interleave.
            self._requests[:] = [request]
            response = await super()._handle(request)
            status = response.status
            return response
        except KubernetesError as error:
            status = error.status
            raise
        finally:
            self.calls.append(
                ApiCall(
                    method,
                    plural,
                    request.name or _body_name(request),
                    started,
                    time.perf_counter(),
                    status,
                    body,
                )
            )

    def _stamp(self, request: kmock.Request) -> None:
        """Set resourceVersion/uid/generation as the API server does; refuse stale patches."""
        if request.resource is None or not isinstance(request.data, dict):
            return
        meta = request.data.setdefault("metadata", {})
        if request.action == kmock.action.CREATE:
            meta["resourceVersion"] = str(next(self._versions))
            meta["uid"] = str(uuid.uuid4())
            meta["generation"] = 1
            meta["creationTimestamp"] = datetime.datetime.now(datetime.UTC).isoformat()
        elif request.action == kmock.action.UPDATE and request.name is not None:
            key = (request.resource, request.namespace, request.name)
            if key not in self.objects or self.objects[key].deleted:
                return  # the emulator answers 404
            current = self.objects[key].raw.get("metadata", {})
            sent = meta.get("resourceVersion")
            if sent is not None and sent != current.get("resourceVersion"):
                raise KubernetesError(
                    status=409,
                    reason="Conflict",
                    message=(
                        f"Operation cannot be fulfilled on {request.resource.plural} "
                        f'"{request.name}": the object has been modified; please apply your '
                        "changes to the latest version and try again"
                    ),
                )
            meta["resourceVersion"] = str(next(self._versions))
            if "spec" in request.data:
                meta["generation"] = int(current.get("generation", 1)) + 1

    # kmock finds the object of a request by scanning every stored object; these four
    # fallbacks look it up by key instead (same answers, constant cost per request).
    def _object(self, request: kmock.Request) -> Any:
        data = request.data if isinstance(request.data, dict) else {}
        meta = data.get("metadata", {})
        key = (
            request.resource,
            request.namespace or meta.get("namespace"),
            request.name or meta.get("name"),
        )
        if key not in self.objects:
            raise KubernetesObjectNotFoundError()
        return self.objects[key]

    async def _serve_fetch(self, request: kmock.Request) -> Any:
        obj = self._object(request)
        if obj.deleted:
            raise KubernetesObjectNotFoundError()
        return obj.raw

    async def _serve_create(self, request: kmock.Request) -> Any:
        return self._object(request).raw

    async def _serve_update(self, request: kmock.Request) -> Any:
        return self._object(request).last.raw

    async def _serve_delete(self, request: kmock.Request) -> Any:
        return self._object(request).last.raw

    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        status = exc.status if isinstance(exc, KubernetesError) else 500
        reason = (exc.reason if isinstance(exc, KubernetesError) else None) or type(exc).__name__
        message = (exc.message if isinstance(exc, KubernetesError) else None) or repr(exc)
        body = {
            "apiVersion": "v1",
            "kind": "Status",
            "metadata": {},
            "status": "Failure",
            "code": status,
            "reason": reason,
            "message": message,
        }
        return aiohttp.web.Response(
            body=json.dumps(body).encode(),
            status=status,
            headers={"Content-Type": "application/json"},
        )


def _body_name(request: kmock.Request) -> str | None:
    if isinstance(request.data, dict):
        name = request.data.get("metadata", {}).get("name")
        return name if isinstance(name, str) else None
    return None


def write_kubeconfig(path: Path, server: str, namespace: str = NAMESPACE) -> Path:
    """A kubeconfig whose only context points at ``server`` with a dummy token."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emulator", "cluster": {"server": server}}],
        "users": [{"name": "tests", "user": {"token": "not-a-secret"}}],
        "contexts": [
            {
                "name": "emulator",
                "context": {"cluster": "emulator", "user": "tests", "namespace": namespace},
            }
        ],
        "current-context": "emulator",
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def make_build(
    third_party_id: str = "customer-123", parser_id: str = "test-parser", version: int = 1
) -> BuildCompletion:
    """A build-complete payload; ``version`` changes the hash and the image tag."""
    digest = f"{version:08x}" * 8
    return BuildCompletion(
        third_party_id=third_party_id,
        parser_id=parser_id,
        content_hash=digest,
        image_uri=f"registry.example.com/parsers/{parser_id}:build-{version}",
    )
