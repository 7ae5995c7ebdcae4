"""``list_claimable``: the runs an executor may pick up, on every backend."""

from __future__ import annotations

import asyncio

from nexus.domain.runs import RunStatus
from nexus.store.base import RunStore
from tests.store.test_conformance import make_run


async def _runs(store: RunStore) -> None:
    statuses = {
        "new": RunStatus.CREATED,
        "busy": RunStatus.RUNNING,
        "parked": RunStatus.WAITING_INPUT,
        "done": RunStatus.SUCCEEDED,
        "broken": RunStatus.FAILED,
        "stopped": RunStatus.CANCELLED,
    }
    for i, (run_id, status) in enumerate(statuses.items()):
        await store.create_run(make_run(run_id, status=status, created_at=1000.0 + i))


async def test_only_created_and_running_runs_without_a_live_lease(store: RunStore) -> None:
    await _runs(store)
    assert await store.list_claimable() == ["new", "busy"]
    assert await store.claim_run("busy", "worker-a", 30) is None
    assert await store.list_claimable() == ["new"]
    await store.release_run("busy", "worker-a")
    assert await store.list_claimable() == ["new", "busy"]


async def test_an_expired_lease_makes_the_run_claimable_again(store: RunStore) -> None:
    await _runs(store)
    assert await store.claim_run("new", "worker-a", 0.5) is None
    assert await store.claim_run("busy", "worker-a", 30) is None
    assert await store.list_claimable() == []
    await asyncio.sleep(0.6)
    assert await store.list_claimable() == ["new"]


async def test_oldest_first_and_limited(store: RunStore) -> None:
    for i in range(5):
        await store.create_run(make_run(f"r{i}", created_at=2000.0 - i))
    assert await store.list_claimable(limit=3) == ["r4", "r3", "r2"]
    assert await store.list_claimable(limit=0) == []
    assert await store.list_claimable(limit=10) == ["r4", "r3", "r2", "r1", "r0"]
