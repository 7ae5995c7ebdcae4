"""SQL stores: a read commits the queued writes of the run it reads, not everyone's."""

from __future__ import annotations

import pytest

from nexus.domain.runs import Event, RunStatus
from nexus.store._sqlbase import SqlStore
from nexus.store.base import RunStore
from tests.store.test_conformance import SHARED_BACKENDS, make_run, make_step

shared = pytest.mark.parametrize("store_url", SHARED_BACKENDS, indirect=True)


def _pending(store: RunStore) -> int:
    assert isinstance(store, SqlStore)
    return store._committer().pending


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_reading_one_run_leaves_another_runs_writes_queued(store: RunStore) -> None:
    # SQLite commits on the event loop thread: what is queued stays queued until the
    # next loop iteration (PostgreSQL's committer thread starts at once, nothing to see)
    await store.create_run(make_run("a"))
    await store.create_run(make_run("b"))
    await store.save_step(make_step("b", "s1"), durable=False)
    await store.append_events([Event("b", 1, "x", {}, "cid-b")], durable=False)
    assert _pending(store) == 2

    assert (await store.get_run("a")).run_id == "a"
    assert await store.get_steps("a") == []
    assert await store.read_events("a") == []
    assert await store.last_event_seq("a") == 0
    assert _pending(store) == 2  # b's writes wait for their batch

    assert [s.step_key for s in await store.get_steps("b")] == ["s1"]
    assert _pending(store) == 0


@shared
async def test_every_read_of_a_run_sees_that_runs_queued_writes(store: RunStore) -> None:
    run = make_run("a", status=RunStatus.RUNNING)
    await store.create_run(run)
    run.status = RunStatus.SUCCEEDED
    await store.update_run(run, [Event("a", 1, "run.succeeded", {}, "cid-a")], durable=False)
    assert (await store.get_run("a")).status == RunStatus.SUCCEEDED

    await store.save_step(make_step("a", "s1"), [Event("a", 2, "x", {}, "cid-a")], durable=False)
    assert await store.last_event_seq("a") == 2
    await store.append_events([Event("a", 3, "y", {}, "cid-a")], durable=False)
    assert [e.seq for e in await store.read_events("a")] == [1, 2, 3]


@shared
async def test_events_of_another_run_in_the_same_write_count_for_that_run(
    store: RunStore,
) -> None:
    await store.create_run(make_run("a"))
    await store.create_run(make_run("b"))
    await store.append_events(
        [Event("a", 1, "x", {}, "cid-a"), Event("b", 1, "x", {}, "cid-b")], durable=False
    )
    assert [e.seq for e in await store.read_events("b")] == [1]


@shared
async def test_reads_that_span_runs_commit_everything(store: RunStore) -> None:
    await store.create_run(make_run("a"))
    run = make_run("b")
    await store.create_run(run)
    run.status = RunStatus.FAILED
    await store.update_run(run, durable=False)
    assert [r.run_id for r in await store.list_runs(status=RunStatus.FAILED)] == ["b"]
    assert _pending(store) == 0
