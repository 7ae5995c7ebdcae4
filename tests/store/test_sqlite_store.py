"""What only the SQLite file store does: its file, other processes, group commit figures."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from nexus.domain.runs import Event, RunRecord, StepRecord, StepStatus
from nexus.errors import ConfigError, StoreError
from nexus.store.sql import SCHEMA_VERSION, SqliteStore


def _run(run_id: str) -> RunRecord:
    return RunRecord(run_id=run_id, plan_name="p", plan={"steps": ["a"] * 40}, inputs={})


def _step(run_id: str, key: str, attempt: int = 1) -> StepRecord:
    output = {"a": attempt}
    return StepRecord(run_id, key, "echo", StepStatus.SUCCEEDED, attempt, {"k": key}, output)


async def test_the_file_uses_wal_and_its_directory_is_created(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "nexus.db"
    async with SqliteStore(f"sqlite:///{path}") as store:
        await store.create_run(_run("r1"))
    assert path.is_file()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert version == (str(SCHEMA_VERSION),)


async def test_a_directory_that_cannot_be_created_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    store = SqliteStore(f"sqlite:///{blocker / 'sub' / 'nexus.db'}")
    with pytest.raises(ConfigError, match=r"cannot create the directory .*a-file/sub"):
        await store.open()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into read-only directories")
async def test_a_read_only_directory_is_a_config_error(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(ConfigError, match="is not writable"):
            await SqliteStore(f"sqlite:///{locked / 'nexus.db'}").open()
    finally:
        locked.chmod(0o755)


async def test_a_store_from_a_newer_nexus_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nexus.db"
    async with SqliteStore(f"sqlite:///{path}"):
        pass
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(99),))
    with pytest.raises(ConfigError, match="schema version 99, newer than this Nexus"):
        await SqliteStore(f"sqlite:///{path}").open()


async def test_a_closed_or_unopened_store_says_so(tmp_path: Path) -> None:
    store = SqliteStore(f"sqlite:///{tmp_path / 'nexus.db'}")
    with pytest.raises(StoreError, match="not open"):
        await store.get_run("r1")
    await store.open()
    await store.close()
    with pytest.raises(StoreError, match="is closed"):
        await store.create_run(_run("r1"))


async def test_close_commits_pending_non_durable_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nexus.db'}"
    async with SqliteStore(url) as store:
        await store.create_run(_run("r1"))
        for i in range(10):
            await store.save_step(_step("r1", f"s{i}"), durable=False)
    async with SqliteStore(url) as again:
        assert len(await again.get_steps("r1")) == 10


async def test_concurrent_durable_writes_share_commits(tmp_path: Path) -> None:
    async with SqliteStore(f"sqlite:///{tmp_path / 'nexus.db'}") as store:
        await store.create_run(_run("r1"))
        before = await store.stats()

        async def writer(w: int) -> None:
            for k in range(20):
                await store.save_step(_step("r1", f"w{w}", attempt=k))

        await asyncio.gather(*(writer(w) for w in range(100)))
        after = await store.stats()

    writes = after["writes"] - before["writes"]
    batches = after["batches"] - before["batches"]
    assert writes == 2000
    assert batches <= 40  # about one commit per round of the 100 writers, not one per write
    assert after["steps"] == 100


_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from nexus.domain.runs import Event, StepRecord, StepStatus
    from nexus.store.sql import SqliteStore

    async def main(url):
        async with SqliteStore(url) as store:
            print(await store.claim_run("shared", "child", 30), flush=True)
            async def writer(w):
                for k in range(100):
                    step = StepRecord("shared", f"child-{w}", "echo", StepStatus.SUCCEEDED, k)
                    await store.save_step(step)
            await asyncio.gather(*(writer(w) for w in range(5)))
            await store.append_events([Event("shared", 1000, "child.done", {})])

    asyncio.run(main(sys.argv[1]))
    """
)


async def test_another_process_writes_the_same_file_at_the_same_time(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nexus.db'}"
    async with SqliteStore(url) as store:
        await store.create_run(_run("shared"))
        assert await store.claim_run("shared", "parent", 30) is None
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _CHILD,
            url,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

        async def parent_writes() -> None:
            for k in range(300):
                await store.save_step(_step("shared", f"parent-{k % 5}", attempt=k))
                if k % 50 == 0:
                    await asyncio.sleep(0.01)

        await parent_writes()
        out, err = await asyncio.wait_for(child.communicate(), timeout=60)
        assert child.returncode == 0, err.decode()
        assert out.decode().strip() == "parent"  # the child saw the parent's lease

        steps = {s.step_key: s for s in await store.get_steps("shared")}
        assert len(steps) == 10
        assert all(steps[f"child-{w}"].attempt == 99 for w in range(5))
        assert steps["parent-4"].attempt == 299
        events = await store.read_events("shared")
        assert [(e.seq, e.type) for e in events] == [(1000, "child.done")]
        assert events[0] == Event("shared", 1000, "child.done", {}, ts=events[0].ts)
