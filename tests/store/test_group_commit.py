"""SQLite group commit: concurrent writes share a batch; a lone durable write commits in its
writer's turn, but a long streak of them still lets the event loop run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from nexus.store._commit import InlineCommit
from nexus.store.sql import SqliteStore
from tests.store.test_conformance import ev, make_run, make_step


@pytest.fixture
async def store(tmp_path: Path) -> SqliteStore:
    s = SqliteStore(f"sqlite:///{tmp_path / 'nexus.db'}")
    await s.open()
    yield s  # type: ignore[misc]
    await s.close()


async def _batches(store: SqliteStore) -> int:
    return store._committer().batches


async def test_concurrent_durable_writes_share_one_batch(store: SqliteStore) -> None:
    await store.create_run(make_run("r1"))
    before = await _batches(store)
    await asyncio.gather(*(store.save_step(make_step("r1", f"s{i}")) for i in range(10)))
    assert await _batches(store) == before + 1
    assert len(await store.get_steps("r1")) == 10


async def test_a_lone_durable_write_commits_without_waiting_for_the_loop(
    store: SqliteStore,
) -> None:
    await store.create_run(make_run("r1"))
    ran: list[str] = []
    asyncio.get_running_loop().call_later(0, ran.append, "timer")
    before = await _batches(store)
    await store.save_step(make_step("r1", "a"), [ev("r1", 1)], durable=False)
    await store.save_step(make_step("r1", "b"), [ev("r1", 2)])  # commits "a" with it
    assert await _batches(store) == before + 1
    assert ran == []  # the loop did not turn meanwhile
    assert [s.step_key for s in await store.get_steps("r1")] == ["a", "b"]


async def test_a_durable_write_with_other_work_ready_waits_for_its_batch(
    store: SqliteStore,
) -> None:
    await store.create_run(make_run("r1"))
    ran: list[str] = []
    asyncio.get_running_loop().call_soon(ran.append, "ready")
    await store.save_step(make_step("r1", "a"))
    assert ran == ["ready"]


async def test_a_streak_of_lone_durable_writes_yields_to_the_loop(store: SqliteStore) -> None:
    await store.create_run(make_run("r1"))
    ran: list[int] = []
    asyncio.get_running_loop().call_later(0, lambda: ran.append(written))
    written = 0
    for written in range(1, InlineCommit.SYNC_STREAK + 3):
        await store.save_step(make_step("r1", f"s{written}"))
    assert ran and ran[0] <= InlineCommit.SYNC_STREAK + 1


async def test_a_refused_lone_write_raises_and_the_next_one_commits(store: SqliteStore) -> None:
    await store.create_run(make_run("r1"), [ev("r1", 1)])
    with pytest.raises(Exception, match="seq 1 already exists"):
        await store.append_events([ev("r1", 1)])
    await store.append_events([ev("r1", 2)])
    assert [e.seq for e in await store.read_events("r1")] == [1, 2]
