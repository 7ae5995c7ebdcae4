"""Usage analytics (O1): tokens, cost, duration and success by period and by tenant,
agent or model (see :mod:`nexus.analytics.usage`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from nexus.analytics.calls import CallLog
from nexus.analytics.usage import UsageData, aggregate, collect_usage, summarize
from nexus.api.deps import Nx, Viewer
from nexus.api.errors import COMMON_RESPONSES
from nexus.errors import UserError

__all__ = ["router"]

router = APIRouter(prefix="/api/usage", tags=["usage"], responses=COMMON_RESPONSES)


class UsageTotals(BaseModel):
    steps: int
    successes: int
    failures: int
    success_rate: float | None
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    total_tokens: int
    cost_usd: float
    duration_s: float


class UsageRow(UsageTotals):
    bucket: str = Field(description="Start of the period (UTC, ISO 8601).")
    key: str = Field(description="The agent, model or tenant ('all' with by=none).")


class UsageReport(BaseModel):
    group_by: Literal["hour", "day", "week"]
    by: Literal["agent", "model", "tenant", "none"]
    since: float | None
    until: float | None
    rows: list[UsageRow]
    truncated: bool = Field(description="True when more runs exist than were read.")


class RunsSummary(BaseModel):
    total: int
    by_status: dict[str, int]
    success_rate: float | None
    mean_duration_s: float | None


class UsageSummary(BaseModel):
    since: float | None
    until: float | None
    totals: UsageTotals
    runs: RunsSummary
    by_agent: dict[str, UsageTotals]
    by_model: dict[str, UsageTotals]
    by_tenant: dict[str, UsageTotals]
    truncated: bool


def _time(value: str | None, name: str) -> float | None:
    """Epoch seconds, or an ISO 8601 date/time (UTC unless it says otherwise)."""
    if value is None or value == "":
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UserError(
            f"query parameter '{name}' must be epoch seconds or an ISO 8601 time",
            field=f"query.{name}",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


async def _usage(
    request: Request, nx: Nx, tenant: str | None, since: float | None, until: float | None
) -> UsageData:
    """Run steps from the store, plus calls through the model gateway (agent ``gateway``)."""
    data = await collect_usage(nx.store, tenant_id=tenant, since=since, until=until)
    calls: CallLog | None = getattr(request.app.state, "call_log", None)
    if calls is not None:
        data.records.extend(await calls.usage_records(tenant_id=tenant, since=since, until=until))
    return data


Since = Annotated[str | None, Query(max_length=40, description="Epoch seconds or ISO 8601")]


@router.get("", response_model=UsageReport, summary="Usage per period and per agent/model/tenant")
async def usage(
    request: Request,
    nx: Nx,
    principal: Viewer,
    group_by: Literal["hour", "day", "week"] = "day",
    by: Literal["agent", "model", "tenant", "none"] = "agent",
    since: Since = None,
    until: Since = None,
) -> UsageReport:
    start, end = _time(since, "since"), _time(until, "until")
    tenant = None if principal.all_tenants else principal.tenant_id
    data = await _usage(request, nx, tenant, start, end)
    rows = aggregate(data.records, period=group_by, by=by)
    return UsageReport(
        group_by=group_by,
        by=by,
        since=start,
        until=end,
        rows=[UsageRow(**row) for row in rows],
        truncated=data.truncated,
    )


@router.get("/summary", response_model=UsageSummary, summary="Usage totals and run outcomes")
async def usage_summary(
    request: Request, nx: Nx, principal: Viewer, since: Since = None, until: Since = None
) -> UsageSummary:
    start, end = _time(since, "since"), _time(until, "until")
    tenant = None if principal.all_tenants else principal.tenant_id
    data = await _usage(request, nx, tenant, start, end)
    return UsageSummary(since=start, until=end, **summarize(data))
