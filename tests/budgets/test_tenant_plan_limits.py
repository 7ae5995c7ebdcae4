"""A tenant's plan caps its agent steps: daily model spend and agents at work at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nexus.agents.definition import AgentDefinition
from nexus.domain.messages import Message, ModelRequest, ModelResponse, ToolCall, Usage
from nexus.domain.runs import RunStatus
from nexus.engine.plan_loader import parse_plan
from nexus.runtime import Nexus
from nexus.tenancy.limits import use_limits
from nexus.tenancy.models import PlanLimits
from nexus.testing import FunctionModel


class _Limits:
    def __init__(self, limits: PlanLimits) -> None:
        self._limits = limits

    async def limits(self, tenant_id: str) -> PlanLimits:
        return self._limits


def _plan_limits(*, max_agents: int = 10, budget: float = 100.0) -> PlanLimits:
    return PlanLimits(
        max_agents=max_agents,
        requests_per_day=1000,
        budget_usd_per_day=budget,
        rate_per_s=10.0,
        burst=10,
    )


async def _slow_reply(request: ModelRequest) -> ModelResponse:
    await asyncio.sleep(0.3)
    usage = Usage(input_tokens=1000, output_tokens=1000, cost_usd=0.02)
    if request.metadata.get("turn") == 1:
        call = ToolCall(id="t1", name="list_files", arguments={"path": "."})
        return ModelResponse(
            model=request.model,
            message=Message(role="assistant", parts=(call,)),
            stop_reason="tool_use",
            usage=usage,
        )
    return ModelResponse(
        model=request.model,
        message=Message.text("assistant", "done\nCONFIDENCE: 0.9"),
        usage=usage,
    )


@pytest.fixture
async def nx(tmp_path: Path) -> AsyncIterator[Nexus]:
    nexus = await Nexus.open()
    nexus.services.models.register("fn", lambda _m: FunctionModel(_slow_reply))
    nexus.services.agents.register(
        AgentDefinition.model_validate(
            {
                "id": "worker",
                "name": "W",
                "role": "developer",
                "model": "fn:any",
                "tools": ["list_files"],
            }
        )
    )
    yield nexus
    use_limits(None)
    await nexus.close()


async def test_the_tenant_plan_caps_the_daily_budget(nx: Nexus) -> None:
    use_limits(_Limits(_plan_limits(budget=0.0001)))  # type: ignore[arg-type]
    plan = parse_plan({"name": "p", "steps": {"w": {"agent": "worker", "prompt": "go"}}})
    run = await nx.execute((await nx.start_run(plan, {})).run_id)
    assert run.status == RunStatus.FAILED
    assert run.error is not None and run.error["code"] == "budget_exceeded"
    assert "daily budget" in run.error["message"]


async def test_the_tenant_plan_caps_agents_at_work_at_once(nx: Nexus) -> None:
    use_limits(_Limits(_plan_limits(max_agents=1)))  # type: ignore[arg-type]
    plan = parse_plan(
        {
            "name": "p",
            "steps": {
                "a": {"agent": "worker", "prompt": "go"},
                "b": {"agent": "worker", "prompt": "go"},
            },
        }
    )
    run = await nx.execute((await nx.start_run(plan, {})).run_id)
    assert run.status == RunStatus.FAILED
    assert run.error is not None
    assert "the most its plan allows (1)" in run.error["message"]

    use_limits(_Limits(_plan_limits(max_agents=2)))  # type: ignore[arg-type]
    run = await nx.execute((await nx.start_run(plan, {})).run_id)
    assert run.status == RunStatus.SUCCEEDED, run.error
