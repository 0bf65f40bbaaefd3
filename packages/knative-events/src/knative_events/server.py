"""uvicorn's httptools protocol with a bounded header block and a header timeout.

httptools (llhttp) sets no limit on the size of a request's header block, and uvicorn adds
none: a sender that streams headers makes the process buffer all of them before the app
sees the request, and one that sends a byte at a time (or nothing) holds a connection
open for ever, because uvicorn's keep-alive timer is cancelled by every byte read. Behind
Knative the queue-proxy bounds both, but ``make run``, a plain Deployment or a test talk
to uvicorn directly. This subclass keeps the fast parser and adds the two bounds:

* a header block (request line and headers) over ``MAX_HEADER_BYTES`` is answered 431
  and the connection closed. While a block is incomplete, the bytes read for it are
  counted, so one read (at most the event loop's read size) past the limit is all a
  connection buffers; a block completed within the limit's reach is measured once
  complete, so a body that arrives with its headers never counts against the limit.
* a header block not complete ``HEADER_TIMEOUT_SECONDS`` after the connection opened,
  or after its first byte on a kept-alive connection, is answered 408 and closed; a new
  connection that sent nothing is closed without an answer (an idle kept-alive one is
  closed by uvicorn's own keep-alive timeout). A request whose handler is running is
  never cut. A request that arrives in one read (almost every one) costs no timer.

Serve with ``uvicorn <package>.main:app --http knative_events.server:BoundedHttpToolsProtocol``
(the rendered Dockerfile and ``make run`` do). Both limits are read once, from the
environment, through :class:`knative_events.settings.Settings`.

Written by hand because neither uvicorn nor httptools has these options; a subclass of
uvicorn's own protocol keeps every other behaviour (pipelining, flow control, upgrades).
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar, Final

import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from .cloudevents.errors import HeadersTooLargeError, HeaderTimeoutError, ProblemError
from .cloudevents.problem import PROBLEM_CONTENT_TYPE, problem_document
from .settings import Settings

_REASONS: Final = {431: b"Request Header Fields Too Large", 408: b"Request Timeout"}


class _HeaderBlockTooLargeError(Exception):
    """Raised from a parser callback to stop parsing a header block over the limit."""


_parse: Final = HttpToolsProtocol.data_received
_headers_complete: Final = HttpToolsProtocol.on_headers_complete


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """:class:`HttpToolsProtocol` that refuses an oversized header block (431) and closes
    connections whose header block does not arrive in time (408)."""

    max_header_bytes: ClassVar[int] = 0
    """The limits; 0 until the first connection reads them from the environment."""
    header_timeout_seconds: ClassVar[float] = 0.0

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        if not BoundedHttpToolsProtocol.max_header_bytes:
            settings = Settings()
            BoundedHttpToolsProtocol.header_timeout_seconds = settings.header_timeout_seconds
            BoundedHttpToolsProtocol.max_header_bytes = settings.max_header_bytes
        self._limit = BoundedHttpToolsProtocol.max_header_bytes
        # uvicorn's on_message_begin gives every message a new ``self.headers`` list, so a
        # header block is in progress exactly while ``self.headers`` is not the list of the
        # last complete one: no extra callback per request.
        self._complete: list[tuple[bytes, bytes]] | None = None
        self._header_bytes = 0  # bytes of earlier reads of the block in progress
        self._read_bytes = 0  # size of the read being parsed
        self._too_large = False  # set when a complete header block was over the limit
        self._header_timer: asyncio.TimerHandle | None = None

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the clock for the first header block."""
        super().connection_made(transport)
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop the clock; uvicorn does the rest."""
        self._disarm_header_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Parse, then count what was read while a header block is still incomplete."""
        self._read_bytes = len(data)
        _parse(self, data)  # uvicorn's data_received (a plain call: cheaper than super())
        if self.headers is self._complete or self.transport.is_closing():
            return  # the common case: the whole header block came in this read
        self._header_bytes += len(data)
        if self._header_bytes > self._limit:
            self._refuse(
                HeadersTooLargeError(
                    f"the request line and headers exceed {self._limit} bytes (MAX_HEADER_BYTES)"
                )
            )
        elif self._header_timer is None:
            self._arm_header_timer()

    # httptools callback
    def on_headers_complete(self) -> None:
        """The header block is complete: measure it if it may be over, stop the clock.

        Only when this read and the earlier ones of the block could hold more than the
        limit is the block measured (request target, names and values, 4 bytes a line for
        ": " and CRLF); otherwise it costs one comparison.
        """
        if self._header_bytes + self._read_bytes > self._limit:
            size = len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)
            if size > self._limit:
                # Stops the parser; uvicorn answers through send_400_response (below).
                self._too_large = True
                raise _HeaderBlockTooLargeError
        self._complete = self.headers
        self._header_bytes = 0
        if self._header_timer is not None:
            self._disarm_header_timer()
        _headers_complete(self)

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a parser error: a 431 when the header block was too large."""
        if not self._too_large:
            super().send_400_response(msg)
            return
        self._refuse(
            HeadersTooLargeError(
                f"the request line and headers exceed {self._limit} bytes (MAX_HEADER_BYTES)"
            )
        )

    # the two bounds
    def _arm_header_timer(self) -> None:
        self._disarm_header_timer()
        if self.header_timeout_seconds > 0:
            self._header_timer = self.loop.call_later(
                self.header_timeout_seconds, self._header_timed_out
            )

    def _disarm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.headers is self._complete:
            # Armed at connection_made and nothing has begun since: a connection that sent
            # nothing (a begun header block disarms or re-arms the clock), nothing to answer.
            self.transport.close()
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a handler is running; the next bytes read start the clock again
        self._refuse(
            HeaderTimeoutError(
                f"the request line and headers did not arrive within "
                f"{self.header_timeout_seconds:g} s (HEADER_TIMEOUT_SECONDS)"
            )
        )

    def _refuse(self, error: ProblemError) -> None:
        """Answer ``error`` as a problem document and close: the header block is unread."""
        self._disarm_header_timer()
        body = orjson.dumps(problem_document(error))
        reason = _REASONS.get(error.status, b"")
        parts = [b"HTTP/1.1 %d %s\r\n" % (error.status, reason)]
        for name, value in self.server_state.default_headers:
            parts += [name, b": ", value, b"\r\n"]
        parts += [
            b"content-type: " + PROBLEM_CONTENT_TYPE.encode("ascii") + b"\r\n",
            b"content-length: %d\r\n" % len(body),
            b"connection: close\r\n\r\n",
            body,
        ]
        self.logger.warning("refused a request: %s", error.detail)
        self.transport.write(b"".join(parts))
        self.transport.close()
