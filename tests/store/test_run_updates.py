"""Updating a run: every field, its creation time included, on every backend."""

from __future__ import annotations

from nexus.domain.runs import RunStatus
from nexus.store.base import RunStore
from tests.store.test_conformance import make_run


async def test_an_update_keeps_or_changes_the_creation_time_and_its_order(
    store: RunStore,
) -> None:
    first = make_run("first", created_at=1000.0)
    second = make_run("second", created_at=2000.0)
    await store.create_run(first)
    await store.create_run(second)
    first.status = RunStatus.RUNNING
    await store.update_run(first)  # creation time unchanged
    assert await store.get_run("first") == first
    assert [r.run_id for r in await store.list_runs()] == ["second", "first"]

    first.created_at = 3000.0
    await store.update_run(first)
    assert await store.get_run("first") == first
    assert [r.run_id for r in await store.list_runs()] == ["first", "second"]
    assert await store.list_claimable() == ["second", "first"]
