"""Fixtures for the run store tests: one ``store`` per backend, each isolated.

PostgreSQL is expected on loopback (``NEXUS_TEST_POSTGRES_URL`` overrides the
URL). Without it the PostgreSQL cases are skipped on a developer machine and
fail when ``CI`` is set: CI must never pass by skipping them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from nexus.store.base import RunStore
from nexus.store.factory import open_store

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

_pg_problem: list[str] = []  # filled once: empty = reachable


def pg_base_url() -> str:
    return os.environ.get("NEXUS_TEST_POSTGRES_URL", DEFAULT_PG_URL)


def _libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def require_postgres() -> None:
    """Skip (or fail under CI) when the test PostgreSQL server cannot be reached."""
    if not _pg_problem:
        try:
            with psycopg.connect(_libpq_url(pg_base_url()), connect_timeout=5) as conn:
                conn.execute("SELECT 1")
            _pg_problem.append("")
        except psycopg.Error as exc:
            _pg_problem.append(f"PostgreSQL at {pg_base_url()} is not reachable: {exc}")
    problem = _pg_problem[0]
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)


def drop_schema(schema: str) -> None:
    with psycopg.connect(_libpq_url(pg_base_url()), connect_timeout=5, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store URL for the backend named by the test's ``backend`` parameter."""
    backend = request.param
    if backend == "memory":
        yield "memory://"
    elif backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'store' / 'nexus.db'}"
    else:
        require_postgres()
        schema = f"t_{secrets.token_hex(6)}"
        try:
            yield f"{pg_base_url()}?schema={schema}"
        finally:
            drop_schema(schema)


@pytest.fixture
async def open_more(store_url: str) -> AsyncIterator[Callable[[], Awaitable[RunStore]]]:
    """Opens further store objects on the same URL; all are closed at the end."""
    opened: list[RunStore] = []

    async def _open() -> RunStore:
        s = open_store(store_url)
        await s.open()
        opened.append(s)
        return s

    yield _open
    for s in reversed(opened):
        await s.close()


@pytest.fixture
async def store(open_more: Callable[[], Awaitable[RunStore]]) -> RunStore:
    return await open_more()
