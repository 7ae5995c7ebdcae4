"""Checkpoints, restores and forks (E6, X2).

A fork copies the parent's journal for every step that is not downstream of the
fork point, so only the fork point and what depends on it run again. The
workspace of the child is a clone of the parent's, reset to the commit the fork
point started from. With ``replay``, agent steps that run again are answered
from the parent's recorded model outputs at zero cost.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nexus.domain.plan import ConditionNode, Plan
from nexus.domain.runs import StepRecord, StepStatus
from nexus.errors import ConfigError, NotFoundError

GIT_TIMEOUT_S = 60.0


def top_level(step_key: str) -> str:
    """``validate[2]/fix`` → ``validate``; ``checks/lint`` → ``checks``."""
    return step_key.split("/", 1)[0].split("[", 1)[0]


def downstream(plan: Plan, key: str) -> set[str]:
    """``key`` and every top-level step that depends on it, directly or not."""
    dependants: dict[str, set[str]] = {k: set() for k in plan.steps}
    for k, node in plan.steps.items():
        for need in node.needs:
            if need in dependants:
                dependants[need].add(k)
        if isinstance(node, ConditionNode):
            for target in (*node.then, *node.else_):
                if target in dependants:
                    dependants[k].add(target)
    seen = {key}
    todo = [key]
    while todo:
        for nxt in dependants.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def steps_to_keep(plan: Plan, steps: list[StepRecord], from_step: str) -> list[StepRecord]:
    """The finished steps of a parent that a fork from ``from_step`` keeps as they are."""
    root = top_level(from_step)
    if root not in plan.steps:
        raise NotFoundError(
            f"no step '{from_step}' in plan '{plan.name}'; steps: {', '.join(plan.steps)}"
        )
    affected = downstream(plan, root)
    return [
        s
        for s in steps
        if top_level(s.step_key) not in affected
        and s.status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED)
    ]


def fork_commit(steps: list[StepRecord], from_step: str) -> str | None:
    """The workspace commit the fork point started from."""
    by_key = {s.step_key: s for s in steps}
    for key in (from_step, top_level(from_step)):
        rec = by_key.get(key)
        if rec is not None and rec.meta.get("head_before"):
            return str(rec.meta["head_before"])
    return None


def copy_step(step: StepRecord, run_id: str) -> StepRecord:
    return dataclasses.replace(step, run_id=run_id, meta=dict(step.meta))


def step_to_dict(step: StepRecord) -> dict[str, Any]:
    data = dataclasses.asdict(step)
    data["status"] = step.status.value
    return data


def step_from_dict(data: Mapping[str, Any]) -> StepRecord:
    fields = dict(data)
    fields["status"] = StepStatus(fields["status"])
    return StepRecord(**fields)


async def _git(*args: str, cwd: Path | None = None) -> str:
    proc = await asyncio.create_subprocess_exec(
        "git", *args, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), GIT_TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        raise ConfigError(f"git {args[0]} timed out after {GIT_TIMEOUT_S:g}s") from None
    if proc.returncode != 0:
        raise ConfigError(f"git {' '.join(args)} failed: {err.decode(errors='replace').strip()}")
    return out.decode()


async def clone_workspace(source: str, target: Path, commit: str | None) -> None:
    """Clone a run's workspace into ``target`` and reset it to ``commit`` (or keep HEAD)."""
    if not Path(source, ".git").exists():
        raise ConfigError(f"workspace '{source}' of the parent run is not a git repository")
    target.parent.mkdir(parents=True, exist_ok=True)
    await _git("clone", "--quiet", "--no-hardlinks", source, str(target))
    if commit:
        await _git("reset", "--quiet", "--hard", commit, cwd=target)
