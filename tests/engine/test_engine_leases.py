"""The engine's lease: taken with the create (``claim=True``), released with the final update."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from nexus.domain.runs import RunStatus
from nexus.engine.leases import LeaseKeeper
from nexus.engine.plan_loader import parse_plan
from nexus.errors import InvalidStateError
from nexus.store.memory import MemoryStore
from tests.store.test_conformance import make_run

from .conftest import EngineKit

PLAN = {
    "name": "pair",
    "steps": {
        "a": {"tool": "count", "with": {"value": 1}},
        "b": {"needs": ["a"], "tool": "count", "with": {"value": "${{ steps.a.output.value }}"}},
    },
}


class CountingStore:
    """Counts the durable lease writes of the store it wraps."""

    def __init__(self, kit: EngineKit) -> None:
        self.store = kit.engine.store
        self.claims = 0
        self.releases = 0
        claim, release = self.store.claim_run, self.store.release_run

        async def counted_claim(*args: Any, **kwargs: Any) -> str | None:
            self.claims += 1
            return await claim(*args, **kwargs)

        async def counted_release(*args: Any, **kwargs: Any) -> None:
            self.releases += 1
            await release(*args, **kwargs)

        self.store.claim_run = counted_claim  # type: ignore[method-assign]
        self.store.release_run = counted_release  # type: ignore[method-assign]


async def test_a_run_created_with_claim_executes_without_a_separate_claim(
    kit: EngineKit,
) -> None:
    counter = CountingStore(kit)
    run = await kit.engine.create_run(parse_plan(PLAN), {}, claim=True)
    assert await kit.engine.store.claim_run(run.run_id, "someone-else", 30) == kit.engine.owner
    counter.claims = 0
    done = await kit.engine.execute(run.run_id)
    assert done.status == RunStatus.SUCCEEDED
    assert done.output == {"a": {"value": 1, "attempt": 1}, "b": {"value": 1, "attempt": 1}}
    assert (counter.claims, counter.releases) == (0, 0)  # released by the final update
    assert await kit.engine.store.claim_run(run.run_id, "someone-else", 30) is None


async def test_a_run_created_without_claim_is_claimed_and_released_by_execute(
    kit: EngineKit,
) -> None:
    counter = CountingStore(kit)
    run = await kit.engine.create_run(parse_plan(PLAN), {})
    assert await kit.engine.store.list_claimable() == [run.run_id]
    done = await kit.engine.execute(run.run_id)
    assert done.status == RunStatus.SUCCEEDED
    assert (counter.claims, counter.releases) == (1, 0)
    assert await kit.engine.store.list_claimable() == []
    assert await kit.engine.store.claim_run(run.run_id, "someone-else", 30) is None


async def test_a_run_held_since_its_creation_is_refused_to_another_engine(
    kit: EngineKit, kit_factory: Any
) -> None:
    run = await kit.engine.create_run(parse_plan(PLAN), {}, claim=True)
    other = await kit_factory()
    try:
        with pytest.raises(InvalidStateError, match="is being executed by"):
            await other.engine.execute(run.run_id)
    finally:
        await other.engine.store.close()
    assert (await kit.engine.execute(run.run_id)).status == RunStatus.SUCCEEDED


async def test_a_held_run_cancelled_before_it_executes_gives_its_lease_back(
    kit: EngineKit,
) -> None:
    run = await kit.engine.create_run(parse_plan(PLAN), {}, claim=True)
    await kit.engine.cancel(run.run_id)
    result = await kit.engine.execute(run.run_id)
    assert result.status == RunStatus.CANCELLED
    assert await kit.engine.store.claim_run(run.run_id, "someone-else", 30) is None


async def test_a_claim_older_than_a_third_of_the_ttl_is_renewed_by_execute(
    kit: EngineKit,
) -> None:
    kit.engine.lease_ttl_s = 0.3
    counter = CountingStore(kit)
    run = await kit.engine.create_run(parse_plan(PLAN), {}, claim=True)
    await asyncio.sleep(0.15)
    done = await kit.engine.execute(run.run_id)
    assert done.status == RunStatus.SUCCEEDED
    assert counter.claims == 1


async def test_a_failed_run_releases_its_lease_too(kit: EngineKit) -> None:
    plan = {"name": "bad", "steps": {"a": {"tool": "count", "with": {"fail_times": 9}}}}
    plan["settings"] = {"default_retry": {"max_attempts": 1}}
    run = await kit.engine.create_run(parse_plan(plan), {}, claim=True)
    done = await kit.engine.execute(run.run_id)
    assert done.status == RunStatus.FAILED
    assert await kit.engine.store.claim_run(run.run_id, "someone-else", 30) is None


SLOW = {"name": "slow", "steps": {"long": {"tool": "count", "with": {"sleep": 0.6}}}}


async def test_an_executing_run_keeps_its_lease_past_the_ttl(kit: EngineKit) -> None:
    kit.engine.lease_ttl_s = 0.3  # renewed every 0.1 s
    run = await kit.engine.create_run(parse_plan(SLOW), {})
    task = asyncio.create_task(kit.engine.execute(run.run_id))
    await asyncio.sleep(0.45)  # past the first lease
    assert await kit.engine.store.claim_run(run.run_id, "someone-else", 30) == kit.engine.owner
    assert (await task).status == RunStatus.SUCCEEDED
    assert await kit.engine.store.claim_run(run.run_id, "someone-else", 30) is None


async def test_the_timer_cancels_a_run_cancelled_in_the_store_and_renews_the_others() -> None:
    # unit level: executing a run that another process cancels mid-step also writes
    # the step's cancel event, whose seq the other process's run.cancelled took
    store = MemoryStore()
    for run_id in ("kept", "stopped"):
        await store.create_run(make_run(run_id, status=RunStatus.RUNNING))
        assert await store.claim_run(run_id, "me", 0.3) is None
    stopped = make_run("stopped", status=RunStatus.CANCELLED)
    await store.update_run(stopped)

    async def forever() -> None:
        await asyncio.sleep(30)

    executions = {k: SimpleNamespace(cancel_requested=False) for k in ("kept", "stopped")}
    tasks = {k: asyncio.create_task(forever()) for k in executions}
    active: dict[str, Any] = {k: (executions[k], tasks[k]) for k in executions}
    keeper = LeaseKeeper(store, "me", 0.3, active)
    keeper.ensure_running()
    await asyncio.sleep(0.45)  # past the first lease: renewed at least once
    assert tasks["stopped"].cancelled() and executions["stopped"].cancel_requested
    assert not tasks["kept"].done() and not executions["kept"].cancel_requested
    assert await store.claim_run("kept", "other", 30) == "me"
    tasks["kept"].cancel()
    active.clear()
    await asyncio.sleep(0.15)
    assert keeper._task is None  # stopped by itself


async def test_one_timer_serves_every_run_and_stops_when_none_executes(kit: EngineKit) -> None:
    kit.engine.lease_ttl_s = 0.3
    plan = parse_plan({"name": "short", "steps": {"a": {"tool": "count", "with": {"sleep": 0.25}}}})
    runs = [await kit.engine.create_run(plan, {}) for _ in range(5)]
    tasks = [asyncio.create_task(kit.engine.execute(r.run_id)) for r in runs]
    await asyncio.sleep(0.05)
    timers = [t for t in asyncio.all_tasks() if t.get_name() == "nexus-lease-keeper"]
    assert len(timers) == 1
    assert all(r.status == RunStatus.SUCCEEDED for r in await asyncio.gather(*tasks))
    await asyncio.wait_for(timers[0], timeout=1)  # ends by itself once idle
    run = await kit.engine.create_run(plan, {})
    assert (await kit.engine.execute(run.run_id)).status == RunStatus.SUCCEEDED


async def test_a_run_held_since_its_creation_is_executed_without_reading_its_journal(
    kit: EngineKit,
) -> None:
    store = kit.engine.store
    reads: list[str] = []
    get_steps, last_seq = store.get_steps, store.last_event_seq

    async def counted_steps(run_id: str) -> Any:
        reads.append("steps")
        return await get_steps(run_id)

    async def counted_seq(run_id: str) -> int:
        reads.append("seq")
        return await last_seq(run_id)

    store.get_steps = counted_steps  # type: ignore[method-assign]
    store.last_event_seq = counted_seq  # type: ignore[method-assign]
    held = await kit.engine.create_run(parse_plan(PLAN), {}, claim=True)
    done = await kit.engine.execute(held.run_id)
    assert done.status == RunStatus.SUCCEEDED and reads == []
    assert [e.seq for e in await store.read_events(held.run_id)] == list(range(1, 8))

    free = await kit.engine.create_run(parse_plan(PLAN), {})
    assert (await kit.engine.execute(free.run_id)).status == RunStatus.SUCCEEDED
    assert reads == ["steps", "seq"]
