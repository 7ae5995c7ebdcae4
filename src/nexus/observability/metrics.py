"""Prometheus metrics of one Nexus process, fed by the engine's events and the HTTP layer.

Subscribe an instance to the event bus (``nx.subscribe(metrics)``); it counts what
this process executes:

- ``nexus_runs_started_total``, ``nexus_runs_resumed_total``
- ``nexus_runs_finished_total{status}`` (succeeded, failed, cancelled, waiting_input)
- ``nexus_step_duration_seconds{kind,status}`` (histogram of finished leaf and group steps)
- ``nexus_step_retries_total{kind}``
- ``nexus_model_calls_total{model}``, ``nexus_model_tokens_total{model,type}``
  (input, output, cache_read), ``nexus_model_cost_usd_total{model}``
- ``nexus_http_request_duration_seconds{method,route,status}`` (histogram; the route
  template, not the raw path, so ids do not explode the label set)
- ``nexus_runs_executing`` (gauge, set by the server's executor)

Each instance has its own registry, so several apps in one process do not clash.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from nexus.domain.runs import Event

__all__ = ["CONTENT_TYPE", "NexusMetrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST

_STEP_BUCKETS = (0.005, 0.025, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 180, 600, 1800)
_HTTP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10)
_FINISHED = {
    "run.succeeded": "succeeded",
    "run.failed": "failed",
    "run.cancelled": "cancelled",
    "run.waiting_input": "waiting_input",
}


class NexusMetrics:
    """The metrics of one process; call it with events, render it for ``/metrics``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.runs_started = Counter("nexus_runs_started", "Runs started", registry=r)
        self.runs_resumed = Counter("nexus_runs_resumed", "Runs resumed or taken over", registry=r)
        self.runs_finished = Counter(
            "nexus_runs_finished", "Runs that ended or parked, by status", ["status"], registry=r
        )
        self.step_duration = Histogram(
            "nexus_step_duration_seconds",
            "Duration of finished steps",
            ["kind", "status"],
            buckets=_STEP_BUCKETS,
            registry=r,
        )
        self.step_retries = Counter("nexus_step_retries", "Step retries", ["kind"], registry=r)
        self.model_calls = Counter("nexus_model_calls", "Model calls", ["model"], registry=r)
        self.model_tokens = Counter(
            "nexus_model_tokens", "Model tokens", ["model", "type"], registry=r
        )
        self.model_cost = Counter(
            "nexus_model_cost_usd", "Model cost in US dollars", ["model"], registry=r
        )
        self.http_latency = Histogram(
            "nexus_http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route", "status"],
            buckets=_HTTP_BUCKETS,
            registry=r,
        )
        self.runs_executing = Gauge(
            "nexus_runs_executing", "Runs this process executes now", registry=r
        )
        self._step_kinds: dict[tuple[str, str], str] = {}

    def __call__(self, event: Event) -> None:
        """Count one engine event (an :data:`~nexus.engine.events.EventListener`)."""
        kind = event.type
        data = event.data
        if kind == "run.started":
            self.runs_started.inc()
        elif kind == "run.resumed":
            self.runs_resumed.inc()
        elif kind in _FINISHED:
            self.runs_finished.labels(_FINISHED[kind]).inc()
            self._forget(event.run_id)
        elif kind == "step.started" and event.step_key:
            self._step_kinds[(event.run_id, event.step_key)] = str(data.get("kind") or "step")
        elif kind in ("step.succeeded", "step.failed") and event.step_key:
            step_kind = str(
                data.get("kind") or self._step_kinds.get((event.run_id, event.step_key)) or "step"
            )
            self._step_kinds.pop((event.run_id, event.step_key), None)
            duration = data.get("duration_s")
            if isinstance(duration, (int, float)):
                status = "succeeded" if kind == "step.succeeded" else "failed"
                self.step_duration.labels(step_kind, status).observe(max(float(duration), 0.0))
        elif kind == "step.retrying" and event.step_key:
            step_kind = self._step_kinds.get((event.run_id, event.step_key), "step")
            self.step_retries.labels(step_kind).inc()
        elif kind == "usage.recorded":
            model = str(data.get("model") or "unknown")
            self.model_calls.labels(model).inc()
            for name in ("input", "output", "cache_read"):
                value = data.get(f"{name}_tokens")
                if isinstance(value, (int, float)) and value > 0:
                    self.model_tokens.labels(model, name).inc(value)
            cost = data.get("cost_usd")
            if isinstance(cost, (int, float)) and cost > 0:
                self.model_cost.labels(model).inc(cost)

    def _forget(self, run_id: str) -> None:
        for key in [k for k in self._step_kinds if k[0] == run_id]:
            del self._step_kinds[key]

    def observe_http(self, method: str, route: str, status: int, seconds: float) -> None:
        self.http_latency.labels(method, route, str(status)).observe(seconds)

    def render(self) -> bytes:
        """The text exposition format for ``GET /metrics``."""
        return generate_latest(self.registry)
