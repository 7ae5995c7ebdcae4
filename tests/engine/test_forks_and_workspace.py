"""E6 forks and checkpoints, E7 workspace commits and rollbacks, through the Nexus facade."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nexus.domain.runs import RunStatus
from nexus.engine.plan_loader import parse_plan
from nexus.runtime import Nexus

from .conftest import CountHandler, Probe

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "slugify"


@pytest.fixture
async def nx() -> AsyncIterator[Nexus]:
    nexus = await Nexus.open()
    yield nexus
    await nexus.close()


def _git_log(path: str) -> list[str]:
    out = subprocess.run(
        ["git", "log", "--format=%s"], cwd=path, capture_output=True, text=True, check=True
    )
    return out.stdout.splitlines()


async def test_fork_with_changed_input_reruns_only_the_step_and_its_dependants(
    nx: Nexus,
) -> None:
    probe = Probe()
    nx.services.handlers.register(CountHandler(probe))
    plan = parse_plan(
        {
            "name": "forkable",
            "inputs": {"x": {"type": "integer", "default": 1}},
            "steps": {
                "a": {"tool": "count", "with": {"value": "a"}},
                "b": {"needs": ["a"], "tool": "count", "with": {"value": "${{ inputs.x }}"}},
                "c": {"needs": ["b"], "transform": {"seen": "${{ steps.b.output.value }}"}},
                "d": {"tool": "count", "with": {"value": "d"}},
            },
        }
    )
    parent = await nx.start_run(plan, {})
    parent = await nx.execute(parent.run_id)
    assert parent.status == RunStatus.SUCCEEDED
    assert parent.output["c"] == {"seen": 1}

    child = await nx.fork(parent.run_id, "b", set_inputs={"x": 2})
    assert child.parent_run_id == parent.run_id and child.forked_from_step == "b"
    child = await nx.execute(child.run_id)
    assert child.status == RunStatus.SUCCEEDED
    assert child.output["c"] == {"seen": 2}
    assert probe.calls == {"a": 1, "b": 2, "d": 1}  # a and d were copied, not re-run

    summary = await nx.run_summary(parent.run_id)
    assert summary["children"] == [child.run_id]
    child_summary = await nx.run_summary(child.run_id)
    assert child_summary["parent_run_id"] == parent.run_id
    assert child_summary["forked_from_step"] == "b"


async def test_checkpoint_restore_continues_from_the_snapshot(nx: Nexus) -> None:
    probe = Probe()
    nx.services.handlers.register(CountHandler(probe))
    plan = parse_plan(
        {
            "name": "cp",
            "steps": {
                "a": {"tool": "count"},
                "ask": {"needs": ["a"], "human": "go?"},
                "b": {"needs": ["ask"], "tool": "count"},
            },
        }
    )
    run = await nx.start_run(plan, {})
    run = await nx.execute(run.run_id)
    assert run.status == RunStatus.WAITING_INPUT
    cp = await nx.checkpoint(run.run_id, label="before answer")
    restored = await nx.restore(cp.checkpoint_id)
    assert restored.parent_run_id == run.run_id
    await nx.execute(restored.run_id)
    await nx.answer(restored.run_id, "ask", "yes")
    done = await nx.execute(restored.run_id)
    assert done.status == RunStatus.SUCCEEDED
    assert probe.calls == {"a": 1, "b": 1}  # `a` came from the checkpoint


async def test_fork_with_replay_reuses_recorded_model_outputs_at_zero_cost(nx: Nexus) -> None:
    plan = nx.load_plan(EXAMPLE / "plan.yaml")
    parent = await nx.start_run(plan, {}, plan_dir=EXAMPLE)
    parent = await nx.execute(parent.run_id)
    assert parent.status == RunStatus.SUCCEEDED
    parent_summary = await nx.run_summary(parent.run_id)
    assert parent_summary["totals"]["cost_usd"] > 0

    # A changed task has no recording: only replay can answer the re-run agent steps.
    child = await nx.fork(
        parent.run_id, "write_tests", set_inputs={"task": "a task nobody recorded"}, replay=True
    )
    child = await nx.execute(child.run_id)
    assert child.status == RunStatus.SUCCEEDED, child.error
    summary = await nx.run_summary(child.run_id)
    rows = {r["key"]: r for r in summary["steps"]}
    rerun = [k for k in rows if k not in ("analyse", "implement")]
    assert "write_tests" in rerun and "validate[2]/test" in rerun
    assert all(rows[k]["cost_usd"] == 0 for k in rerun)
    assert summary["tests"]["failed"] == 0 and summary["tests"]["passed"] > 0
    assert summary["workspace"] != parent_summary["workspace"]


async def test_each_changing_step_is_one_commit_and_a_failed_gate_rolls_back(
    nx: Nexus, tmp_path: Path
) -> None:
    plan = parse_plan(
        {
            "name": "commits",
            "steps": {
                "write_a": {"tool": "shell", "with": {"command": "echo a > a.txt"}},
                "look": {"needs": ["write_a"], "tool": "shell", "with": {"command": "ls"}},
                "write_b": {
                    "needs": ["look"],
                    "tool": "shell",
                    "with": {"command": "echo b > b.txt"},
                },
                "check": {
                    "needs": ["write_b"],
                    "gate": [{"check": "${{ false }}", "message": "b is not wanted"}],
                    "on_fail": "rollback",
                },
            },
        }
    )
    workspace = tmp_path / "ws"
    run = await nx.start_run(plan, {}, workspace=workspace)
    run = await nx.execute(run.run_id)
    assert run.status == RunStatus.FAILED
    assert run.error is not None and "b is not wanted" in run.error["message"]
    assert (workspace / "a.txt").exists()
    assert not (workspace / "b.txt").exists()  # rolled back to before write_b
    log = _git_log(str(workspace))
    assert log[0].startswith("write_a:")  # HEAD is the commit before write_b
    assert not any(s.startswith("look:") for s in log)  # no change, no commit
    events = [e.type for e in await nx.read_events(run.run_id)]
    assert "workspace.rolled_back" in events


async def test_a_failed_step_leaves_no_partial_changes(nx: Nexus, tmp_path: Path) -> None:
    plan = parse_plan(
        {
            "name": "partial",
            "steps": {"half": {"tool": "shell", "with": {"command": "echo x > half.txt; exit 3"}}},
        }
    )
    workspace = tmp_path / "ws"
    run = await nx.execute((await nx.start_run(plan, {}, workspace=workspace)).run_id)
    assert run.status == RunStatus.FAILED
    assert not (workspace / "half.txt").exists()
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=workspace, capture_output=True, text=True
    )
    assert status.stdout == ""
