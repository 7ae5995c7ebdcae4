"""The run store contract, run against every backend: memory, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import pytest

from nexus.domain.runs import Checkpoint, Event, RunRecord, RunStatus, StepRecord, StepStatus
from nexus.errors import NotFoundError, StoreError
from nexus.store.base import RunStore

OpenMore = Callable[[], Awaitable[RunStore]]

#: The backends where two store objects share one database.
SHARED_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]

BIG_PLAN = {
    "version": 1,
    "name": "software-team",
    "steps": {
        f"step_{i}": {"agent": "code", "prompt": f"Implement part {i} of the feature. " * 8}
        for i in range(20)
    },
}


def make_run(run_id: str, **changes: object) -> RunRecord:
    run = RunRecord(
        run_id=run_id,
        plan_name="software-team",
        plan=BIG_PLAN,
        inputs={"task": "add a --verbose flag", "max_fix_rounds": 3},
        correlation_id=f"cid-{run_id}",
        created_at=1_700_000_000.25,
        updated_at=1_700_000_000.5,
    )
    for name, value in changes.items():
        setattr(run, name, value)
    return run


def make_step(run_id: str, key: str, **changes: object) -> StepRecord:
    step = StepRecord(
        run_id=run_id,
        step_key=key,
        kind="agent",
        status=StepStatus.SUCCEEDED,
        attempt=1,
        input={"prompt": f"do {key}"},
        output={"reply": f"{key} is done", "confidence": 0.875},
        started_at=10.125,
        finished_at=12.5,
        meta={"model": "offline:replay", "tokens": 42, "cost": 0.0},
    )
    for name, value in changes.items():
        setattr(step, name, value)
    return step


def ev(run_id: str, seq: int, type_: str = "step.succeeded", **changes: object) -> Event:
    event = Event(run_id, seq, type_, {"n": seq}, f"cid-{run_id}", None, 1_700_000_100.0 + seq)
    for name, value in changes.items():
        setattr(event, name, value)
    return event


# --- runs ------------------------------------------------------------------------------


async def test_run_round_trip_keeps_every_field(store: RunStore) -> None:
    run = make_run(
        "r1",
        status=RunStatus.WAITING_INPUT,
        workspace="/tmp/ws/r1",
        tenant_id="acme",
        parent_run_id="r0",
        forked_from_step="implement",
        output={"verdict": "ok", "scores": [1.5, -2, None, True], "ünï": "çødé ✓"},
        error={"code": "gate_failed", "message": "tests fail"},
        finished_at=1_700_000_123.000001,
        options={"replay": "recorded", "labels": {"team": "blue"}},
    )
    await store.create_run(run)

    got = await store.get_run("r1")

    assert got == run
    assert type(got.status) is RunStatus
    assert got.status is RunStatus.WAITING_INPUT
    assert got.finished_at == 1_700_000_123.000001


async def test_run_with_defaults_round_trips_none_and_empty(store: RunStore) -> None:
    run = RunRecord(run_id="bare", plan_name="p", plan={}, inputs={})
    await store.create_run(run)

    got = await store.get_run("bare")

    assert got == run
    assert got.output is None and got.error is None and got.options == {}
    assert got.workspace is None and got.finished_at is None


async def test_unknown_run_raises_not_found_with_its_id(store: RunStore) -> None:
    with pytest.raises(NotFoundError, match=r"^no run with id 'nope'$"):
        await store.get_run("nope")
    with pytest.raises(NotFoundError, match="no run with id 'nope'"):
        await store.update_run(make_run("nope"))


async def test_creating_a_run_twice_is_refused(store: RunStore) -> None:
    await store.create_run(make_run("dup"))
    with pytest.raises(StoreError, match="run 'dup' already exists"):
        await store.create_run(make_run("dup", plan_name="other"))
    assert (await store.get_run("dup")).plan_name == "software-team"


async def test_update_run_replaces_the_record(store: RunStore) -> None:
    run = make_run("r1")
    await store.create_run(run)
    run.status = RunStatus.SUCCEEDED
    run.output = {"answer": 42}
    run.finished_at = 1_700_000_200.0
    run.plan = {**BIG_PLAN, "name": "changed"}
    await store.update_run(run)

    got = await store.get_run("r1")

    assert got == run
    assert got.status is RunStatus.SUCCEEDED


async def test_stored_records_are_copies(store: RunStore) -> None:
    run = make_run("r1", output={"items": [1, 2]})
    await store.create_run(run)
    run.inputs["task"] = "changed after saving"
    run.output["items"].append(3)

    first = await store.get_run("r1")
    first.plan["steps"].clear()
    second = await store.get_run("r1")

    assert second.inputs["task"] == "add a --verbose flag"
    assert second.output == {"items": [1, 2]}
    assert len(second.plan["steps"]) == 20


async def test_payloads_that_are_not_json_are_refused_and_nothing_is_stored(
    store: RunStore,
) -> None:
    await store.create_run(make_run("r1"))
    with pytest.raises(StoreError, match=r"step 'bad' of run 'r1': output cannot be stored"):
        await store.save_step(make_step("r1", "bad", output={"when": object()}), [ev("r1", 1)])
    assert await store.get_steps("r1") == []
    assert await store.last_event_seq("r1") == 0


async def test_list_runs_newest_first_with_filters_and_paging(store: RunStore) -> None:
    specs = [
        ("a", 1.0, RunStatus.SUCCEEDED, "t1"),
        ("b", 5.0, RunStatus.RUNNING, "t1"),
        ("c", 3.0, RunStatus.SUCCEEDED, "t2"),
        ("d", 4.0, RunStatus.FAILED, "t1"),
        ("e", 2.0, RunStatus.SUCCEEDED, "t1"),
    ]
    for run_id, created, status, tenant in specs:
        await store.create_run(
            make_run(run_id, created_at=created, status=status, tenant_id=tenant)
        )

    async def ids(**kwargs: object) -> list[str]:
        return [r.run_id for r in await store.list_runs(**kwargs)]  # type: ignore[arg-type]

    assert await ids() == ["b", "d", "c", "e", "a"]
    assert await ids(status=RunStatus.SUCCEEDED) == ["c", "e", "a"]
    assert await ids(tenant_id="t1") == ["b", "d", "e", "a"]
    assert await ids(status=RunStatus.SUCCEEDED, tenant_id="t1") == ["e", "a"]
    assert await ids(limit=2) == ["b", "d"]
    assert await ids(limit=2, offset=2) == ["c", "e"]
    assert await ids(limit=10, offset=4) == ["a"]
    assert await ids(tenant_id="nobody") == []
    listed = await store.list_runs(limit=1)
    assert listed[0] == await store.get_run("b")


# --- steps -----------------------------------------------------------------------------


async def test_steps_round_trip_and_upsert_by_key(store: RunStore) -> None:
    await store.create_run(make_run("r1"))
    big_output = {"report": "x" * 500, "failed": 0}
    implement = make_step("r1", "implement", output=big_output)
    await store.save_step(make_step("r1", "analyse"))
    await store.save_step(make_step("r1", "validate[2]/run_tests", status=StepStatus.RUNNING))
    await store.save_step(implement)
    running = make_step(
        "r1",
        "validate[2]/run_tests",
        status=StepStatus.FAILED,
        attempt=3,
        output=None,
        error={"code": "timeout", "message": "ran past 30 s"},
        meta={},
    )
    await store.save_step(running)

    steps = await store.get_steps("r1")

    assert [s.step_key for s in steps] == ["analyse", "implement", "validate[2]/run_tests"]
    assert steps[1] == implement
    assert steps[2] == running
    assert type(steps[2].status) is StepStatus
    assert steps[2].output is None and steps[2].meta == {}


async def test_steps_come_back_in_step_key_order_bytewise(store: RunStore) -> None:
    await store.create_run(make_run("r1"))
    keys = ["b", "B", "a_1", "a-1", "a[2]/x", "a/x", "a", "é", "Z9", "checks/lint"]
    for key in keys:
        await store.save_step(make_step("r1", key))
    assert [s.step_key for s in await store.get_steps("r1")] == sorted(keys)


async def test_step_without_times_or_payloads(store: RunStore) -> None:
    await store.create_run(make_run("r1"))
    pending = StepRecord("r1", "later", "tool")
    await store.save_step(pending)
    assert await store.get_steps("r1") == [pending]


async def test_delete_steps_removes_only_the_named_keys(store: RunStore) -> None:
    await store.create_run(make_run("r1"))
    for key in ("a", "b", "c"):
        await store.save_step(make_step("r1", key))
    await store.delete_steps("r1", ["a", "c", "missing"])
    assert [s.step_key for s in await store.get_steps("r1")] == ["b"]
    await store.delete_steps("no-such-run", ["a"])  # nothing to delete is not an error


async def test_steps_and_events_of_an_unknown_run_are_refused(store: RunStore) -> None:
    with pytest.raises(NotFoundError, match="no run with id 'ghost'"):
        await store.save_step(make_step("ghost", "a"))
    with pytest.raises(NotFoundError, match="no run with id 'ghost'"):
        await store.append_events([ev("ghost", 1)])
    assert await store.get_steps("ghost") == []
    assert await store.read_events("ghost") == []
    assert await store.last_event_seq("ghost") == 0


# --- events ----------------------------------------------------------------------------


async def test_events_are_read_in_seq_order_with_paging(store: RunStore) -> None:
    await store.create_run(make_run("r1"), [ev("r1", 1, "run.created")])
    await store.append_events([ev("r1", 3), ev("r1", 2, step_key="analyse")])
    await store.save_step(make_step("r1", "analyse"), [ev("r1", 4), ev("r1", 5)])
    run = make_run("r1", status=RunStatus.SUCCEEDED)
    await store.update_run(run, [ev("r1", 6, "run.succeeded")])
    for seq in range(7, 30):
        await store.append_events([ev("r1", seq)], durable=seq % 2 == 0)

    everything = await store.read_events("r1")

    assert [e.seq for e in everything] == list(range(1, 30))
    assert everything[0] == ev("r1", 1, "run.created")
    assert everything[1] == ev("r1", 2, step_key="analyse")
    assert [e.seq for e in await store.read_events("r1", after_seq=5, limit=3)] == [6, 7, 8]
    assert [e.seq for e in await store.read_events("r1", after_seq=27)] == [28, 29]
    assert await store.read_events("r1", after_seq=29) == []
    assert await store.last_event_seq("r1") == 29


async def test_event_fields_round_trip(store: RunStore) -> None:
    await store.create_run(make_run("r1"))
    events = [
        Event("r1", 1, "message.sent", {"to": "code", "text": "hé ✓", "n": [1, 2.5]}, "cid-r1"),
        Event("r1", 2, "usage.recorded", {}, "another-cid", "implement", 1.25),
        Event("r1", 3, "step.started", {"a": None}, "", "analyse", 2.5),
    ]
    await store.append_events(events)
    assert await store.read_events("r1") == events


async def test_events_of_several_runs_in_one_call(store: RunStore) -> None:
    await store.create_run(make_run("r1"))
    await store.create_run(make_run("r2"))
    await store.append_events([ev("r1", 1), ev("r2", 1), ev("r1", 2)])
    assert [e.seq for e in await store.read_events("r1")] == [1, 2]
    assert [e.run_id for e in await store.read_events("r2")] == ["r2"]


async def test_a_duplicate_event_seq_fails_the_whole_write(store: RunStore) -> None:
    await store.create_run(make_run("r1"), [ev("r1", 1)])
    with pytest.raises(StoreError, match="seq"):
        await store.save_step(make_step("r1", "a"), [ev("r1", 2), ev("r1", 1, "again")])
    assert await store.get_steps("r1") == []
    assert [e.seq for e in await store.read_events("r1")] == [1]
    # the store keeps working after the refused write
    await store.save_step(make_step("r1", "a"), [ev("r1", 2)])
    assert [e.seq for e in await store.read_events("r1")] == [1, 2]


async def test_changing_a_runs_correlation_id_keeps_its_events_ids(store: RunStore) -> None:
    await store.create_run(make_run("r1"), [ev("r1", 1)])
    await store.update_run(make_run("r1", correlation_id="new-cid"), [ev("r1", 2)])
    assert [e.correlation_id for e in await store.read_events("r1")] == ["cid-r1", "cid-r1"]
    assert (await store.get_run("r1")).correlation_id == "new-cid"


# --- content-addressed payloads ---------------------------------------------------------


async def test_the_same_plan_is_stored_once(store: RunStore) -> None:
    before = await store.stats()
    await store.create_run(make_run("r1"))
    after_one = await store.stats()
    await store.create_run(make_run("r2", inputs={"task": "something else entirely"}))
    after_two = await store.stats()

    assert after_one["blobs"] == before["blobs"] + 1
    assert after_two["blobs"] == after_one["blobs"]
    assert after_two["blob_bytes"] == after_one["blob_bytes"]
    assert (await store.get_run("r2")).plan == BIG_PLAN


async def test_key_order_does_not_change_the_content_hash(store: RunStore) -> None:
    await store.create_run(make_run("r1"))
    reordered = json.loads(json.dumps(BIG_PLAN))
    reordered = dict(reversed(list(reordered.items())))
    await store.create_run(make_run("r2", plan=reordered))
    assert (await store.stats())["blobs"] == 1


async def test_small_payloads_stay_inline_large_ones_are_shared(store: RunStore) -> None:
    await store.create_run(make_run("r1"))
    await store.create_run(make_run("r2"))
    big = {"reply": "the same long model reply " * 20}  # over the inline limit (400)
    for run_id in ("r1", "r2"):
        await store.save_step(make_step(run_id, "a", output=big, input={"k": 1}))
        await store.save_step(make_step(run_id, "b", output={"ok": True}))
    stats = await store.stats()
    assert stats["blobs"] == 2  # the plan and the big reply
    assert (await store.get_steps("r2"))[0].output == big


async def test_storage_grows_with_what_changed_not_with_the_number_of_runs(
    store: RunStore,
) -> None:
    plan_bytes = len(json.dumps(BIG_PLAN, separators=(",", ":")))
    await store.create_run(make_run("first"))
    first = await store.stats()
    runs = 40
    for i in range(runs):
        await store.create_run(make_run(f"run-{i}"))
    last = await store.stats()

    growth = last["bytes"] - first["bytes"]
    assert last["blobs"] == first["blobs"] == 1
    assert plan_bytes > 3000
    assert growth < runs * plan_bytes / 4, (growth, plan_bytes)


# --- checkpoints -------------------------------------------------------------------------


async def test_checkpoints_round_trip_and_list_by_run(store: RunStore) -> None:
    await store.create_run(make_run("r1"))
    state = {"steps": {"a": {"output": "x" * 200}}, "commit": "abc123", "sessions": ["s1"]}
    later = Checkpoint("cp-2", "r1", 20.5, None, {"steps": {}})
    first = Checkpoint("cp-1", "r1", 10.25, "before tests", state)
    other = Checkpoint("cp-x", "r2", 5.0, "other run", state)
    for cp in (later, first, other):
        await store.save_checkpoint(cp)

    assert await store.get_checkpoint("cp-1") == first
    assert await store.list_checkpoints("r1") == [first, later]
    assert await store.list_checkpoints("nobody") == []
    assert (await store.stats())["checkpoints"] == 3
    with pytest.raises(NotFoundError, match=r"^no checkpoint with id 'cp-9'$"):
        await store.get_checkpoint("cp-9")


# --- leases --------------------------------------------------------------------------------


async def test_lease_is_held_by_one_owner_at_a_time(store: RunStore) -> None:
    await store.create_run(make_run("r1"))
    assert await store.claim_run("r1", "worker-a", 30) is None
    assert await store.claim_run("r1", "worker-b", 30) == "worker-a"
    assert await store.claim_run("r1", "worker-a", 30) is None  # renewal
    await store.release_run("r1", "worker-b")  # not the holder: no effect
    assert await store.claim_run("r1", "worker-b", 30) == "worker-a"
    await store.release_run("r1", "worker-a")
    assert await store.claim_run("r1", "worker-b", 30) is None
    assert await store.claim_run("r1", "worker-a", 30) == "worker-b"


async def test_an_expired_lease_can_be_taken_over(store: RunStore) -> None:
    await store.create_run(make_run("r1"))
    assert await store.claim_run("r1", "worker-a", 0.05) is None
    assert await store.claim_run("r1", "worker-b", 30) == "worker-a"
    await asyncio.sleep(0.1)
    assert await store.claim_run("r1", "worker-b", 30) is None
    assert await store.claim_run("r1", "worker-a", 30) == "worker-b"


async def test_renewal_extends_the_lease(store: RunStore) -> None:
    await store.create_run(make_run("r1"))
    assert await store.claim_run("r1", "worker-a", 0.2) is None
    await asyncio.sleep(0.12)
    assert await store.claim_run("r1", "worker-a", 0.2) is None
    await asyncio.sleep(0.12)  # past the first lease, inside the renewed one
    assert await store.claim_run("r1", "worker-b", 30) == "worker-a"


async def test_force_claim_takes_the_lease(store: RunStore) -> None:
    await store.create_run(make_run("r1"))
    assert await store.claim_run("r1", "worker-a", 30) is None
    await store.force_claim("r1", "operator", 30)
    assert await store.claim_run("r1", "worker-a", 30) == "operator"


async def test_leases_on_unknown_runs(store: RunStore) -> None:
    with pytest.raises(NotFoundError, match="no run with id 'ghost'"):
        await store.claim_run("ghost", "worker-a", 30)
    with pytest.raises(NotFoundError, match="no run with id 'ghost'"):
        await store.force_claim("ghost", "worker-a", 30)
    await store.release_run("ghost", "worker-a")


async def test_leases_do_not_touch_the_run_record(store: RunStore) -> None:
    run = make_run("r1")
    await store.create_run(run)
    await store.claim_run("r1", "worker-a", 30)
    await store.update_run(run)
    assert await store.get_run("r1") == run
    assert await store.claim_run("r1", "worker-b", 30) == "worker-a"


# --- concurrency ---------------------------------------------------------------------------


async def test_many_concurrent_durable_writes_are_all_kept_in_order(store: RunStore) -> None:
    runs = [f"r{i}" for i in range(5)]
    for run_id in runs:
        await store.create_run(make_run(run_id))
    writers, rounds = 40, 25

    async def writer(w: int) -> None:
        run_id = runs[w % len(runs)]
        for k in range(rounds):
            step = make_step(run_id, f"w{w}", attempt=k, output={"k": k, "pad": "p" * 80})
            await store.save_step(step, durable=k % 3 != 1)

    await asyncio.gather(*(writer(w) for w in range(writers)))

    total = 0
    for i, run_id in enumerate(runs):
        steps = await store.get_steps(run_id)
        assert {s.step_key for s in steps} == {f"w{w}" for w in range(i, writers, len(runs))}
        assert all(s.attempt == rounds - 1 for s in steps)  # the last write of each writer won
        assert all(s.output == {"k": rounds - 1, "pad": "p" * 80} for s in steps)
        total += len(steps)
    assert total == writers


async def test_concurrent_event_appends_keep_per_run_order(store: RunStore) -> None:
    await store.create_run(make_run("r1"))
    await store.create_run(make_run("r2"))
    next_seq = {"r1": 0, "r2": 0}

    async def emit(run_id: str, n: int) -> None:
        for _ in range(n):
            next_seq[run_id] += 1
            await store.append_events([ev(run_id, next_seq[run_id])], durable=False)
            await asyncio.sleep(0)

    await asyncio.gather(*(emit(r, 30) for r in ("r1", "r2", "r1", "r2")))
    for run_id in ("r1", "r2"):
        events = await store.read_events(run_id)
        assert [e.seq for e in events] == list(range(1, 61))


async def test_a_refused_write_does_not_fail_the_writes_committed_with_it(
    store: RunStore,
) -> None:
    await store.create_run(make_run("r1"), [ev("r1", 1)])
    results = await asyncio.gather(
        store.save_step(make_step("r1", "a"), [ev("r1", 2)]),
        store.save_step(make_step("ghost", "a")),
        store.append_events([ev("r1", 1, "duplicate")]),
        store.claim_run("ghost", "worker-a", 30),
        store.save_step(make_step("r1", "b"), [ev("r1", 3)]),
        return_exceptions=True,
    )
    assert results[0] is None and results[4] is None
    assert isinstance(results[1], NotFoundError) and isinstance(results[3], NotFoundError)
    assert isinstance(results[2], StoreError)
    assert [s.step_key for s in await store.get_steps("r1")] == ["a", "b"]
    assert [(e.seq, e.type) for e in await store.read_events("r1")] == [
        (1, "step.succeeded"),
        (2, "step.succeeded"),
        (3, "step.succeeded"),
    ]


async def test_a_durable_write_commits_the_non_durable_ones_before_it(
    store: RunStore,
) -> None:
    await store.create_run(make_run("r1"))
    for k in range(5):
        await store.save_step(make_step("r1", f"s{k}"), [ev("r1", k + 1)], durable=False)
    await store.append_events([ev("r1", 6)])
    assert len(await store.get_steps("r1")) == 5
    assert await store.last_event_seq("r1") == 6


# --- several store objects on one database ---------------------------------------------------


@pytest.mark.parametrize("store_url", SHARED_BACKENDS, indirect=True)
async def test_a_second_store_sees_committed_writes(store: RunStore, open_more: OpenMore) -> None:
    other = await open_more()
    run = make_run("r1")
    await store.create_run(run, [ev("r1", 1)])
    await store.save_step(make_step("r1", "a"), [ev("r1", 2)], durable=False)
    await store.save_step(make_step("r1", "b"), [ev("r1", 3)])  # durable: commits "a" too

    assert await other.get_run("r1") == run
    assert [s.step_key for s in await other.get_steps("r1")] == ["a", "b"]
    assert await other.last_event_seq("r1") == 3
    # and back: a write through the second store, seen by the first
    await other.save_step(make_step("r1", "c"), [ev("r1", 4)])
    assert [s.step_key for s in await store.get_steps("r1")] == ["a", "b", "c"]
    assert [e.seq for e in await store.read_events("r1")] == [1, 2, 3, 4]


@pytest.mark.parametrize("store_url", SHARED_BACKENDS, indirect=True)
async def test_leases_hold_across_store_objects(store: RunStore, open_more: OpenMore) -> None:
    other = await open_more()
    await store.create_run(make_run("r1"))
    results = await asyncio.gather(
        store.claim_run("r1", "worker-a", 30), other.claim_run("r1", "worker-b", 30)
    )
    assert results in ([None, "worker-a"], ["worker-b", None])  # exactly one won
    winner = "worker-a" if results[0] is None else "worker-b"
    await other.force_claim("r1", "worker-c", 30)
    assert await store.claim_run("r1", winner, 30) == "worker-c"


@pytest.mark.parametrize("store_url", SHARED_BACKENDS, indirect=True)
async def test_the_same_plan_from_two_store_objects_is_stored_once(
    store: RunStore, open_more: OpenMore
) -> None:
    other = await open_more()
    await store.create_run(make_run("r1"))
    await other.create_run(make_run("r2"))
    assert (await store.stats())["blobs"] == 1


# --- lifecycle -------------------------------------------------------------------------------


async def test_stats_counts_rows(store: RunStore) -> None:
    await store.create_run(make_run("r1"), [ev("r1", 1)])
    await store.save_step(make_step("r1", "a"), [ev("r1", 2), ev("r1", 3)])
    stats = await store.stats()
    assert {k: stats[k] for k in ("runs", "steps", "events", "checkpoints")} == {
        "runs": 1,
        "steps": 1,
        "events": 3,
        "checkpoints": 0,
    }
    assert stats["bytes"] > 0


async def test_open_is_idempotent(store: RunStore) -> None:
    await store.create_run(make_run("r1"))
    await store.open()
    assert (await store.get_run("r1")).run_id == "r1"
