"""Observability: traces of calls (OpenTelemetry), logs correlated by call, metrics of events.

Kept light on purpose: the session engine imports :mod:`artagent.observability.calltrace`
(the interface and its no-op), and the OpenTelemetry SDK is imported only by
:mod:`artagent.observability.export`, when ``[observability] otlp_endpoint`` is set.
See docs/observability.md.
"""
