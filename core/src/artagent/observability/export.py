"""Exporting traces over OTLP/HTTP, when ``[observability] otlp_endpoint`` says where.

The OpenTelemetry SDK and its OTLP exporter are imported here only, and only when an endpoint
is configured: core depends on ``opentelemetry-api`` alone, the rest comes with the ``otlp``
extra (``pip install 'artagent[otlp]'``, which ``make install`` and the container image do).
Spans are batched and sent from the SDK's own thread, never from the event loop; a collector
that is away costs dropped spans, never a stalled call.
"""

from __future__ import annotations

from urllib.parse import unquote

from artagent.config import ConfigError, ConfigIssue, LoadedConfig
from artagent.observability.tracing import Tracing

__all__ = ["parse_headers", "traces_url", "tracing_from_config"]

TRACES_PATH = "/v1/traces"


def traces_url(endpoint: str) -> str:
    """A collector's base URL gets OTLP/HTTP's traces path; a URL that has it is kept."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith(TRACES_PATH) else endpoint + TRACES_PATH


def parse_headers(text: str) -> dict[str, str]:
    """``key=value`` pairs separated by commas (values URL-encoded), as OTEL_EXPORTER_OTLP_HEADERS."""
    headers: dict[str, str] = {}
    for number, pair in enumerate(filter(None, (part.strip() for part in text.split(","))), 1):
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():  # the text is a secret: say where, not what
            raise ValueError(f"header {number} is not a key=value pair")
        headers[key.strip().lower()] = unquote(value.strip())
    return headers


def tracing_from_config(loaded: LoadedConfig, *, worker: str, version: str = "") -> Tracing:
    """The worker's :class:`Tracing`: disabled without an endpoint, else an SDK provider that
    batches spans to it. Raises :class:`ConfigError` naming the key when the SDK is missing or
    the headers variable cannot be read."""
    cfg = loaded.config.observability
    if not cfg.otlp_endpoint:
        return Tracing()
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
    except ImportError as exc:
        message = (
            f"exporting traces needs the otlp extra: pip install 'artagent[otlp]' ({exc.name} is missing)"
        )
        raise ConfigError([ConfigIssue("observability.otlp_endpoint", message)], loaded.source) from None
    try:
        headers = parse_headers(loaded.secret("observability.otlp_headers_env") or "")
    except ValueError as exc:
        raise ConfigError([ConfigIssue("observability.otlp_headers_env", str(exc))], loaded.source) from None
    resource = Resource.create(
        {"service.name": cfg.service_name, "service.instance.id": worker, "service.version": version}
    )
    provider = TracerProvider(
        resource=resource, sampler=ParentBased(TraceIdRatioBased(cfg.sample_ratio)), shutdown_on_exit=False
    )
    exporter = OTLPSpanExporter(endpoint=traces_url(cfg.otlp_endpoint), headers=headers or None)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return Tracing(provider)
