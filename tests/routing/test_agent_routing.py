"""An agent step on ``router:auto``: the step shows its model and why, and a verified
outcome (the agent's own test run) teaches the router."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from nexus.agents.registry import AgentRegistry
from nexus.cli.render import route_lines
from nexus.domain.messages import ModelRequest, ModelResponse
from nexus.domain.runs import StepRecord, StepStatus
from nexus.engine.summary import step_row
from nexus.handlers.agent import AgentHandler
from nexus.handlers.base import HandlerRegistry, StepContext
from nexus.handlers.builtin import builtin_handlers
from nexus.providers.registry import ModelRegistry
from nexus.routing import Router, RouterProvider
from nexus.services import Services
from nexus.settings import Settings
from nexus.store.memory import MemoryStore
from nexus.testing import FunctionModel, text, tool_call

USAGE = {"input_tokens": 3_000, "output_tokens": 200}


def agent_turns(request: ModelRequest) -> ModelResponse:
    """Run the tests on the first turn, then report."""
    if request.metadata.get("turn") == 1:
        return tool_call("run_tests", _usage=USAGE)
    return text("The tests pass.\nCONFIDENCE: 0.9", usage=USAGE)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=path, check=True, timeout=30)
    (path / "test_ok.py").write_text("def test_ok():\n    assert 1 + 1 == 2\n")
    return path


def services_with(router: Router, model: FunctionModel) -> Services:
    registry = ModelRegistry()
    registry.register("openai", lambda _name: model)
    registry.register("router", lambda name: RouterProvider(registry, name, router=router))
    return Services(
        settings=Settings(),
        store=MemoryStore(),
        handlers=HandlerRegistry([*builtin_handlers(), AgentHandler()]),
        models=registry,
        agents=AgentRegistry.from_team(),
    )


def context(services: Services, workspace: Path, events: list[Any]) -> StepContext:
    return StepContext(
        run_id="run1",
        step_key="implement",
        kind="agent",
        name="agent",
        params={"agent": "code", "prompt": "Implement slugify in slug.py", "model": "router:auto"},
        inputs={"task": "Add a slugify helper"},
        workspace=str(workspace),
        emit=lambda kind, data: events.append((kind, data)),
        services=services,
    )


async def test_routed_step_shows_model_and_reason_and_learns(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.delenv("OLLAMA_BASE_URL", raising=False)
    router = Router()
    model = FunctionModel(agent_turns)
    events: list[Any] = []
    result = await AgentHandler().run(context(services_with(router, model), workspace, events))

    meta = result.meta
    route = meta["route"]
    assert meta["model"] == route["model"] and route["model"].startswith("openai:")
    assert meta["requested_model"] == "router:auto"
    assert meta["route_reason"] == route["reason"]
    # the agent "code" is a developer in quality mode
    assert (route["role"], route["mode"], route["task_type"]) == ("developer", "quality", "code")
    assert [r.model for r in model.requests] == [route["model"]] * 2  # one model for the step
    assert result.output["tests"]["passed"] == 1

    # the verified outcome reached the router, with the step's cost
    [arm] = router.arms("developer")
    assert (arm["model"], arm["n"], arm["successes"]) == (route["model"], 1.0, 1.0)
    assert arm["cost_usd"] == pytest.approx(meta["cost_usd"]) and meta["cost_usd"] > 0

    # the decision is in the run's events too (every model response carries it)
    responded = [data for kind, data in events if kind == "model.responded"]
    assert (
        responded[0]["response"]["provider_meta"]["route"]["decision_id"] == (route["decision_id"])
    )

    # what `nexus runs show` and the run summary read
    record = StepRecord(
        run_id="run1",
        step_key="implement",
        kind="agent",
        status=StepStatus.SUCCEEDED,
        output=result.output,
        meta=meta,
    )
    row = step_row(record)
    assert (row["model"], row["route_reason"]) == (route["model"], route["reason"])
    lines = [line.plain for line in route_lines([record, StepRecord("run1", "lint", "tool")])]
    assert lines[0] == "routing" and len(lines) == 2
    assert lines[1].startswith(f"  implement  {route['model']}: {route['reason'][:100]}")


async def test_unverified_steps_teach_nothing(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    router = Router()
    model = FunctionModel(lambda _r: text("Done.\nCONFIDENCE: 0.9", usage=USAGE))
    result = await AgentHandler().run(context(services_with(router, model), workspace, []))
    assert result.meta["route_reason"]
    assert router.arms() == []


async def test_a_fixed_model_has_no_route(workspace: Path) -> None:
    router = Router()
    model = FunctionModel(lambda _r: text("Done.", usage=USAGE))
    services = services_with(router, model)
    ctx = context(services, workspace, [])
    ctx.params["model"] = "openai:gpt-4.1-mini"
    result = await AgentHandler().run(ctx)
    assert result.meta["model"] == "openai:gpt-4.1-mini"
    assert "route" not in result.meta and "route_reason" not in result.meta
