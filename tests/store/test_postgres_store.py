"""What only the PostgreSQL store does: schemas in the URL, lost connections, bad addresses."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import psycopg
import pytest

from nexus.domain.runs import RunRecord, StepRecord
from nexus.errors import NotFoundError, StoreError
from nexus.store.sql import PostgresStore

from .conftest import drop_schema, pg_base_url, require_postgres

pytestmark = pytest.mark.postgres


@pytest.fixture
def schemas() -> Iterator[list[str]]:
    require_postgres()
    names = [f"t_{secrets.token_hex(6)}" for _ in range(2)]
    yield names
    for name in names:
        drop_schema(name)


def _run(run_id: str) -> RunRecord:
    return RunRecord(run_id=run_id, plan_name="p", plan={"n": 1}, inputs={})


async def test_stores_in_different_schemas_do_not_see_each_other(schemas: list[str]) -> None:
    async with (
        PostgresStore(f"{pg_base_url()}?schema={schemas[0]}") as first,
        PostgresStore(f"{pg_base_url()}?schema={schemas[1]}") as second,
    ):
        await first.create_run(_run("r1"))
        with pytest.raises(NotFoundError):
            await second.get_run("r1")
        assert (await second.stats())["runs"] == 0
        assert (await first.stats())["runs"] == 1


async def test_the_store_reconnects_after_losing_its_connection(schemas: list[str]) -> None:
    async with PostgresStore(f"{pg_base_url()}?schema={schemas[0]}") as store:
        await store.create_run(_run("r1"))
        pid = store._writer_fairy.driver_connection.info.backend_pid
        libpq_url = pg_base_url().replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(libpq_url, autocommit=True, connect_timeout=5) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

        failures = 0
        for i in range(3):
            try:
                await store.save_step(StepRecord("r1", f"s{i}", "echo"))
            except StoreError:
                failures += 1
        assert failures <= 1  # the write that finds the connection gone may fail, no more
        keys = [s.step_key for s in await store.get_steps("r1")]
        assert len(keys) == 3 - failures and "s2" in keys


async def test_an_unreachable_server_is_a_store_error_without_the_password() -> None:
    store = PostgresStore("postgresql+psycopg://nexus:hunter2@127.0.0.1:1/nexus")
    with pytest.raises(StoreError, match="cannot open the PostgreSQL store") as caught:
        await store.open()
    assert "hunter2" not in str(caught.value)
