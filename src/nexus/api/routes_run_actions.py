"""Steering runs (I2): cancel, resume, answer a human step, checkpoint, restore, fork.

Every action that leaves a run to execute (resume, answer, restore, fork) hands it
to the executor: it runs here at once if this server has a free slot, else the
claim loop of any server sharing the store picks it up.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Body, status

from nexus.api.deps import Executor, Nx, Operator, Viewer, load_run
from nexus.api.errors import COMMON_RESPONSES
from nexus.api.schemas import AnswerIn, CheckpointIn, CheckpointOut, ForkIn, RunOut
from nexus.domain.runs import Checkpoint, RunStatus, StepStatus
from nexus.errors import InvalidStateError, NotFoundError
from nexus.runtime import Nexus

__all__ = ["router"]

router = APIRouter(tags=["runs"], responses=COMMON_RESPONSES)

_PARKING_WAIT_S = 5.0


def _checkpoint_out(cp: Checkpoint) -> CheckpointOut:
    return CheckpointOut(
        checkpoint_id=cp.checkpoint_id,
        run_id=cp.run_id,
        created_at=cp.created_at,
        label=cp.label,
        workspace_commit=cp.state.get("workspace_commit"),
        steps=len(cp.state.get("steps", [])),
    )


@router.post("/api/runs/{run_id}/cancel", response_model=RunOut, summary="Cancel a run")
async def cancel_run(run_id: str, nx: Nx, principal: Operator) -> RunOut:
    await load_run(nx, principal, run_id)
    return RunOut.of(await nx.cancel(run_id))


@router.post(
    "/api/runs/{run_id}/resume",
    response_model=RunOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Continue an interrupted run",
)
async def resume_run(run_id: str, nx: Nx, executor: Executor, principal: Operator) -> RunOut:
    run = await load_run(nx, principal, run_id)
    if run.status.finished:
        raise InvalidStateError(
            f"run '{run_id}' already {run.status.value}; fork it to run parts again"
        )
    await executor.take(run_id)
    return RunOut.of(await nx.get_run(run_id))


@router.post(
    "/api/runs/{run_id}/answers",
    response_model=RunOut,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Answer a step that waits for a human; the run continues",
)
async def answer_step(
    run_id: str, body: AnswerIn, nx: Nx, executor: Executor, principal: Operator
) -> RunOut:
    await load_run(nx, principal, run_id)
    await _answer(nx, run_id, body.step, body.value)
    steps = await nx.store.get_steps(run_id)
    if not any(s.status.value == "waiting_input" for s in steps):
        await executor.take(run_id)
    return RunOut.of(await nx.get_run(run_id))


async def _answer(nx: Nexus, run_id: str, step: str, value: Any) -> None:
    """Record the answer. The engine announces a parked run (``run.waiting_input``) just
    before it stores the new status; an answer sent in that moment waits for it."""
    deadline = time.monotonic() + _PARKING_WAIT_S
    while True:
        try:
            await nx.answer(run_id, step, value)
            return
        except InvalidStateError:
            run = await nx.get_run(run_id)
            if run.status != RunStatus.RUNNING or time.monotonic() > deadline:
                raise
            steps = await nx.store.get_steps(run_id)
            if not any(s.step_key == step and s.status == StepStatus.WAITING_INPUT for s in steps):
                raise
            await asyncio.sleep(0.02)


@router.post(
    "/api/runs/{run_id}/checkpoints",
    response_model=CheckpointOut,
    status_code=status.HTTP_201_CREATED,
    summary="Snapshot a run: finished steps, sessions and the workspace commit",
)
async def create_checkpoint(
    run_id: str,
    nx: Nx,
    principal: Operator,
    body: CheckpointIn | None = Body(None),
) -> CheckpointOut:
    await load_run(nx, principal, run_id)
    cp = await nx.checkpoint(run_id, body.label if body is not None else None)
    return _checkpoint_out(cp)


@router.get(
    "/api/runs/{run_id}/checkpoints",
    response_model=list[CheckpointOut],
    summary="The run's checkpoints, oldest first",
)
async def list_checkpoints(run_id: str, nx: Nx, principal: Viewer) -> list[CheckpointOut]:
    await load_run(nx, principal, run_id)
    return [_checkpoint_out(cp) for cp in await nx.store.list_checkpoints(run_id)]


@router.post(
    "/api/checkpoints/{checkpoint_id}/restore",
    response_model=RunOut,
    status_code=status.HTTP_201_CREATED,
    summary="A new run in the state of the checkpoint, executed from there",
)
async def restore_checkpoint(
    checkpoint_id: str, nx: Nx, executor: Executor, principal: Operator
) -> RunOut:
    try:
        cp = await nx.store.get_checkpoint(checkpoint_id)
        await load_run(nx, principal, cp.run_id)
    except NotFoundError:
        raise NotFoundError(
            f"no checkpoint with id '{checkpoint_id}'", checkpoint_id=checkpoint_id
        ) from None
    run = await nx.restore(checkpoint_id)
    await executor.offer(run.run_id)
    return RunOut.of(run)


@router.post(
    "/api/runs/{run_id}/forks",
    response_model=RunOut,
    status_code=status.HTTP_201_CREATED,
    summary="A child run that re-runs from_step and what depends on it",
)
async def fork_run(
    run_id: str, body: ForkIn, nx: Nx, executor: Executor, principal: Operator
) -> RunOut:
    parent = await load_run(nx, principal, run_id)
    if parent.status in (RunStatus.CREATED, RunStatus.RUNNING) and executor.is_active(run_id):
        raise InvalidStateError(f"run '{run_id}' is executing; fork it once it has stopped")
    child = await nx.fork(run_id, body.from_step, set_inputs=body.set_inputs, replay=body.replay)
    await executor.offer(child.run_id)
    return RunOut.of(child)
