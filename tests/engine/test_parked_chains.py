"""A run parked on a human step parks every step downstream of it, however long the chain."""

from __future__ import annotations

from nexus.domain.runs import RunStatus, StepStatus
from nexus.engine.plan_loader import parse_plan
from nexus.runtime import Nexus
from nexus.settings import Settings

PLAN = {
    "name": "chain-after-question",
    "steps": {
        "ask": {"human": "Go on?"},
        "one": {"needs": ["ask"], "tool": "echo", "with": {"n": 1}},
        "two": {"needs": ["one"], "tool": "echo", "with": {"n": 2}},
        "three": {"needs": ["two"], "tool": "echo", "with": {"n": 3}},
        "aside": {"tool": "echo", "with": {"n": 0}},
    },
}


async def test_a_chain_after_a_question_waits_then_runs() -> None:
    async with await Nexus.open(Settings(database_url="memory://")) as nx:
        run = await nx.start_run(parse_plan(PLAN), {})
        run = await nx.execute(run.run_id)
        assert run.status == RunStatus.WAITING_INPUT
        steps = {s.step_key: s.status for s in await nx.get_steps(run.run_id)}
        assert steps == {"ask": StepStatus.WAITING_INPUT, "aside": StepStatus.SUCCEEDED}
        await nx.answer(run.run_id, "ask", "yes")
        run = await nx.execute(run.run_id)
        assert run.status == RunStatus.SUCCEEDED
        assert run.output["three"] == {"n": 3}
