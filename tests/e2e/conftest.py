"""End-to-end fixtures: the real `nexus` CLI in subprocesses, on SQLite or PostgreSQL."""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ADMIN_URL = os.environ.get(
    "NEXUS_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
).replace("postgresql+psycopg://", "postgresql://")


def nexus_cmd() -> list[str]:
    exe = shutil.which("nexus", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "nexus.cli.app"]


@pytest.fixture
def pg_database_url() -> Iterator[str]:
    """A fresh PostgreSQL database on loopback; fails (does not skip) when it is missing in CI."""
    psycopg = pytest.importorskip("psycopg")
    name = f"nexus_e2e_{secrets.token_hex(4)}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but not reachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
