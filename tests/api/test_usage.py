"""Usage analytics (O1): aggregation figures from records, and from real runs over the API."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from nexus.analytics.usage import UsageRecord, aggregate, bucket_start, records_of_run
from nexus.domain.runs import Event, RunRecord, StepRecord, StepStatus
from tests.api.conftest import Api

T0 = datetime(2025, 3, 5, 10, 30, tzinfo=UTC).timestamp()  # a Wednesday


def rec(
    ts: float, agent: str, model: str, tokens: int, cost: float, ok: bool = True
) -> UsageRecord:
    return UsageRecord(
        ts=ts,
        tenant_id="t1" if agent != "beta" else "t2",
        run_id="r",
        step_key=f"{agent}-{ts}",
        agent=agent,
        model=model,
        input_tokens=tokens,
        output_tokens=tokens // 10,
        cache_read_tokens=0,
        cost_usd=cost,
        duration_s=2.0,
        success=ok,
    )


def test_buckets_are_utc_hours_days_and_monday_weeks() -> None:
    assert bucket_start(T0, "hour").isoformat() == "2025-03-05T10:00:00+00:00"
    assert bucket_start(T0, "day").isoformat() == "2025-03-05T00:00:00+00:00"
    assert bucket_start(T0, "week").isoformat() == "2025-03-03T00:00:00+00:00"


def test_aggregate_by_hour_and_agent() -> None:
    records = [
        rec(T0, "code", "m1", 100, 0.25),
        rec(T0 + 600, "code", "m2", 300, 0.5, ok=False),
        rec(T0 + 3600, "code", "m1", 50, 0.125),
        rec(T0 + 60, "beta", "m1", 10, 0.0),
    ]
    rows = aggregate(records, period="hour", by="agent")
    assert [(r["bucket"][11:16], r["key"], r["steps"]) for r in rows] == [
        ("10:00", "beta", 1),
        ("10:00", "code", 2),
        ("11:00", "code", 1),
    ]
    code_10 = rows[1]
    assert code_10["input_tokens"] == 400 and code_10["output_tokens"] == 40
    assert code_10["total_tokens"] == 440 and code_10["cost_usd"] == 0.75
    assert (code_10["successes"], code_10["failures"], code_10["success_rate"]) == (1, 1, 0.5)
    assert code_10["duration_s"] == 4.0
    by_model = aggregate(records, period="week", by="model")
    assert [(r["key"], r["steps"], r["cost_usd"]) for r in by_model] == [
        ("m1", 3, 0.375),
        ("m2", 1, 0.5),
    ]
    by_tenant = aggregate(records, period="day", by="tenant")
    assert [(r["key"], r["steps"]) for r in by_tenant] == [("t1", 3), ("t2", 1)]


def test_retried_steps_count_every_attempt_from_events() -> None:
    run = RunRecord("r1", "p", {}, {}, tenant_id="t")
    step = StepRecord(
        "r1",
        "implement",
        "agent",
        StepStatus.SUCCEEDED,
        attempt=2,
        started_at=T0,
        finished_at=T0 + 5,
        meta={
            "agent": "code",
            "model": "m",
            "usage": {"input_tokens": 10, "output_tokens": 1},
            "cost_usd": 0.1,
        },
    )
    events = [
        Event("r1", 5, "usage.recorded", {"input_tokens": 30, "cost_usd": 0.3}, "c", "implement"),
        Event("r1", 9, "usage.recorded", {"input_tokens": 10, "cost_usd": 0.1}, "c", "implement"),
    ]
    [record] = records_of_run(run, [step], events)
    assert (record.input_tokens, record.cost_usd, record.duration_s) == (40, 0.4, 5.0)
    [plain] = records_of_run(run, [replace(step, attempt=1)], events)
    assert (plain.input_tokens, plain.cost_usd) == (10, 0.1)


async def test_usage_endpoints_add_up_real_runs(api: Api) -> None:
    plan = {
        "name": "two-agents",
        "steps": {
            "think": {"agent": "aria", "prompt": "think"},
            "build": {"needs": ["think"], "agent": "code", "prompt": "build"},
            "check": {"needs": ["build"], "tool": "echo", "with": {"ok": True}},
        },
    }
    for _ in range(2):
        run_id = (await api.client.post("/api/runs", json={"plan": plan})).json()["run_id"]
        assert (await api.wait_status(run_id))["status"] == "succeeded"

    report = (await api.client.get("/api/usage", params={"by": "agent", "group_by": "hour"})).json()
    rows = {r["key"]: r for r in report["rows"]}
    assert set(rows) == {"aria", "code", "tool:echo"}
    assert rows["aria"]["steps"] == 2 and rows["aria"]["input_tokens"] == 200
    assert rows["code"]["output_tokens"] == 40 and rows["code"]["cost_usd"] == 0.02
    assert rows["tool:echo"]["total_tokens"] == 0 and rows["tool:echo"]["success_rate"] == 1.0

    by_model = (await api.client.get("/api/usage", params={"by": "model"})).json()["rows"]
    assert {(r["key"], r["steps"]) for r in by_model} == {("function:test", 4), ("none", 2)}

    summary = (await api.client.get("/api/usage/summary")).json()
    assert summary["totals"]["steps"] == 6 and summary["totals"]["total_tokens"] == 480
    assert summary["totals"]["cost_usd"] == 0.04
    assert summary["runs"]["total"] == 2 and summary["runs"]["by_status"] == {"succeeded": 2}
    assert summary["by_tenant"]["default"]["steps"] == 6
    assert summary["by_agent"]["code"]["cost_usd"] == 0.02

    future = (await api.client.get("/api/usage", params={"since": "2999-01-01"})).json()
    assert future["rows"] == []
    bad = await api.client.get("/api/usage", params={"since": "yesterday"})
    assert bad.status_code == 400 and bad.json()["error"]["details"] == {"field": "query.since"}
    wrong = await api.client.get("/api/usage", params={"group_by": "year"})
    assert wrong.status_code == 422
