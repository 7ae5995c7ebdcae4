"""Observability (O2, X4): structured logs that never carry secrets, Prometheus metrics and
OpenTelemetry traces built from the engine's events. Telemetry leaves the process only when
an exporter is configured."""

from nexus.observability.logging import (
    Redactor,
    bind_correlation_id,
    configure_logging,
    current_correlation_id,
    default_redactor,
    redact,
)
from nexus.observability.metrics import NexusMetrics
from nexus.observability.tracing import EventTracer, tracer_provider_from_env

__all__ = [
    "EventTracer",
    "NexusMetrics",
    "Redactor",
    "bind_correlation_id",
    "configure_logging",
    "current_correlation_id",
    "default_redactor",
    "redact",
    "tracer_provider_from_env",
]
