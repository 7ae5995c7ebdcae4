"""The PostgreSQL run store (``postgresql+psycopg://user@host:port/db``), psycopg 3.

Write batches run on one dedicated connection in a worker thread (group
commit in :class:`~nexus.store._commit.ThreadCommit`); reads take a pooled
connection in a worker thread. The URL may name a schema with
``?schema=name``: it is created if missing and used as the search path, so
several stores can share one database.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any

import psycopg
import psycopg.errors
from sqlalchemy import create_engine
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from nexus.errors import ConfigError, StoreError
from nexus.store._commit import ThreadCommit, _GroupCommit
from nexus.store._schema import SCHEMA_VERSION
from nexus.store._sqlbase import Row, SqlStore, check_schema_version, clock
from nexus.store._statements import Statements
from nexus.store._writer import BatchWriter, Op, Outcome

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
#: Serializes schema creation between processes (pg_advisory_xact_lock key).
_SCHEMA_LOCK = 0x6E657875  # "nexu"
_CONNECT_TIMEOUT_S = 10


class PostgresStore(SqlStore):
    """The run store in a PostgreSQL database."""

    backend = "postgresql"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._url, self.schema = _split_schema(url)
        self._engine: Engine | None = None
        self._writer_fairy: Any = None
        self._writer: BatchWriter | None = None

    @property
    def safe_url(self) -> str:
        return self._url.render_as_string(hide_password=True)

    async def _open(self) -> tuple[Statements, _GroupCommit]:
        return await asyncio.to_thread(self._open_sync)

    def _open_sync(self) -> tuple[Statements, _GroupCommit]:
        connect_args: dict[str, Any] = {"connect_timeout": _CONNECT_TIMEOUT_S}
        if self.schema:
            connect_args["options"] = f"-c search_path={self.schema}"
        self._engine = create_engine(
            self._url, connect_args=connect_args, pool_size=4, max_overflow=8, pool_pre_ping=True
        )
        try:
            self._writer_fairy = self._engine.raw_connection()
            conn: psycopg.Connection[Any] = self._writer_fairy.driver_connection
            stmts = Statements(self._engine.dialect)
            self._create_schema(conn, stmts)
        except (psycopg.Error, SQLAlchemyError) as exc:
            self._close_sync()
            raise StoreError(f"cannot open the PostgreSQL store at {self.safe_url}: {exc}") from exc
        except BaseException:
            self._close_sync()
            raise
        self._writer = BatchWriter(
            stmts,
            begin=None,
            integrity_error=psycopg.IntegrityError,
            fatal_errors=(psycopg.OperationalError, psycopg.InterfaceError),
            retry_errors=(psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure),
            clock=clock,
        )
        return stmts, ThreadCommit(self._apply)

    def _apply(self, ops: list[Op]) -> list[Outcome]:
        """Commit a batch on the writer connection, reconnecting once it has broken."""
        assert self._engine is not None and self._writer is not None
        conn = self._writer_fairy.driver_connection
        if conn is None or conn.closed or conn.broken:
            with contextlib.suppress(Exception):
                self._writer_fairy.invalidate()
            try:
                self._writer_fairy = self._engine.raw_connection()
            except (psycopg.Error, SQLAlchemyError) as exc:
                error = StoreError(f"cannot reach the PostgreSQL store at {self.safe_url}: {exc}")
                return [error] * len(ops)
            conn = self._writer_fairy.driver_connection
        return self._writer.apply(conn, ops)

    def _create_schema(self, conn: psycopg.Connection[Any], stmts: Statements) -> None:
        with conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
            if self.schema:
                cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            cur.execute("SELECT to_regclass('meta') IS NOT NULL")
            row = cur.fetchone()
            found = None
            if row is not None and row[0]:
                cur.execute(stmts.meta_get, {"key": "schema_version"})
                version = cur.fetchone()
                found = None if version is None else version[0]
            try:
                check_schema_version(found, self.safe_url)
            except ConfigError:
                conn.rollback()
                raise
            for ddl in stmts.create:
                cur.execute(ddl)
            if found is None:
                cur.execute(stmts.meta_put, {"key": "schema_version", "value": str(SCHEMA_VERSION)})
        conn.commit()

    async def _fetch(self, sql: str, params: dict[str, Any]) -> list[Row]:
        return await asyncio.to_thread(self._fetch_sync, sql, params)

    def _fetch_sync(self, sql: str, params: dict[str, Any]) -> list[Row]:
        assert self._engine is not None
        try:
            fairy = self._engine.raw_connection()
            try:
                cur = fairy.cursor()
                cur.execute(sql, params)
                rows: list[Row] = list(cur.fetchall())
                fairy.rollback()
                return rows
            finally:
                fairy.close()
        except (psycopg.Error, SQLAlchemyError) as exc:
            raise StoreError(
                f"reading the PostgreSQL store at {self.safe_url} failed: {exc}"
            ) from exc

    async def _bytes_on_disk(self) -> int:
        sql = (
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind = 'r' "
            "AND c.relname IN ('runs', 'steps', 'events', 'blobs', 'checkpoints', 'meta')"
        )
        rows = await self._fetch(sql, {})
        return int(rows[0][0])

    def _close_sync(self) -> None:
        if self._writer_fairy is not None:
            with contextlib.suppress(Exception):  # a broken connection is dropped anyway
                self._writer_fairy.close()
            self._writer_fairy = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _split_schema(url: str) -> tuple[URL, str | None]:
    try:
        parsed = make_url(url)
    except Exception as exc:
        raise ConfigError(f"not a database URL: {url!r} ({exc})") from exc
    schema = parsed.query.get("schema")
    if isinstance(schema, tuple):
        schema = schema[-1]
    if schema is None:
        return parsed, None
    if not _IDENTIFIER.fullmatch(schema):
        raise ConfigError(f"schema name {schema!r} in the store URL is not a plain identifier")
    return parsed.difference_update_query(["schema"]), schema
