"""Spans from engine events: run → step → model call, with cost, commits and gates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from nexus.domain.messages import Usage
from nexus.engine.plan_loader import parse_plan
from nexus.errors import ConfigError
from nexus.observability.tracing import EventTracer, tracer_provider_from_env
from nexus.runtime import Nexus
from nexus.settings import Settings
from nexus.testing import FunctionModel, text

PLAN = {
    "name": "traced",
    "steps": {
        "think": {"agent": "aria", "prompt": "think"},
        "checks": {
            "needs": ["think"],
            "parallel": {
                "steps": {"lint": {"tool": "shell", "with": {"command": "echo ok > lint.txt"}}}
            },
        },
        "green": {
            "needs": ["checks"],
            "gate": [{"check": "${{ steps.think.status == 'succeeded' }}", "message": "ok"}],
        },
    },
}


@pytest.fixture
async def nx() -> AsyncIterator[Nexus]:
    facade = await Nexus.open(Settings(database_url="memory://", default_model="function:x"))
    model = FunctionModel(
        lambda _r: text("done", usage=Usage(input_tokens=7, output_tokens=3, cost_usd=0.25))
    )
    facade.services.models.register("function", lambda _m: model)
    yield facade
    await facade.close()


async def test_spans_nest_run_step_model_and_carry_cost_and_gates(nx: Nexus) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = EventTracer(provider.get_tracer("test"))
    nx.subscribe(tracer)
    run = await nx.start_run(parse_plan(PLAN), {})
    run = await nx.execute(run.run_id)
    assert run.status.value == "succeeded"
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) >= {"run", "step think", "model function:x", "step checks"}
    assert {"step checks/lint", "step green"} <= set(spans)
    root, think, model = spans["run"], spans["step think"], spans["model function:x"]
    assert root.parent is None
    assert think.parent is not None and think.parent.span_id == root.context.span_id
    assert model.parent is not None and model.parent.span_id == think.context.span_id
    lint = spans["step checks/lint"]
    assert lint.parent is not None and lint.parent.span_id == spans["step checks"].context.span_id
    assert {s.context.trace_id for s in spans.values()} == {root.context.trace_id}

    def attrs(span: Any) -> dict[str, Any]:
        return dict(span.attributes or {})

    for span in spans.values():
        assert attrs(span)["nexus.correlation_id"] == run.correlation_id
    assert attrs(model)["gen_ai.usage.input_tokens"] == 7
    assert attrs(model)["nexus.cost_usd"] == 0.25
    assert attrs(think)["nexus.cost_usd"] == 0.25 and attrs(think)["nexus.status"] == "succeeded"
    assert attrs(root)["nexus.cost_usd"] == 0.25 and attrs(root)["nexus.status"] == "succeeded"
    assert attrs(spans["step green"])["nexus.gate.passed"] is True
    assert len(attrs(lint)["nexus.commit"]) == 40  # the workspace commit the step made


async def test_a_failed_gate_marks_its_span(nx: Nexus) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    nx.subscribe(EventTracer(provider.get_tracer("test")))
    plan = {
        "name": "gated",
        "steps": {
            "a": {"tool": "echo", "with": {"n": 1}},
            "g": {"needs": ["a"], "gate": [{"check": "${{ false }}", "message": "never"}]},
        },
    }
    run = await nx.execute((await nx.start_run(parse_plan(plan), {})).run_id)
    assert run.status.value == "failed"
    spans = {s.name: s for s in exporter.get_finished_spans()}
    gate = dict(spans["step g"].attributes or {})
    assert gate["nexus.gate.passed"] is False and gate["nexus.gate.failures"]
    assert spans["step g"].status.status_code.name == "ERROR"
    assert spans["run"].status.status_code.name == "ERROR"


def test_tracing_is_off_unless_configured() -> None:
    assert tracer_provider_from_env({}) is None
    assert tracer_provider_from_env({"NEXUS_OTEL_EXPORTER": "none"}) is None
    assert tracer_provider_from_env({"NEXUS_OTEL_EXPORTER": "console"}) is not None
    assert tracer_provider_from_env({"OTEL_TRACES_EXPORTER": "console"}) is not None
    off = {"NEXUS_OTEL_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}
    assert tracer_provider_from_env(off) is None
    with pytest.raises(ConfigError, match="unknown trace exporter 'jaeger'"):
        tracer_provider_from_env({"NEXUS_OTEL_EXPORTER": "jaeger"})
