"""The engine's control flow: retries, timeouts, cancellation, parallelism, loops, branches."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from nexus.domain.runs import RunStatus, StepStatus
from nexus.engine.plan_loader import parse_plan

from .conftest import EngineKit


def _steps(kit: EngineKit, run_id: str) -> Any:
    async def get() -> dict[str, Any]:
        return {s.step_key: s for s in await kit.engine.store.get_steps(run_id)}

    return get()


async def test_sequence_of_steps_passes_outputs_along(kit: EngineKit) -> None:
    run = await kit.run(
        {
            "name": "chain",
            "inputs": {"who": {"type": "string", "default": "world"}},
            "steps": {
                "a": {"tool": "count", "with": {"value": "${{ inputs.who }}"}},
                "b": {
                    "needs": ["a"],
                    "transform": {"greeting": "hello ${{ steps.a.output.value }}"},
                },
            },
        }
    )
    assert run.status == RunStatus.SUCCEEDED
    assert run.output["b"] == {"greeting": "hello world"}
    assert kit.types() == [
        "run.created",
        "run.started",
        "step.started",
        "step.succeeded",
        "step.succeeded",
        "run.succeeded",
    ]
    seqs = [e.seq for e in kit.events]
    assert seqs == list(range(1, len(seqs) + 1))
    assert {e.correlation_id for e in kit.events} == {run.correlation_id}


async def test_retry_with_backoff_then_success(kit: EngineKit) -> None:
    plan = {
        "name": "retry",
        "steps": {
            "flaky": {
                "tool": "count",
                "with": {"fail_times": 2},
                "retry": {"max_attempts": 3, "backoff": 0.05, "multiplier": 2, "jitter": 0.5},
            }
        },
    }
    t0 = time.monotonic()
    run = await kit.run(plan)
    elapsed = time.monotonic() - t0
    assert run.status == RunStatus.SUCCEEDED
    assert kit.probe.calls["flaky"] == 3
    assert kit.types("flaky") == [
        "step.started",
        "step.retrying",
        "step.started",
        "step.retrying",
        "step.started",
        "step.succeeded",
    ]
    delays = [e.data["delay_s"] for e in kit.events if e.type == "step.retrying"]
    assert 0.025 <= delays[0] <= 0.075  # 0.05 ± 50 %
    assert 0.05 <= delays[1] <= 0.15  # 0.1 ± 50 %
    assert elapsed >= sum(delays) * 0.9
    steps = await _steps(kit, run.run_id)
    assert steps["flaky"].attempt == 3
    assert steps["flaky"].output == {"value": None, "attempt": 3}


async def test_retry_exhausted_fails_the_run(kit: EngineKit) -> None:
    plan = {
        "name": "retry",
        "steps": {
            "flaky": {
                "tool": "count",
                "with": {"fail_times": 5},
                "retry": {"max_attempts": 2, "backoff": 0.01},
            },
            "after": {"needs": ["flaky"], "tool": "count"},
        },
    }
    run = await kit.run(plan)
    assert run.status == RunStatus.FAILED
    assert run.error is not None and run.error["step"] == "flaky"
    assert "planned failure 2" in run.error["message"]
    assert kit.probe.calls == {"flaky": 2}
    assert kit.types()[-1] == "run.failed"


async def test_timeout_fails_the_step(kit: EngineKit) -> None:
    plan = {
        "name": "slow",
        "steps": {"slow": {"tool": "count", "with": {"sleep": 10}, "timeout": 0.2}},
    }
    t0 = time.monotonic()
    run = await kit.run(plan)
    assert time.monotonic() - t0 < 5
    assert run.status == RunStatus.FAILED
    assert run.error is not None and run.error["code"] == "timeout"
    assert "timed out after 0.2s" in run.error["message"]
    assert kit.probe.cancelled == ["slow"]


async def test_cancel_reaches_the_running_step(kit: EngineKit) -> None:
    plan = parse_plan(
        {
            "name": "long",
            "steps": {
                "long": {"tool": "count", "with": {"sleep": 30}},
                "never": {"needs": ["long"], "tool": "count"},
            },
        }
    )
    run = await kit.engine.create_run(plan, {})
    task = asyncio.create_task(kit.engine.execute(run.run_id))
    await asyncio.wait_for(kit.probe.started.wait(), 5)
    cancelled = await kit.engine.cancel(run.run_id)
    result = await asyncio.wait_for(task, 5)
    assert cancelled.status == RunStatus.CANCELLED
    assert result.status == RunStatus.CANCELLED
    assert kit.probe.cancelled == ["long"]
    steps = await _steps(kit, run.run_id)
    assert steps["long"].status == StepStatus.CANCELLED
    assert "never" not in steps
    assert kit.types()[-1] == "run.cancelled"


async def test_parallel_group_respects_its_concurrency_limit(kit: EngineKit) -> None:
    children = {f"w{i}": {"tool": "count", "with": {"sleep": 0.1, "value": i}} for i in range(6)}
    plan = {
        "name": "fan",
        "steps": {
            "fan": {"parallel": {"steps": children, "max_concurrency": 2}},
            "merge": {"needs": ["fan"], "transform": {"n": "${{ steps.fan.output | length }}"}},
        },
    }
    t0 = time.monotonic()
    run = await kit.run(plan)
    elapsed = time.monotonic() - t0
    assert run.status == RunStatus.SUCCEEDED
    assert kit.probe.max_running == 2
    assert elapsed >= 0.3 * 0.9  # 6 steps, 2 at a time, 0.1 s each
    assert run.output["merge"] == {"n": 6}
    assert run.output["fan"]["w3"] == {"value": 3, "attempt": 1}


async def test_independent_steps_run_in_parallel(kit: EngineKit) -> None:
    plan = {
        "name": "par",
        "steps": {f"s{i}": {"tool": "count", "with": {"sleep": 0.2}} for i in range(4)},
    }
    run = await kit.run(plan)
    assert run.status == RunStatus.SUCCEEDED
    assert kit.probe.max_running == 4


async def test_loop_stops_at_max_count(kit: EngineKit) -> None:
    plan = {
        "name": "loop",
        "steps": {
            "retry": {
                "loop": {
                    "max": 3,
                    "until": "${{ steps.attempt.output.value == 'never' }}",
                    "steps": {
                        "attempt": {"tool": "count", "with": {"value": "${{ loop.iteration }}"}}
                    },
                }
            }
        },
    }
    run = await kit.run(plan)
    assert run.status == RunStatus.SUCCEEDED
    assert sorted(kit.probe.calls) == ["retry[1]/attempt", "retry[2]/attempt", "retry[3]/attempt"]
    assert run.output["retry"]["iterations"] == 3
    assert run.output["retry"]["until_met"] is False
    assert run.output["retry"]["value"] == 3


async def test_loop_stops_when_until_holds(kit: EngineKit) -> None:
    plan = {
        "name": "loop",
        "steps": {
            "retry": {
                "loop": {
                    "max": 5,
                    "until": "${{ steps.attempt.output.value >= 2 }}",
                    "steps": {
                        "attempt": {"tool": "count", "with": {"value": "${{ loop.iteration }}"}}
                    },
                }
            }
        },
    }
    run = await kit.run(plan)
    assert run.output["retry"]["iterations"] == 2
    assert run.output["retry"]["until_met"] is True


async def test_condition_skips_the_branch_not_taken(kit: EngineKit) -> None:
    plan = {
        "name": "branch",
        "inputs": {"mode": {"type": "string", "default": "fast"}},
        "steps": {
            "pick": {
                "condition": "${{ inputs.mode == 'fast' }}",
                "then": ["quick"],
                "else": ["thorough"],
            },
            "quick": {"tool": "count", "with": {"value": "q"}},
            "thorough": {"tool": "count", "with": {"value": "t"}},
            "after_thorough": {"needs": ["thorough"], "tool": "count"},
            "join": {
                "needs": ["quick", "thorough"],
                "transform": {"got": "${{ steps.quick.output.value }}"},
            },
        },
    }
    run = await kit.run(plan)
    assert run.status == RunStatus.SUCCEEDED
    steps = await _steps(kit, run.run_id)
    assert steps["pick"].output == {"value": True, "branch": "then"}
    assert steps["thorough"].status == StepStatus.SKIPPED
    assert steps["after_thorough"].status == StepStatus.SKIPPED
    assert steps["join"].output == {"got": "q"}
    assert set(kit.probe.calls) == {"quick"}
    skipped = [e for e in kit.events if e.type == "step.skipped"]
    assert [e.step_key for e in skipped] == ["thorough", "after_thorough"]
    assert "other branch" in skipped[0].data["reason"]


async def test_if_false_skips_a_step(kit: EngineKit) -> None:
    plan = {
        "name": "if",
        "steps": {
            "a": {"tool": "count", "with": {"value": 0}},
            "b": {"needs": ["a"], "if": "${{ steps.a.output.value > 0 }}", "tool": "count"},
        },
    }
    run = await kit.run(plan)
    steps = await _steps(kit, run.run_id)
    assert run.status == RunStatus.SUCCEEDED
    assert steps["b"].status == StepStatus.SKIPPED


async def test_gate_failure_fails_the_run_with_the_rule_message(kit: EngineKit) -> None:
    plan = {
        "name": "gate",
        "steps": {
            "a": {"tool": "count", "with": {"value": 3}},
            "check": {
                "needs": ["a"],
                "gate": [
                    {"check": "${{ steps.a.output.value < 2 }}", "message": "value must be below 2"}
                ],
            },
        },
    }
    run = await kit.run(plan)
    assert run.status == RunStatus.FAILED
    assert run.error is not None and run.error["code"] == "gate_failed"
    assert "value must be below 2" in run.error["message"]


async def test_sequence_group_runs_children_in_order(kit: EngineKit) -> None:
    plan = {
        "name": "seq",
        "steps": {
            "s": {
                "sequence": {
                    "steps": {
                        "one": {"tool": "count", "with": {"sleep": 0.05}},
                        "two": {"tool": "count", "with": {"sleep": 0.05}},
                        "three": {"tool": "count"},
                    }
                }
            }
        },
    }
    run = await kit.run(plan)
    assert run.status == RunStatus.SUCCEEDED
    assert kit.probe.max_running == 1
    started = [e.step_key for e in kit.events if e.type == "step.started" and e.step_key != "s"]
    assert started == ["s/one", "s/two", "s/three"]
