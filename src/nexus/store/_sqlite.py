"""The SQLite run store: one file, WAL mode, one connection used on the event loop thread.

Several processes may open the same file (a CLI command next to a running
server): WAL lets readers work while one writer commits, every write batch
takes the write lock up front (``BEGIN IMMEDIATE``) and waits up to
``busy_timeout`` for it. ``synchronous=NORMAL`` keeps every commit safe from
a killed process (not from a power cut) without an fsync per commit.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from nexus.errors import ConfigError, StoreError
from nexus.store._commit import InlineCommit, _GroupCommit
from nexus.store._schema import SCHEMA_VERSION
from nexus.store._sqlbase import Row, SqlStore, check_schema_version, clock
from nexus.store._statements import Statements
from nexus.store._writer import BatchWriter

#: How long a write waits for another process's write lock before failing (ms).
BUSY_TIMEOUT_MS = 10_000


class SqliteStore(SqlStore):
    """The run store in an SQLite file (``sqlite:///path/to/nexus.db``)."""

    backend = "sqlite"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.path = sqlite_path(url)
        self._engine: Engine | None = None
        self._fairy: Any = None
        self._conn: sqlite3.Connection | None = None

    def _open_sync(self) -> tuple[Statements, _GroupCommit]:
        _check_directory(self.path)
        self._engine = create_engine(
            f"sqlite:///{self.path}", paramstyle="named", poolclass=NullPool
        )
        try:
            self._fairy = self._engine.raw_connection()
            conn: sqlite3.Connection = self._fairy.driver_connection
            conn.isolation_level = None  # we open transactions ourselves
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            stmts = Statements(self._engine.dialect)
            _create_schema(conn, stmts, str(self.path))
        except sqlite3.Error as exc:
            self._close_sync()
            raise ConfigError(f"cannot open the SQLite store at {self.path}: {exc}") from exc
        except BaseException:
            self._close_sync()
            raise
        self._conn = conn
        writer = BatchWriter(
            stmts,
            begin="BEGIN IMMEDIATE",
            integrity_error=sqlite3.IntegrityError,
            fatal_errors=(sqlite3.OperationalError, sqlite3.InterfaceError),
            clock=clock,
        )
        return stmts, InlineCommit(lambda ops: writer.apply(conn, ops))

    async def _fetch(self, sql: str, params: dict[str, Any]) -> list[Row]:
        assert self._conn is not None
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"reading the SQLite store at {self.path} failed: {exc}") from exc

    async def _bytes_on_disk(self) -> int:
        assert self._conn is not None
        pages = self._conn.execute("PRAGMA page_count").fetchone()[0]
        size = self._conn.execute("PRAGMA page_size").fetchone()[0]
        return int(pages) * int(size)

    def _close_sync(self) -> None:
        self._conn = None
        if self._fairy is not None:
            self._fairy.close()
            self._fairy = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def sqlite_path(url: str) -> Path:
    """The file of an ``sqlite:///…`` URL (``sqlite:////abs/path`` or ``sqlite:///rel/path``)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ConfigError(f"not an SQLite file URL: {url!r} (expected sqlite:///path/to/file.db)")
    return Path(url[len(prefix) :].split("?", 1)[0]).expanduser()


def _check_directory(path: Path) -> None:
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot create the directory {directory} for the SQLite store {path.name}: "
            f"{exc.strerror or exc}"
        ) from exc
    if not directory.is_dir():
        raise ConfigError(f"the SQLite store's directory {directory} is not a directory")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(
            f"the SQLite store's directory {directory} is not writable "
            "(SQLite needs to create its -wal and -shm files beside the database)"
        )
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise ConfigError(f"the SQLite store {path} is not readable and writable")


def _create_schema(conn: sqlite3.Connection, stmts: Statements, where: str) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = None
        has_meta = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
        ).fetchone()
        if has_meta:
            row = conn.execute(stmts.meta_get, {"key": "schema_version"}).fetchone()
        check_schema_version(None if row is None else row[0], where)
        for ddl in stmts.create:
            conn.execute(ddl)
        if row is None:
            conn.execute(stmts.meta_put, {"key": "schema_version", "value": str(SCHEMA_VERSION)})
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
