"""The engine's lease: taken with the create (``claim=True``), released with the final update."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from nexus.domain.runs import RunStatus
from nexus.engine.plan_loader import parse_plan
from nexus.errors import InvalidStateError

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
