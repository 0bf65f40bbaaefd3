"""A real OTLP/HTTP receiver on 127.0.0.1 (and an event sink), for the tracing tests.

It decodes each ``POST /v1/traces`` body as the protobuf ExportTraceServiceRequest the
exporter sends (opentelemetry-proto), and keeps the requests ``POST /sink`` gets.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass
class Received:
    spans: list[Any] = field(default_factory=list)
    resources: list[Any] = field(default_factory=list)
    sink: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass
class Receiver:
    url: str
    received: Received

    def spans_named(self, name: str) -> list[Any]:
        with self.received.lock:
            return [span for span in self.received.spans if span.name == name]


def _handler(received: Received) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(min(length, 16 * 1024 * 1024))
            if self.path == "/v1/traces":
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                with received.lock:
                    for resource_spans in request.resource_spans:
                        received.resources.append(resource_spans.resource)
                        for scope_spans in resource_spans.scope_spans:
                            received.spans.extend(scope_spans.spans)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                return
            if self.path == "/sink":
                with received.lock:
                    received.sink.append({k.lower(): v for k, v in self.headers.items()})
                self.send_response(202)
                self.send_header("content-length", "0")
                self.end_headers()
                return
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


@contextmanager
def otlp_receiver() -> Iterator[Receiver]:
    received = Received()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(received))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(f"http://127.0.0.1:{server.server_address[1]}", received)
    finally:
        server.shutdown()
        server.server_close()
