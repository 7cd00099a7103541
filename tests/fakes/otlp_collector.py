"""A fake OpenTelemetry Collector: OTLP/HTTP on loopback, decoding what the real exporter sends.

It speaks the receiving side of OTLP/HTTP with protobuf bodies: ``POST /v1/traces`` carrying an
``ExportTraceServiceRequest`` (gzip or not), answered 200 with an empty
``ExportTraceServiceResponse``. It runs in a thread of its own (``http.server``), so exporters
in this process (the SDK's batch thread) and in other processes reach it whatever event loop
the test runs. It keeps every span with its resource attributes, and the request headers.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, Any]
    resource: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]]
    links: list[tuple[str, str]]
    """(trace id, span id) of each link, in hex."""


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


@dataclass
class FakeCollector:
    url: str = ""
    spans: list[ReceivedSpan] = field(default_factory=list)
    requests: list[dict[str, str]] = field(default_factory=list)
    """The headers of each POST, lower-cased names, with its path under ``:path``."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def receive(self, path: str, headers: dict[str, str], body: bytes) -> None:
        if headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        request = ExportTraceServiceRequest.FromString(body)
        spans = [
            ReceivedSpan(
                name=span.name,
                trace_id=span.trace_id.hex(),
                span_id=span.span_id.hex(),
                parent_span_id=span.parent_span_id.hex(),
                kind=span.kind,
                attributes=_attributes(span.attributes),
                resource=_attributes(resource_spans.resource.attributes),
                events=[(event.name, _attributes(event.attributes)) for event in span.events],
                links=[(link.trace_id.hex(), link.span_id.hex()) for link in span.links],
            )
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]
        with self.lock:
            self.requests.append({**headers, ":path": path})
            self.spans.extend(spans)

    def named(self, name: str) -> list[ReceivedSpan]:
        with self.lock:
            return [span for span in self.spans if span.name == name]

    def wait_for(self, name: str, *, count: int = 1, within: float = 20.0) -> list[ReceivedSpan]:
        deadline = time.monotonic() + within
        while len(found := self.named(name)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"the collector received {len(found)} {name!r} spans of {count}")
            time.sleep(0.05)
        return found


@contextmanager
def otlp_collector() -> Iterator[FakeCollector]:
    """A collector listening on 127.0.0.1 (a free port) until the block ends."""
    collector = FakeCollector()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            headers = {key.lower(): value for key, value in self.headers.items()}
            if self.path != "/v1/traces" or headers.get("content-type") != "application/x-protobuf":
                self.send_response(404)
                self.end_headers()
                return
            collector.receive(self.path, headers, body)
            reply = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    collector.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="fake-otlp-collector", daemon=True)
    thread.start()
    try:
        yield collector
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
