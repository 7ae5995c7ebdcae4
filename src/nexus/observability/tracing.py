"""OpenTelemetry traces built from the engine's events: run → step → model call (O2, X4).

:class:`EventTracer` is an event-bus subscriber. It opens a span for a run when it
starts (or resumes), a child span for every step attempt (nested steps under
their group or loop step), and a span for every model call, timed from the
call's latency. Spans carry the run's correlation id, the step's status and
attempt, the model, tokens and cost (summed onto the step and the run), the
workspace commit a step produced, and a gate's result and failures.

Nothing is exported unless configured: :func:`tracer_provider_from_env` returns
``None`` (no tracing at all) unless ``NEXUS_OTEL_EXPORTER`` is ``console`` or
``otlp``, or the standard ``OTEL_TRACES_EXPORTER`` / ``OTEL_EXPORTER_OTLP_*``
variables ask for an exporter. ``OTEL_SDK_DISABLED=true`` turns it off.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.trace import Span, Status, StatusCode

from nexus.domain.runs import Event
from nexus.errors import ConfigError

__all__ = ["EventTracer", "exporter_from_env", "tracer_provider_from_env"]

log = logging.getLogger(__name__)

_RUN_END = {
    "run.succeeded": StatusCode.OK,
    "run.failed": StatusCode.ERROR,
    "run.cancelled": StatusCode.UNSET,
    "run.waiting_input": StatusCode.UNSET,
}
_OTLP_MODULE = "opentelemetry.exporter.otlp.proto.http.trace_exporter"
_STEP_END = ("step.succeeded", "step.failed", "step.cancelled", "step.retrying")


def _ns(ts: float) -> int:
    return int(ts * 1_000_000_000)


def _parent_key(step_key: str) -> str | None:
    """``validate[2]/fix`` → ``validate``; ``checks/lint`` → ``checks``; top level → None."""
    if "/" not in step_key:
        return None
    parent = step_key.rsplit("/", 1)[0]
    return parent.split("[", 1)[0] if parent.endswith("]") else parent


class EventTracer:
    """Turns events into spans. Call it with every event (``nx.subscribe(tracer)``)."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer
        self._runs: dict[str, Span] = {}
        self._run_cost: dict[str, float] = {}
        self._steps: dict[tuple[str, str], Span] = {}
        self._step_cost: dict[tuple[str, str], float] = {}

    # --- the subscriber -----------------------------------------------------------------
    def __call__(self, event: Event) -> None:
        kind = event.type
        try:
            if kind in ("run.started", "run.resumed"):
                self._start_run(event)
            elif kind in _RUN_END:
                self._end_run(event, _RUN_END[kind])
            elif kind == "step.started" and event.step_key:
                self._start_step(event)
            elif kind in _STEP_END and event.step_key:
                self._end_step(event)
            elif kind in ("step.skipped", "step.waiting", "step.answered") and event.step_key:
                self._instant_step(event)
            elif kind == "model.responded":
                self._model_call(event)
            elif kind == "workspace.committed" and event.step_key:
                span = self._steps.get((event.run_id, event.step_key))
                if span is not None:
                    span.set_attribute("nexus.commit", str(event.data.get("commit", "")))
            elif kind == "tool.called" and event.step_key:
                self._span_event(event, "tool.called", ("tool", "ok", "turn"))
            elif kind == "message.sent":
                self._span_event(event, "message.sent", ("from", "to", "type", "message_id"))
        except Exception:  # tracing must never break a run
            log.exception("tracing failed on event %s of run %s", kind, event.run_id)

    def close(self) -> None:
        """End the spans still open (the process is stopping; runs stay resumable)."""
        for span in self._steps.values():
            span.end()
        for span in self._runs.values():
            span.end()
        self._steps.clear()
        self._runs.clear()

    # --- runs ---------------------------------------------------------------------------
    def _start_run(self, event: Event) -> None:
        old = self._runs.pop(event.run_id, None)
        if old is not None:
            old.end(_ns(event.ts))
        span = self.tracer.start_span(
            "run",
            start_time=_ns(event.ts),
            attributes={
                "nexus.run_id": event.run_id,
                "nexus.correlation_id": event.correlation_id,
                "nexus.resumed": event.type == "run.resumed",
                "nexus.completed_steps": int(event.data.get("completed_steps") or 0),
            },
        )
        self._runs[event.run_id] = span
        self._run_cost[event.run_id] = 0.0

    def _end_run(self, event: Event, status: StatusCode) -> None:
        for key in [k for k in self._steps if k[0] == event.run_id]:
            self._steps.pop(key).end(_ns(event.ts))
            self._step_cost.pop(key, None)
        span = self._runs.pop(event.run_id, None)
        if span is None:
            return
        span.set_attribute("nexus.status", event.type.removeprefix("run."))
        span.set_attribute("nexus.cost_usd", round(self._run_cost.pop(event.run_id, 0.0), 8))
        error = event.data.get("error")
        if status == StatusCode.ERROR:
            span.set_status(Status(status, _message(error)))
        elif status == StatusCode.OK:
            span.set_status(Status(status))
        span.end(_ns(event.ts))

    # --- steps --------------------------------------------------------------------------
    def _parent_context(self, run_id: str, step_key: str) -> Any:
        parent = _parent_key(step_key)
        while parent is not None:
            span = self._steps.get((run_id, parent))
            if span is not None:
                return trace.set_span_in_context(span)
            parent = _parent_key(parent)
        run_span = self._runs.get(run_id)
        return trace.set_span_in_context(run_span) if run_span is not None else None

    def _step_attributes(self, event: Event) -> dict[str, Any]:
        assert event.step_key is not None
        attrs: dict[str, Any] = {
            "nexus.run_id": event.run_id,
            "nexus.step_key": event.step_key,
            "nexus.correlation_id": event.correlation_id,
        }
        for name in ("kind", "name", "attempt"):
            value = event.data.get(name)
            if isinstance(value, (str, int, float, bool)):
                attrs[f"nexus.{name}"] = value
        return attrs

    def _start_step(self, event: Event) -> None:
        assert event.step_key is not None
        key = (event.run_id, event.step_key)
        old = self._steps.pop(key, None)
        if old is not None:
            old.end(_ns(event.ts))
        self._steps[key] = self.tracer.start_span(
            f"step {event.step_key}",
            context=self._parent_context(*key),
            start_time=_ns(event.ts),
            attributes=self._step_attributes(event),
        )
        self._step_cost[key] = 0.0

    def _end_step(self, event: Event) -> None:
        assert event.step_key is not None
        key = (event.run_id, event.step_key)
        span = self._steps.pop(key, None)
        if span is None:  # an instant step (gate, condition, transform) has no start event
            duration = event.data.get("duration_s")
            started = event.ts - float(duration) if isinstance(duration, (int, float)) else event.ts
            span = self.tracer.start_span(
                f"step {event.step_key}",
                context=self._parent_context(*key),
                start_time=_ns(started),
                attributes=self._step_attributes(event),
            )
        status = event.type.removeprefix("step.")
        span.set_attribute("nexus.status", status)
        span.set_attribute("nexus.cost_usd", round(self._step_cost.pop(key, 0.0), 8))
        if isinstance(event.data.get("duration_s"), (int, float)):
            span.set_attribute("nexus.duration_s", float(event.data["duration_s"]))
        self._gate(span, event)
        if status in ("failed", "retrying"):
            span.set_status(Status(StatusCode.ERROR, _message(event.data.get("error"))))
        elif status == "succeeded":
            span.set_status(Status(StatusCode.OK))
        span.end(_ns(event.ts))

    @staticmethod
    def _gate(span: Span, event: Event) -> None:
        error = event.data.get("error")
        if event.data.get("kind") == "gate" and event.type == "step.succeeded":
            span.set_attribute("nexus.gate.passed", True)
        elif isinstance(error, Mapping) and error.get("code") == "gate_failed":
            span.set_attribute("nexus.gate.passed", False)
            failures = error.get("failures")
            if isinstance(failures, list):
                span.set_attribute("nexus.gate.failures", [str(f) for f in failures])

    def _instant_step(self, event: Event) -> None:
        assert event.step_key is not None
        attrs = self._step_attributes(event)
        attrs["nexus.status"] = event.type.removeprefix("step.")
        reason = event.data.get("reason") or event.data.get("question")
        if isinstance(reason, str):
            attrs["nexus.detail"] = reason[:500]
        span = self.tracer.start_span(
            f"step {event.step_key}",
            context=self._parent_context(event.run_id, event.step_key),
            start_time=_ns(event.ts),
            attributes=attrs,
        )
        span.end(_ns(event.ts))

    # --- model calls and span events ----------------------------------------------------
    def _model_call(self, event: Event) -> None:
        data = event.data
        response = data.get("response") if isinstance(data.get("response"), Mapping) else {}
        latency = response.get("latency_s") if isinstance(response, Mapping) else None
        latency = float(latency) if isinstance(latency, (int, float)) else 0.0
        usage = data.get("usage") if isinstance(data.get("usage"), Mapping) else {}
        assert isinstance(usage, Mapping)
        cost = float(data.get("cost_usd") or 0.0)
        step_key = event.step_key or ""
        context = None
        step_span = self._steps.get((event.run_id, step_key))
        if step_span is not None:
            context = trace.set_span_in_context(step_span)
        elif event.run_id in self._runs:
            context = trace.set_span_in_context(self._runs[event.run_id])
        model = str(data.get("model") or "")
        span = self.tracer.start_span(
            f"model {model}",
            context=context,
            start_time=_ns(event.ts - latency),
            attributes={
                "nexus.run_id": event.run_id,
                "nexus.step_key": step_key,
                "nexus.correlation_id": event.correlation_id,
                "nexus.agent": str(data.get("agent") or ""),
                "nexus.turn": int(data.get("turn") or 0),
                "nexus.replayed": bool(data.get("replayed")),
                "gen_ai.request.model": model,
                "gen_ai.usage.input_tokens": int(usage.get("input_tokens") or 0),
                "gen_ai.usage.output_tokens": int(usage.get("output_tokens") or 0),
                "nexus.cost_usd": round(cost, 8),
            },
        )
        span.end(_ns(event.ts))
        key = (event.run_id, step_key)
        if key in self._step_cost:
            self._step_cost[key] += cost
        if event.run_id in self._run_cost:
            self._run_cost[event.run_id] += cost

    def _span_event(self, event: Event, name: str, fields: tuple[str, ...]) -> None:
        span = self._steps.get((event.run_id, event.step_key or "")) or self._runs.get(event.run_id)
        if span is None:
            return
        attrs = {
            f"nexus.{f}": event.data[f]
            for f in fields
            if isinstance(event.data.get(f), (str, int, float, bool))
        }
        span.add_event(name, attrs, timestamp=_ns(event.ts))


def _message(error: Any) -> str:
    if isinstance(error, Mapping):
        return str(error.get("message") or error.get("code") or "error")[:500]
    return str(error or "error")[:500]


def exporter_from_env(environ: Mapping[str, str] | None = None) -> SpanExporter | None:
    """The span exporter the environment asks for, or None (tracing off)."""
    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return None
    choice = (env.get("NEXUS_OTEL_EXPORTER") or env.get("OTEL_TRACES_EXPORTER") or "").lower()
    if not choice and (
        env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    ):
        choice = "otlp"
    if choice in ("", "none", "off"):
        return None
    if choice == "console":
        return ConsoleSpanExporter()
    if choice == "otlp":
        try:
            module = importlib.import_module(
                "opentelemetry.exporter.otlp.proto.http.trace_exporter"
            )
        except ImportError as exc:
            raise ConfigError(
                "NEXUS_OTEL_EXPORTER=otlp needs the OTLP exporter: "
                "pip install opentelemetry-exporter-otlp-proto-http"
            ) from exc
        exporter: SpanExporter = module.OTLPSpanExporter()
        return exporter
    raise ConfigError(
        f"unknown trace exporter '{choice}' (NEXUS_OTEL_EXPORTER): use console, otlp or none"
    )


def tracer_provider_from_env(
    environ: Mapping[str, str] | None = None, *, service_name: str = "nexus"
) -> TracerProvider | None:
    """A private tracer provider with the configured exporter, or None when tracing is off.

    The provider is not installed globally: the API server owns it and shuts it down."""
    exporter = exporter_from_env(environ)
    if exporter is None:
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider
