"""A SQLAlchemy engine on the run store's database URL, for the tenancy tables.

- ``sqlite:///path``: the same file as the run store; WAL mode, a busy
  timeout, and writes that take the write lock up front (``BEGIN IMMEDIATE``)
  so two processes never deadlock upgrading a read lock.
- ``memory://`` (and the other in-memory store URLs): a private in-memory
  SQLite database, for tests and one-process use.
- ``postgresql+psycopg://…[?schema=name]``: the same database and schema
  (search path) as the run store.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import StaticPool

from nexus.errors import ConfigError

_MEMORY_URLS = ("memory://", "sqlite://", "sqlite:///:memory:")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
BUSY_TIMEOUT_MS = 10_000
CONNECT_TIMEOUT_S = 10
#: execution option that marks a connection for a write transaction (``BEGIN IMMEDIATE``)
WRITE = "nexus_write"


def make_engine(store_url: str) -> tuple[Engine, str | None]:
    """The engine for ``store_url`` and the PostgreSQL schema named in it (or None)."""
    if store_url in _MEMORY_URLS:
        engine = create_engine(
            "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
        _sqlite_events(engine, wal=False)
        return engine, None
    if store_url.startswith("sqlite:///"):
        path = Path(store_url.removeprefix("sqlite:///"))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create the directory of the store {path}: {exc}") from exc
        engine = create_engine(
            store_url,
            connect_args={"check_same_thread": False},
            pool_size=4,
            max_overflow=4,
        )
        _sqlite_events(engine, wal=True)
        return engine, None
    scheme, sep, rest = store_url.partition("://")
    if sep and scheme in ("postgresql+psycopg", "postgresql", "postgres"):
        try:
            url = make_url(f"postgresql+psycopg://{rest}")
        except Exception as exc:
            raise ConfigError(f"not a database URL: {store_url!r} ({exc})") from exc
        schema = url.query.get("schema")
        if isinstance(schema, tuple):
            schema = schema[-1]
        connect_args: dict[str, Any] = {"connect_timeout": CONNECT_TIMEOUT_S}
        if schema is not None:
            if not _IDENTIFIER.fullmatch(schema):
                raise ConfigError(f"schema name {schema!r} in the store URL is not an identifier")
            connect_args["options"] = f"-c search_path={schema}"
            url = url.difference_update_query(["schema"])
        engine = create_engine(
            url, connect_args=connect_args, pool_size=4, max_overflow=8, pool_pre_ping=True
        )
        return engine, schema
    raise ConfigError(
        f"unsupported store URL {store_url!r} for tenancy: expected sqlite:///path/to/nexus.db, "
        "postgresql+psycopg://user@host/db or memory://"
    )


def _sqlite_events(engine: Engine, *, wal: bool) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # transactions are begun below, not implicitly
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if wal:
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
