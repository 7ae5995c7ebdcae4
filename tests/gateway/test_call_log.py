"""The call log on its own: batched writes off the caller's path, reads by tenant and time,
persistence across a reopen, and the usage-analytics rows it gives."""

from __future__ import annotations

import asyncio
from pathlib import Path

from nexus.analytics.calls import GATEWAY_AGENT, CallLog, CallRecord, to_usage_record


def call(ts: float, tenant: str = "t1", **changes: object) -> CallRecord:
    base: dict[str, object] = {
        "ts": ts,
        "tenant_id": tenant,
        "key_id": "k1",
        "api": "openai",
        "model": "router:auto",
        "answered_by": "openai:gpt-4o-mini",
        "input_tokens": 10,
        "output_tokens": 4,
        "reasoning_tokens": 2,
        "cost_usd": 0.25,
        "latency_s": 0.5,
    }
    base.update(changes)
    return CallRecord(**base)  # type: ignore[arg-type]


async def test_records_are_written_in_the_background(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "calls.db", flush_interval_s=0.05)
    for i in range(5):
        log.record(call(100.0 + i))
    assert log.written == 0  # nothing written on the caller's path
    for _ in range(100):
        if log.written == 5:
            break
        await asyncio.sleep(0.02)
    assert log.written == 5
    assert [c.ts for c in log.read_sync()] == [100.0, 101.0, 102.0, 103.0, 104.0]
    log.close()


async def test_reads_filter_by_tenant_and_time_and_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "calls.db"
    log = CallLog(path)
    log.record(call(10.0, "a"))
    log.record(call(20.0, "a", success=False, error="budget_exceeded", cached=False))
    log.record(call(30.0, "b", cached=True, stream=True))
    await log.flush()
    assert [c.ts for c in log.read_sync(tenant_id="a")] == [10.0, 20.0]
    assert [c.ts for c in log.read_sync(since=15.0, until=30.0)] == [20.0]
    log.close()

    again = CallLog(path)
    [failed] = again.read_sync(tenant_id="a", since=15.0)
    assert (failed.success, failed.error) == (False, "budget_exceeded")
    [other] = again.read_sync(tenant_id="b")
    assert (other.cached, other.stream, other.key_id) == (True, True, "k1")
    rows = await again.usage_records(tenant_id="b")
    assert [r.tenant_id for r in rows] == ["b"]
    again.close()


def test_a_call_as_a_usage_row() -> None:
    row = to_usage_record(call(5.0), 3)
    assert row.agent == GATEWAY_AGENT
    assert row.model == "openai:gpt-4o-mini"  # the model that answered
    assert (row.input_tokens, row.output_tokens) == (10, 6)  # reasoning counts as output
    assert (row.cost_usd, row.duration_s, row.success) == (0.25, 0.5, True)
    assert row.run_id == "" and row.step_key == "openai:3"


def test_records_made_outside_an_event_loop_wait_for_a_flush(tmp_path: Path) -> None:
    log = CallLog(tmp_path / "calls.db")
    log.record(call(1.0))
    assert log.read_sync() == []
    assert log.flush_sync() == 1
    assert len(log.read_sync()) == 1
    log.record(call(2.0))
    log.close()  # close writes what is pending
    assert len(CallLog(tmp_path / "calls.db").read_sync()) == 2
