"""Health, doctor, the executor's state, Prometheus metrics, and plan validation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

import nexus
from nexus.api.deps import Executor, Metrics, Nx, Operator, Viewer
from nexus.api.errors import COMMON_RESPONSES
from nexus.api.run_service import check_plan_access, parse_request_plan, plan_problems
from nexus.api.schemas import PlanProblemOut, PlanValidateIn, PlanValidateOut
from nexus.engine.plan_loader import step_paths
from nexus.errors import PlanError
from nexus.observability.metrics import CONTENT_TYPE

__all__ = ["router"]

router = APIRouter(tags=["system"], responses=COMMON_RESPONSES)

#: doctor checks that must pass unless a check says otherwise (as in ``nexus doctor``)
ESSENTIAL = frozenset({"store", "home", "git"})


class HealthOut(BaseModel):
    status: str = "ok"
    version: str
    store: str = Field(description="The store's backend: sqlite, postgresql or memory.")
    owner: str = Field(description="This server's lease owner name (host:pid:token).")
    executing: int
    workers: int


class DoctorOut(BaseModel):
    ok: bool
    failed: list[str]
    checks: dict[str, Any]


class ExecutorOut(BaseModel):
    owner: str
    workers: int
    claim: bool
    lease_ttl_s: float
    active: list[str] = Field(description="Runs executing in this server now.")
    held: list[str] = Field(description="Runs this server holds for later (queued messages).")


@router.get("/api/health", response_model=HealthOut, summary="Liveness and basic facts")
async def health(nx: Nx, executor: Executor, principal: Viewer) -> HealthOut:
    return HealthOut(
        version=nexus.__version__,
        store=str(getattr(nx.store, "backend", "unknown")),
        owner=executor.owner,
        executing=len(executor.active),
        workers=executor.workers,
    )


@router.get("/api/doctor", response_model=DoctorOut, summary="Checks of store, git, providers")
async def doctor(nx: Nx, principal: Operator) -> DoctorOut:
    checks = await nx.doctor()
    failed = []
    for name, check in checks.items():
        essential = check.get("essential")
        if essential is None:
            essential = name.split(".")[0] in ESSENTIAL
        if essential and not check.get("ok"):
            failed.append(name)
    return DoctorOut(ok=not failed, failed=sorted(failed), checks=checks)


@router.get("/api/system/executor", response_model=ExecutorOut, summary="This server's executor")
async def executor_state(executor: Executor, principal: Viewer) -> ExecutorOut:
    return ExecutorOut(
        owner=executor.owner,
        workers=executor.workers,
        claim=executor.claim,
        lease_ttl_s=executor.lease_ttl_s,
        active=sorted(executor.active),
        held=sorted(executor.held),
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE: {"schema": {"type": "string"}}}}},
    summary="Prometheus metrics of this process",
)
async def metrics(metrics: Metrics, principal: Viewer) -> Response:
    return Response(metrics.render(), media_type=CONTENT_TYPE)


@router.post(
    "/api/plans/validate",
    response_model=PlanValidateOut,
    tags=["plans"],
    summary="Parse and validate a plan; every problem names its step and field",
)
async def validate_plan(body: PlanValidateIn, nx: Nx, principal: Viewer) -> PlanValidateOut:
    try:
        plan = parse_request_plan(body.plan)
        check_plan_access(principal, plan)
        nx.validate(plan)
    except PlanError as exc:
        problems = [PlanProblemOut(**p.to_dict()) for p in plan_problems(exc)]
        name = body.plan.get("name") if isinstance(body.plan, dict) else None
        return PlanValidateOut(
            valid=False, name=name if isinstance(name, str) else None, problems=problems
        )
    return PlanValidateOut(valid=True, name=plan.name, steps=step_paths(plan))
