"""Usage analytics (O1): tokens, cost, duration and success per step, aggregated by
hour / day / week and by tenant, agent or model.

The source is the step journal: every finished ``agent`` or ``tool`` step is one
:class:`UsageRecord` (``meta.usage``, ``meta.cost_usd``, ``meta.model`` written by
the agent handler; duration and status from the record). A step's meta only
describes its last attempt, so for a step that was retried or failed the tokens
and cost are summed from its ``usage.recorded`` events instead, which cover every
model call of every attempt. Groups, gates and transforms are not counted (their
time is their children's).

Times are UTC; a week starts on Monday. Runs are scanned newest first and the
scan stops at runs created more than :data:`LOOKBACK_S` before ``since``; at most
``max_runs`` runs are read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from nexus.domain.runs import RunRecord, StepRecord, StepStatus
from nexus.store.base import RunStore

__all__ = [
    "GROUPINGS",
    "LOOKBACK_S",
    "PERIODS",
    "UsageData",
    "UsageRecord",
    "aggregate",
    "bucket_start",
    "collect_usage",
    "records_of_run",
    "summarize",
]

Period = Literal["hour", "day", "week"]
Grouping = Literal["agent", "model", "tenant", "none"]
PERIODS: tuple[Period, ...] = ("hour", "day", "week")
GROUPINGS: tuple[Grouping, ...] = ("agent", "model", "tenant", "none")
LOOKBACK_S = 86_400.0
_COUNTED_KINDS = frozenset({"agent", "tool"})
_FINISHED = frozenset({StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.CANCELLED})
_PAGE = 200


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """The usage of one finished step."""

    ts: float
    tenant_id: str
    run_id: str
    step_key: str
    agent: str
    model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cost_usd: float
    duration_s: float
    success: bool

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_read_tokens


@dataclass(slots=True)
class UsageData:
    """What :func:`collect_usage` found: step records and the runs they belong to."""

    records: list[UsageRecord] = field(default_factory=list)
    runs: list[RunRecord] = field(default_factory=list)
    truncated: bool = False


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) else 0


def _actor(step: StepRecord) -> str:
    if step.kind == "agent":
        return str(step.meta.get("agent") or step.meta.get("name") or "unknown")
    return f"tool:{step.meta.get('name') or 'unknown'}"


def _from_events(events: Iterable[Any]) -> dict[str, dict[str, float]]:
    sums: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for ev in events:
        if ev.type != "usage.recorded" or not ev.step_key:
            continue
        entry = sums[ev.step_key]
        for name in ("input_tokens", "output_tokens", "cache_read_tokens", "cost_usd"):
            value = ev.data.get(name)
            if isinstance(value, (int, float)):
                entry[name] += value
    return sums


def records_of_run(
    run: RunRecord, steps: Sequence[StepRecord], events: Iterable[Any] = ()
) -> list[UsageRecord]:
    """One record per finished agent or tool step of ``run``; ``events`` (the run's
    ``usage.recorded`` events) give the usage of retried and failed steps."""
    from_events = _from_events(events)
    records = []
    for step in steps:
        if step.kind not in _COUNTED_KINDS or step.status not in _FINISHED:
            continue
        usage = step.meta.get("usage") if isinstance(step.meta.get("usage"), dict) else {}
        assert isinstance(usage, dict)
        figures: dict[str, float] = {
            "input_tokens": _int(usage.get("input_tokens")),
            "output_tokens": _int(usage.get("output_tokens")),
            "cache_read_tokens": _int(usage.get("cache_read_tokens")),
            "cost_usd": float(step.meta.get("cost_usd") or usage.get("cost_usd") or 0.0),
        }
        if step.step_key in from_events and (
            step.attempt > 1 or step.status != StepStatus.SUCCEEDED
        ):
            figures = dict(from_events[step.step_key])
        ts = step.finished_at or step.started_at or run.updated_at
        records.append(
            UsageRecord(
                ts=ts,
                tenant_id=run.tenant_id,
                run_id=run.run_id,
                step_key=step.step_key,
                agent=_actor(step),
                model=str(step.meta.get("model") or ("none" if step.kind == "tool" else "unknown")),
                input_tokens=int(figures.get("input_tokens", 0)),
                output_tokens=int(figures.get("output_tokens", 0)),
                cache_read_tokens=int(figures.get("cache_read_tokens", 0)),
                cost_usd=round(float(figures.get("cost_usd", 0.0)), 10),
                duration_s=max(step.duration or 0.0, 0.0),
                success=step.status == StepStatus.SUCCEEDED,
            )
        )
    return records


async def _usage_events(store: RunStore, run_id: str) -> list[Any]:
    events: list[Any] = []
    after = 0
    while True:
        batch = await store.read_events(run_id, after_seq=after, limit=1000)
        if not batch:
            return events
        events.extend(e for e in batch if e.type == "usage.recorded")
        after = batch[-1].seq


async def collect_usage(
    store: RunStore,
    *,
    tenant_id: str | None = None,
    since: float | None = None,
    until: float | None = None,
    max_runs: int = 2000,
) -> UsageData:
    """Read the usage records of steps that finished in ``[since, until)``."""
    data = UsageData()
    offset = 0
    scanned = 0
    while True:
        page = await store.list_runs(tenant_id=tenant_id, limit=_PAGE, offset=offset)
        if not page:
            break
        offset += len(page)
        stop = False
        for run in page:
            if since is not None and run.created_at < since - LOOKBACK_S:
                stop = True
                break
            if until is not None and run.created_at >= until:
                continue
            scanned += 1
            if scanned > max_runs:
                data.truncated = True
                stop = True
                break
            steps = await store.get_steps(run.run_id)
            needs_events = any(
                s.kind == "agent" and (s.attempt > 1 or s.status != StepStatus.SUCCEEDED)
                for s in steps
            )
            events = await _usage_events(store, run.run_id) if needs_events else []
            kept = [
                r
                for r in records_of_run(run, steps, events)
                if (since is None or r.ts >= since) and (until is None or r.ts < until)
            ]
            data.records.extend(kept)
            if since is None or run.created_at >= since or kept:
                data.runs.append(run)
        if stop or len(page) < _PAGE:
            break
    return data


def bucket_start(ts: float, period: Period) -> datetime:
    """The start (UTC) of the hour, day or week (Monday) that ``ts`` falls in."""
    moment = datetime.fromtimestamp(ts, UTC)
    if period == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day
    return day - timedelta(days=day.weekday())


def _key(record: UsageRecord, by: Grouping) -> str:
    if by == "agent":
        return record.agent
    if by == "model":
        return record.model
    if by == "tenant":
        return record.tenant_id
    return "all"


def _totals(records: Sequence[UsageRecord]) -> dict[str, Any]:
    steps = len(records)
    successes = sum(1 for r in records if r.success)
    return {
        "steps": steps,
        "successes": successes,
        "failures": steps - successes,
        "success_rate": round(successes / steps, 6) if steps else None,
        "input_tokens": sum(r.input_tokens for r in records),
        "output_tokens": sum(r.output_tokens for r in records),
        "cache_read_tokens": sum(r.cache_read_tokens for r in records),
        "total_tokens": sum(r.total_tokens for r in records),
        "cost_usd": round(sum(r.cost_usd for r in records), 8),
        "duration_s": round(sum(r.duration_s for r in records), 6),
    }


def aggregate(
    records: Iterable[UsageRecord], *, period: Period = "day", by: Grouping = "agent"
) -> list[dict[str, Any]]:
    """Rows ``{bucket, key, steps, successes, failures, success_rate, *_tokens, cost_usd,
    duration_s}``, sorted by bucket then key."""
    groups: dict[tuple[datetime, str], list[UsageRecord]] = defaultdict(list)
    for record in records:
        groups[(bucket_start(record.ts, period), _key(record, by))].append(record)
    rows = []
    for (bucket, key), members in sorted(groups.items()):
        rows.append({"bucket": bucket.isoformat(), "key": key, **_totals(members)})
    return rows


def summarize(data: UsageData) -> dict[str, Any]:
    """Totals, per agent, per model and per tenant, and the runs' outcomes."""
    by_status: dict[str, int] = defaultdict(int)
    durations = []
    for run in data.runs:
        by_status[run.status.value] += 1
        if run.finished_at is not None:
            durations.append(run.finished_at - run.created_at)
    finished = sum(by_status.get(s, 0) for s in ("succeeded", "failed", "cancelled"))
    out: dict[str, Any] = {
        "totals": _totals(data.records),
        "runs": {
            "total": len(data.runs),
            "by_status": dict(sorted(by_status.items())),
            "success_rate": round(by_status.get("succeeded", 0) / finished, 6)
            if finished
            else None,
            "mean_duration_s": round(sum(durations) / len(durations), 6) if durations else None,
        },
        "truncated": data.truncated,
    }
    for by in ("agent", "model", "tenant"):
        groups: dict[str, list[UsageRecord]] = defaultdict(list)
        for record in data.records:
            groups[_key(record, by)].append(record)
        out[f"by_{by}"] = {k: _totals(v) for k, v in sorted(groups.items())}
    return out
