"""Send CloudEvents (binary mode) to K_SINK or a broker, with timeouts and bounded retries.

Retries follow the Knative data-plane contract from the sender's side, narrowed to what
is safe to repeat: connection errors, timeouts and 5xx are retried with exponential
backoff (``backoff * 2**attempt``, capped); any 4xx is final, because the receiver has
said the event itself is wrong and sending it again cannot help. Not imported by the app
at start-up (httpx is only loaded by services that emit).
"""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Final, Self

import httpx

from .cloudevents.models import CloudEvent
from .cloudevents.serializer import to_binary
from .settings import Settings
from .tracing import hooks as tracing_hooks

DEFAULT_TIMEOUT_SECONDS: Final = 5.0
DEFAULT_RETRIES: Final = 3
DEFAULT_BACKOFF_SECONDS: Final = 0.2
MAX_BACKOFF_SECONDS: Final = 5.0


class EmitError(Exception):
    """An event could not be delivered; ``status`` is the last HTTP status, if any."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class EventEmitter:
    """An async client that posts CloudEvents to one target URL."""

    def __init__(
        self,
        target: str,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        retries: int = DEFAULT_RETRIES,
        backoff_seconds: float = DEFAULT_BACKOFF_SECONDS,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        if not target.startswith(("http://", "https://")):
            raise ValueError(f"the emitter's target must be an http(s) URL, not {target!r}")
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self.target = target
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self._own_client = client is None
        self._client = client if client is not None else httpx.AsyncClient(timeout=timeout_seconds)

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: float | int) -> EventEmitter:
        """An emitter for K_SINK, else BROKER_URL; ValueError when neither is set."""
        target = settings.k_sink or settings.broker_url
        if not target:
            raise ValueError("set K_SINK (a SinkBinding does) or BROKER_URL to emit events")
        timeout = float(kwargs.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS))
        retries = int(kwargs.get("retries", DEFAULT_RETRIES))
        backoff = float(kwargs.get("backoff_seconds", DEFAULT_BACKOFF_SECONDS))
        return cls(target, timeout_seconds=timeout, retries=retries, backoff_seconds=backoff)

    def _delay(self, attempt: int) -> float:
        return float(min(self.backoff_seconds * 2**attempt, MAX_BACKOFF_SECONDS))

    async def emit(self, event: CloudEvent) -> httpx.Response:
        """POST ``event``; return the 2xx response or raise :class:`EmitError`."""
        outgoing = tracing_hooks.outgoing
        extra: dict[str, str] = {}
        if outgoing is not None:  # tracing is on: the event and the request carry the context
            event, extra = outgoing(event)
        headers, body = to_binary(event)
        headers.update(extra)
        attempt = 0
        while True:
            try:
                response = await self._client.post(self.target, headers=headers, content=body)
            except (httpx.TransportError, httpx.TimeoutException) as exc:
                if attempt >= self.retries:
                    raise EmitError(
                        f"could not deliver event {event.id} to {self.target}: {exc!r}",
                        attempts=attempt + 1,
                    ) from exc
            else:
                if response.status_code < 300:
                    return response
                if response.status_code < 500 or attempt >= self.retries:
                    raise EmitError(
                        f"{self.target} refused event {event.id} with {response.status_code}",
                        status=response.status_code,
                        attempts=attempt + 1,
                    )
            await asyncio.sleep(self._delay(attempt))
            attempt += 1

    async def aclose(self) -> None:
        """Close the HTTP client if this emitter created it."""
        if self._own_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
