"""Leases taken with ``create_run`` and released with ``update_run``, on every backend.

They must behave exactly like a ``claim_run`` right after the create and a
``release_run`` right after the update, only in the same write.
"""

from __future__ import annotations

import asyncio

import pytest

from nexus.domain.runs import RunStatus
from nexus.errors import StoreError
from nexus.store.base import RunStore
from tests.store.test_conformance import SHARED_BACKENDS, OpenMore, ev, make_run


async def test_a_run_created_with_a_lease_is_held_by_its_owner(store: RunStore) -> None:
    run = make_run("r1")
    await store.create_run(run, [ev("r1", 1)], lease_owner="worker-a", lease_ttl_s=30)
    assert await store.get_run("r1") == run  # the lease is not part of the record
    assert [e.seq for e in await store.read_events("r1")] == [1]
    assert await store.claim_run("r1", "worker-b", 30) == "worker-a"
    assert await store.claim_run("r1", "worker-a", 30) is None  # renewal by the holder
    assert await store.list_claimable() == []


async def test_a_run_created_without_a_lease_is_free(store: RunStore) -> None:
    await store.create_run(make_run("r1"))
    assert await store.list_claimable() == ["r1"]
    assert await store.claim_run("r1", "worker-b", 30) is None


async def test_the_lease_taken_at_creation_expires(store: RunStore) -> None:
    await store.create_run(make_run("r1"), lease_owner="worker-a", lease_ttl_s=0.1)
    assert await store.claim_run("r1", "worker-b", 30) == "worker-a"
    await asyncio.sleep(0.2)
    assert await store.list_claimable() == ["r1"]
    assert await store.claim_run("r1", "worker-b", 30) is None


async def test_a_refused_create_takes_no_lease(store: RunStore) -> None:
    await store.create_run(make_run("r1"))
    await store.claim_run("r1", "worker-a", 30)
    with pytest.raises(StoreError, match="already exists"):
        await store.create_run(make_run("r1"), lease_owner="worker-b", lease_ttl_s=30)
    assert await store.claim_run("r1", "worker-b", 30) == "worker-a"


async def test_update_run_releases_the_lease_of_its_holder(store: RunStore) -> None:
    run = make_run("r1")
    await store.create_run(run, [ev("r1", 1)], lease_owner="worker-a", lease_ttl_s=30)
    run.status = RunStatus.SUCCEEDED
    run.output = {"done": True}
    await store.update_run(run, [ev("r1", 2, "run.succeeded")], release_owner="worker-a")
    assert await store.get_run("r1") == run
    assert [e.type for e in await store.read_events("r1")] == ["step.succeeded", "run.succeeded"]
    assert await store.claim_run("r1", "worker-b", 30) is None


async def test_update_run_leaves_a_lease_held_by_another_owner(store: RunStore) -> None:
    run = make_run("r1", status=RunStatus.RUNNING)
    await store.create_run(run)
    assert await store.claim_run("r1", "worker-a", 30) is None
    await store.update_run(run, release_owner="worker-b")
    assert await store.claim_run("r1", "worker-b", 30) == "worker-a"
    assert await store.list_claimable() == []


async def test_a_non_durable_update_releases_once_committed(store: RunStore) -> None:
    run = make_run("r1", status=RunStatus.RUNNING)
    await store.create_run(run, lease_owner="worker-a", lease_ttl_s=30)
    await store.update_run(run, durable=False, release_owner="worker-a")
    assert await store.list_claimable() == ["r1"]


@pytest.mark.parametrize("store_url", SHARED_BACKENDS, indirect=True)
async def test_a_lease_taken_at_creation_holds_across_store_objects(
    store: RunStore, open_more: OpenMore
) -> None:
    other = await open_more()
    run = make_run("r1")
    await store.create_run(run, lease_owner="worker-a", lease_ttl_s=30)
    assert await other.claim_run("r1", "worker-b", 30) == "worker-a"
    await store.update_run(run, release_owner="worker-a")
    assert await other.claim_run("r1", "worker-b", 30) is None
