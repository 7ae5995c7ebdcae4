"""Tasks (seed 001's API): a task is a run, usually of the software team's plan.

``POST /api/tasks/create`` takes ``description`` (or ``task``) and optional
``requirements``; without a ``plan`` the built-in software plan does the work.
The task id is the run id, so every ``/api/runs/{id}`` endpoint works on it too.
"""

from __future__ import annotations

from fastapi import APIRouter, status

from nexus.api.deps import Executor, Nx, Operator, Viewer, load_run
from nexus.api.errors import COMMON_RESPONSES
from nexus.api.run_service import progress_of, questions_of, request_plan, start_run_for
from nexus.api.schemas import TaskCancelled, TaskCreate, TaskCreated, TaskResult, TaskStatus
from nexus.errors import UserError

__all__ = ["router"]

router = APIRouter(prefix="/api/tasks", tags=["tasks"], responses=COMMON_RESPONSES)


@router.post(
    "/create",
    response_model=TaskCreated,
    status_code=status.HTTP_202_ACCEPTED,
    summary="Hand a task to the team (or to a plan); it starts at once",
)
async def create_task(
    body: TaskCreate, nx: Nx, executor: Executor, principal: Operator
) -> TaskCreated:
    text = body.text()
    if body.plan is None and not text:
        raise UserError(
            "a task needs a 'description' (or 'task'), or a 'plan'", field="description"
        )
    plan = request_plan(nx, principal, body.plan, None)
    inputs = dict(body.inputs)
    if text and (body.plan is None or "task" in plan.inputs):
        inputs["task"] = text
    run = await start_run_for(nx, executor, principal, plan, inputs, body.workspace)
    return TaskCreated(task_id=run.run_id, run_id=run.run_id)


@router.get("/{task_id}/status", response_model=TaskStatus, summary="A task's status and progress")
async def task_status(task_id: str, nx: Nx, principal: Viewer) -> TaskStatus:
    run = await load_run(nx, principal, task_id)
    steps = await nx.store.get_steps(task_id)
    done, total, progress = progress_of(run, steps)
    return TaskStatus(
        task_id=task_id,
        status=run.status,
        progress=progress,
        steps_total=total,
        steps_done=done,
        waiting=questions_of(run, steps),
    )


@router.get("/{task_id}/result", response_model=TaskResult, summary="A task's result")
async def task_result(task_id: str, nx: Nx, principal: Viewer) -> TaskResult:
    run = await load_run(nx, principal, task_id)
    summary = await nx.run_summary(task_id)
    return TaskResult(
        task_id=task_id,
        status=run.status,
        finished=run.status.finished,
        result=run.output,
        error=run.error,
        summary=summary,
    )


@router.delete("/{task_id}", response_model=TaskCancelled, summary="Cancel a task")
async def cancel_task(task_id: str, nx: Nx, principal: Operator) -> TaskCancelled:
    await load_run(nx, principal, task_id)
    run = await nx.cancel(task_id)
    return TaskCancelled(task_id=task_id, status=run.status)
