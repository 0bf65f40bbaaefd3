"""Liveness and readiness: ready only between start-up and the start of shutdown.

Readiness flips to 503 the moment shutdown begins (SIGTERM, before uvicorn stops
accepting, or the lifespan shutdown, whichever comes first) so load balancers stop
sending new work while requests in flight drain. Liveness stays 200 while the process
serves: restarting a draining pod would only lose its in-flight events.

The probes' answers are plain functions of the state (:func:`liveness`, :func:`readiness`)
so ``app.ServiceApp`` can serve them as raw ASGI responses before FastAPI is imported
(the kubelet probes a scaled-from-zero pod at once), and ``api.py`` documents the same
answers as FastAPI routes.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from enum import Enum
from types import FrameType
from typing import Any, Final


class Phase(Enum):
    """Where the app is in its life."""

    STARTING = "starting"
    READY = "ready"
    DRAINING = "draining"


class HealthState:
    """The app's phase; shared by the lifespan, the SIGTERM hook and the probes."""

    def __init__(self) -> None:
        self.phase = Phase.STARTING

    @property
    def ready(self) -> bool:
        """True between start-up and the start of shutdown."""
        return self.phase is Phase.READY

    def mark_started(self) -> None:
        """Start-up is complete (unless shutdown already began)."""
        if self.phase is Phase.STARTING:
            self.phase = Phase.READY

    def mark_draining(self) -> None:
        """Shutdown has begun: never ready again."""
        self.phase = Phase.DRAINING


SignalHandler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


def drain_on_sigterm(state: HealthState) -> Callable[[], None]:
    """Chain a SIGTERM handler that marks ``state`` draining, then calls the previous one.

    Returns a function that restores the previous handler. Python only lets the main
    thread install signal handlers; elsewhere (a test server in a thread) this does
    nothing and the lifespan shutdown still flips readiness.
    """
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous: SignalHandler = signal.getsignal(signal.SIGTERM)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        state.mark_draining()
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.raise_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)

    def restore() -> None:
        if signal.getsignal(signal.SIGTERM) is on_sigterm:
            signal.signal(signal.SIGTERM, previous)

    return restore


LIVE_PATH: Final = "/health/live"
READY_PATH: Final = "/health/ready"


def liveness() -> tuple[int, dict[str, str]]:
    """200 while the process serves requests."""
    return 200, {"status": "alive"}


def readiness(state: HealthState) -> tuple[int, dict[str, str]]:
    """200 once start-up completed; 503 while starting and from the moment shutdown begins."""
    return (200 if state.ready else 503), {"status": state.phase.value}
