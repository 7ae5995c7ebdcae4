"""FastAPI dependencies: the facade, the executor, the caller, and tenant-scoped look-ups."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from nexus.api.auth import Principal, require_role
from nexus.api.config import ServerSettings
from nexus.api.executor import RunExecutor
from nexus.domain.runs import RunRecord
from nexus.errors import NotFoundError
from nexus.observability.metrics import NexusMetrics
from nexus.runtime import Nexus

__all__ = ["Admin", "Config", "Executor", "Metrics", "Nx", "Operator", "Viewer", "load_run"]


# The getters are ``async``: FastAPI runs a plain ``def`` dependency in a worker thread.
async def get_nx(conn: HTTPConnection) -> Nexus:
    nx: Nexus = conn.app.state.nx
    return nx


async def get_executor(conn: HTTPConnection) -> RunExecutor:
    executor: RunExecutor = conn.app.state.executor
    return executor


async def get_settings(conn: HTTPConnection) -> ServerSettings:
    settings: ServerSettings = conn.app.state.settings
    return settings


async def get_metrics(conn: HTTPConnection) -> NexusMetrics:
    metrics: NexusMetrics = conn.app.state.metrics
    return metrics


Nx = Annotated[Nexus, Depends(get_nx)]
Executor = Annotated[RunExecutor, Depends(get_executor)]
Metrics = Annotated[NexusMetrics, Depends(get_metrics)]
Config = Annotated[ServerSettings, Depends(get_settings)]
Viewer = Annotated[Principal, Depends(require_role("viewer"))]
Operator = Annotated[Principal, Depends(require_role("operator"))]
Admin = Annotated[Principal, Depends(require_role("admin"))]


async def load_run(nx: Nexus, principal: Principal, run_id: str) -> RunRecord:
    """The run, if it exists and the caller's tenant may see it; else NotFoundError (404)
    — a run of another tenant is indistinguishable from one that does not exist."""
    try:
        run = await nx.get_run(run_id)
    except NotFoundError:
        raise NotFoundError(f"no run with id '{run_id}'", run_id=run_id) from None
    if not principal.can_see(run.tenant_id):
        raise NotFoundError(f"no run with id '{run_id}'", run_id=run_id)
    return run
