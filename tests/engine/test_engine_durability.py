"""Resume after an interruption, human waits across restarts, fork and checkpoint basics."""

from __future__ import annotations

import asyncio

from nexus.domain.runs import RunStatus, StepStatus
from nexus.engine.plan_loader import parse_plan

from .conftest import EngineKit, Probe

HUMAN_PLAN = {
    "name": "approve",
    "steps": {
        "draft": {"tool": "count", "with": {"value": "v1"}},
        "ask": {
            "needs": ["draft"],
            "human": "Ship ${{ steps.draft.output.value }}?",
            "options": ["yes", "no"],
        },
        "ship": {
            "needs": ["ask"],
            "if": "${{ steps.ask.output.answer == 'yes' }}",
            "tool": "count",
        },
    },
}


async def test_human_step_waits_and_survives_a_restart(kit_factory) -> None:  # type: ignore[no-untyped-def]
    probe = Probe()
    first = await kit_factory(probe)
    plan = parse_plan(HUMAN_PLAN)
    run = await first.engine.create_run(plan, {})
    result = await first.engine.execute(run.run_id)
    assert result.status == RunStatus.WAITING_INPUT
    assert first.types()[-2:] == ["step.waiting", "run.waiting_input"]
    waiting = next(e for e in first.events if e.type == "step.waiting")
    assert waiting.data["question"] == "Ship v1?"
    await first.engine.drain()
    await first.engine.store.close()

    second = await kit_factory(probe)  # a new process, in effect
    await second.engine.answer(run.run_id, "ask", "yes")
    done = await second.engine.execute(run.run_id)
    assert done.status == RunStatus.SUCCEEDED
    assert probe.calls == {"draft": 1, "ship": 1}  # draft did not run again
    await second.engine.store.close()


async def test_answer_must_be_one_of_the_options(kit: EngineKit) -> None:
    plan = parse_plan(HUMAN_PLAN)
    run = await kit.engine.create_run(plan, {})
    await kit.engine.execute(run.run_id)
    try:
        await kit.engine.answer(run.run_id, "ask", "maybe")
    except Exception as exc:
        assert "not one of the options" in str(exc)
    else:
        raise AssertionError("a bad answer was accepted")


async def test_resume_after_interruption_skips_succeeded_steps(kit_factory) -> None:  # type: ignore[no-untyped-def]
    probe = Probe()
    first = await kit_factory(probe)
    plan = parse_plan(
        {
            "name": "resume",
            "steps": {
                "a": {"tool": "count", "with": {"value": 1}},
                "b": {"needs": ["a"], "tool": "count", "with": {"sleep_first_call": 30}},
                "c": {"needs": ["b"], "tool": "count"},
            },
        }
    )
    run = await first.engine.create_run(plan, {})
    task = asyncio.create_task(first.engine.execute(run.run_id))
    while probe.calls.get("b") != 1:
        await asyncio.sleep(0.01)
    task.cancel()  # the process goes away mid-step (not a user cancel)
    await asyncio.gather(task, return_exceptions=True)
    stored = await first.engine.store.get_run(run.run_id)
    assert stored.status == RunStatus.RUNNING  # left resumable, not cancelled
    await first.engine.store.release_run(run.run_id, first.engine.owner)
    await first.engine.drain()
    await first.engine.store.close()

    second = await kit_factory(probe)
    done = await second.engine.execute(run.run_id)
    assert done.status == RunStatus.SUCCEEDED
    assert probe.calls == {"a": 1, "b": 2, "c": 1}
    assert "run.resumed" in second.types()
    steps = {s.step_key: s for s in await second.engine.store.get_steps(run.run_id)}
    assert steps["b"].attempt == 2 and steps["b"].status == StepStatus.SUCCEEDED
    await second.engine.store.close()


async def test_sequence_order_survives_storage_with_sorted_keys(kit_factory) -> None:  # type: ignore[no-untyped-def]
    """Stored plans are canonical JSON (sorted keys); a sequence still runs as written."""
    probe = Probe()
    first = await kit_factory(probe)
    plan = parse_plan(
        {
            "name": "ordered",
            "steps": {
                "s": {
                    "sequence": {
                        "steps": {
                            "zeta": {"tool": "count"},
                            "alpha": {"tool": "count"},
                            "mid": {"tool": "count"},
                        }
                    }
                }
            },
        }
    )
    run = await first.engine.create_run(plan, {})
    await first.engine.drain()
    await first.engine.store.close()
    second = await kit_factory(probe)  # parses the plan back from the store
    done = await second.engine.execute(run.run_id)
    assert done.status == RunStatus.SUCCEEDED
    started = [e.step_key for e in second.events if e.type == "step.started" and e.step_key != "s"]
    assert started == ["s/zeta", "s/alpha", "s/mid"]
    await second.engine.store.close()


async def test_cancel_from_another_process_reaches_the_executing_one(kit_factory) -> None:  # type: ignore[no-untyped-def]
    probe = Probe()
    executing = await kit_factory(probe)
    other = await kit_factory(Probe())  # another process on the same store
    plan = parse_plan(
        {
            "name": "long",
            "steps": {
                "long": {"tool": "count", "with": {"sleep": 30}},
                "never": {"needs": ["long"], "tool": "count"},
            },
        }
    )
    run = await executing.engine.create_run(plan, {})
    task = asyncio.create_task(executing.engine.execute(run.run_id))
    await asyncio.wait_for(probe.started.wait(), 5)
    marked = await other.engine.cancel(run.run_id)
    assert marked.status == RunStatus.CANCELLED
    done = await asyncio.wait_for(task, 10)  # the lease timer notices the mark
    assert done.status == RunStatus.CANCELLED
    assert probe.cancelled == ["long"]
    events = await executing.engine.store.read_events(run.run_id)
    seqs = [e.seq for e in events]
    assert seqs == sorted(set(seqs))
    assert [e.type for e in events].count("run.cancelled") == 1
    await executing.engine.drain()
    await executing.engine.store.close()
    await other.engine.store.close()
