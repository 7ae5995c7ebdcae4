"""Runs (I2): list, create, read one, its steps, its events and its artifacts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from nexus.api.artifacts import ArtifactsOut, collect_artifacts
from nexus.api.deps import Executor, Nx, Operator, Viewer, load_run
from nexus.api.errors import COMMON_RESPONSES
from nexus.api.run_service import detail_of, request_plan, start_run_for
from nexus.api.schemas import EventOut, EventPage, RunCreate, RunDetail, RunOut, RunPage, StepOut
from nexus.domain.runs import RunRecord, RunStatus

__all__ = ["router"]

router = APIRouter(prefix="/api/runs", tags=["runs"], responses=COMMON_RESPONSES)

_SCAN_PAGE = 200
_SCAN_LIMIT = 20_000


@router.get("", response_model=RunPage, summary="List runs, newest first")
async def list_runs(
    nx: Nx,
    principal: Viewer,
    status_: Annotated[RunStatus | None, Query(alias="status")] = None,
    plan: Annotated[str | None, Query(max_length=200, description="Plan name")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> RunPage:
    tenant = None if principal.all_tenants else principal.tenant_id
    if plan is None:
        runs = await nx.store.list_runs(
            status=status_, tenant_id=tenant, limit=limit + 1, offset=offset
        )
    else:  # the store filters by status and tenant; the plan name is matched here
        runs = await _scan_by_plan(nx, plan, status_, tenant, offset + limit + 1)
        runs = runs[offset:]
    more = len(runs) > limit
    return RunPage(
        items=[RunOut.of(r) for r in runs[:limit]],
        limit=limit,
        offset=offset,
        next_offset=offset + limit if more else None,
    )


async def _scan_by_plan(
    nx: Nx, plan: str, status_: RunStatus | None, tenant: str | None, wanted: int
) -> list[RunRecord]:
    found: list[RunRecord] = []
    scanned = 0
    while len(found) < wanted and scanned < _SCAN_LIMIT:
        page = await nx.store.list_runs(
            status=status_, tenant_id=tenant, limit=_SCAN_PAGE, offset=scanned
        )
        scanned += len(page)
        found.extend(r for r in page if r.plan_name == plan)
        if len(page) < _SCAN_PAGE:
            break
    return found[:wanted]


@router.post(
    "",
    response_model=RunOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a run and start executing it",
)
async def create_run(body: RunCreate, nx: Nx, executor: Executor, principal: Operator) -> RunOut:
    plan = request_plan(nx, principal, body.plan, body.plan_name)
    inputs = dict(body.inputs)
    if body.task is not None:
        inputs["task"] = body.task
    run = await start_run_for(nx, executor, principal, plan, inputs, body.workspace)
    return RunOut.of(run)


@router.get("/{run_id}", response_model=RunDetail, summary="A run with its plan and progress")
async def get_run(run_id: str, nx: Nx, principal: Viewer) -> RunDetail:
    run = await load_run(nx, principal, run_id)
    return detail_of(run, await nx.store.get_steps(run_id))


@router.get("/{run_id}/steps", response_model=list[StepOut], summary="The run's step journal")
async def get_steps(run_id: str, nx: Nx, principal: Viewer) -> list[StepOut]:
    await load_run(nx, principal, run_id)
    return [StepOut.of(s) for s in await nx.store.get_steps(run_id)]


@router.get("/{run_id}/events", response_model=EventPage, summary="The run's stored events")
async def get_events(
    run_id: str,
    nx: Nx,
    principal: Viewer,
    after_seq: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> EventPage:
    await load_run(nx, principal, run_id)
    events = await nx.store.read_events(run_id, after_seq=after_seq, limit=limit + 1)
    page = events[:limit]
    return EventPage(
        events=[EventOut.of(e) for e in page],
        next_after_seq=page[-1].seq if page else after_seq,
        has_more=len(events) > limit,
    )


@router.get(
    "/{run_id}/artifacts",
    response_model=ArtifactsOut,
    summary="Scratchpads and the workspace diff of every committed step",
)
async def get_artifacts(run_id: str, nx: Nx, principal: Viewer) -> ArtifactsOut:
    run = await load_run(nx, principal, run_id)
    return await collect_artifacts(run, await nx.store.get_steps(run_id))
