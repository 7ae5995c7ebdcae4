"""Budgets through the real runtime: engine, agent handler, SQLite store, a scripted model
at the provider boundary."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nexus.budgets import Budgets
from nexus.domain.runs import RunStatus, StepStatus
from nexus.engine.plan_loader import parse_plan, parse_plan_text, plan_to_dict
from nexus.errors import PlanError
from nexus.runtime import Nexus
from nexus.testing import ScriptedModel, registry_with, text, tool_call

# offline:replay (the default model) is priced 2.50 / 10.00 USD per million tokens
PRICE_IN, PRICE_OUT = 2.50 / 1e6, 10.00 / 1e6

TIGHT = """\
name: tight
settings:
  budget: {usd: 0.10}
  default_retry: {max_attempts: 3, backoff: 0}
steps:
  implement: {agent: code, prompt: "Write hello.py"}
"""

ONE_STEP = """\
name: one-step
steps:
  analyse: {agent: aria, prompt: "Study the code"}
"""


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


async def test_plan_budget_round_trips_through_the_loader() -> None:
    plan = parse_plan_text(TIGHT)
    assert plan.settings.budget is not None
    assert (plan.settings.budget.usd, plan.settings.budget.tokens) == (0.10, None)
    data = plan_to_dict(plan)
    assert data["settings"]["budget"] == {"usd": 0.10}
    assert parse_plan(data) == plan


async def test_a_run_whose_budget_is_spent_fails_the_step_with_a_clear_message(
    tmp_path: Path,
) -> None:
    model = ScriptedModel(
        [
            tool_call(
                "write_file",
                path="hello.py",
                content="print('hi')\n",
                _usage={"input_tokens": 2000, "output_tokens": 3000},
            ),
            text("Done."),
        ]
    )
    async with await Nexus.open() as nx:
        nx.services.models = registry_with(model, "offline")
        plan = nx.load_plan(write(tmp_path, "plan.yaml", TIGHT))
        run = await nx.start_run(plan, {})
        run = await nx.execute(run.run_id)

        spent = 2000 * PRICE_IN + 3000 * PRICE_OUT  # $0.035
        assert run.status == RunStatus.FAILED
        assert run.error is not None and run.error["code"] == "budget_exceeded"
        message = run.error["message"]
        assert message.startswith(
            f"run '{run.run_id}' budget of $0.1000 would be exceeded: spent $0.0350,"
            " reserved $0.0000 by calls in flight, and this call needs an estimated $0.08"
        )
        assert "(call to offline:replay by agent code in step 'implement'" in message
        assert len(model.requests) == 1  # the second turn was refused before the call
        assert (run.error["scope"], run.error["unit"], run.error["limit"]) == ("run", "usd", 0.10)
        assert run.error["spent"] == pytest.approx(spent)
        assert run.error["needed"] + spent > 0.10

        (step,) = await nx.get_steps(run.run_id)
        assert step.status == StepStatus.FAILED and step.attempt == 1  # not retried
        budgets: Budgets = nx.services.budgets
        assert budgets.run_spent(run.run_id) == pytest.approx(spent)
        alerts = await nx.run_alerts(run.run_id)
        assert [(a["type"], a["step"], a["scope"]) for a in alerts] == [
            ("budget.exceeded", "implement", "run")
        ]
        summary = await nx.run_summary(run.run_id)
        assert summary["alerts"][0]["message"] == message


async def test_a_tenant_daily_budget_survives_a_restart(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEXUS_BUDGET_TENANT_DAY_USD", "0.06")
    plan_file = write(tmp_path, "plan.yaml", ONE_STEP)
    usage = {"input_tokens": 1000, "output_tokens": 2000}
    spent = 1000 * PRICE_IN + 2000 * PRICE_OUT  # $0.0225

    async with await Nexus.open() as nx:
        nx.services.models = registry_with(ScriptedModel([text("Brief.", usage=usage)]), "offline")
        first = await nx.start_run(nx.load_plan(plan_file), {})
        first = await nx.execute(first.run_id)
        assert first.status == RunStatus.SUCCEEDED, first.error

    async with await Nexus.open() as nx:  # a new process: a new ledger on the same home
        model = ScriptedModel([text("Brief.", usage=usage)])
        nx.services.models = registry_with(model, "offline")
        second = await nx.start_run(nx.load_plan(plan_file), {})
        second = await nx.execute(second.run_id)

    assert second.status == RunStatus.FAILED
    assert model.requests == []
    assert second.error is not None
    assert second.error["scope"] == "tenant_day"
    assert second.error["spent"] == pytest.approx(spent)
    assert re.match(
        r"tenant 'default' daily budget \(\d{4}-\d\d-\d\d UTC\) of \$0\.0600 would be exceeded:"
        r" spent \$0\.0225",
        second.error["message"],
    )


async def test_parallel_fan_out_is_capped_when_a_plan_is_validated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    children = {f"w{i}": {"tool": "echo", "with": {"message": "hi"}} for i in range(65)}
    wide = parse_plan(
        {
            "name": "wide",
            "settings": {"max_concurrency": 100},
            "steps": {"fan": {"parallel": {"steps": children, "max_concurrency": 80}}},
        }
    )
    async with await Nexus.open() as nx:
        with pytest.raises(PlanError) as invalid:
            nx.validate(wide)
    problems = [(p.node, p.kind) for p in invalid.value.problems]
    assert problems == [(None, "concurrency"), ("fan", "fan_out"), ("fan", "concurrency")]
    assert "the parallel group has 65 children, above the cap of 64" in str(invalid.value)

    monkeypatch.setenv("NEXUS_MAX_FAN_OUT", "100")
    async with await Nexus.open() as nx:
        nx.validate(wide)
