"""The SQL run store: everything SQLite and PostgreSQL share.

Writes become :class:`~nexus.store._writer.Op` values (records are encoded
at once, so a caller may change its record right after the call) and go
through group commit. Reads first wait for the writes queued before them, so
a store always reads its own writes.

A dialect subclass provides the connection, the schema set-up, how a batch
and a query are run (inline or in a thread) and the bytes on disk.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from nexus.domain.runs import Checkpoint, Event, RunRecord, RunStatus, StepRecord
from nexus.errors import ConfigError, NotFoundError, StoreError
from nexus.store import _codec
from nexus.store._commit import _GroupCommit
from nexus.store._schema import SCHEMA_VERSION
from nexus.store._statements import Statements
from nexus.store._writer import Kind, Op

Row = tuple[Any, ...]


class SqlStore(ABC):
    """A :class:`~nexus.store.base.RunStore` on an SQL database through SQLAlchemy Core.

    ``get_steps`` returns steps ordered by step key; ``list_checkpoints``
    oldest first. Steps and events of a run that was never created are
    refused with :class:`~nexus.errors.NotFoundError`.
    """

    backend: str = "sql"

    def __init__(self, url: str) -> None:
        self.url = url
        self._sql: Statements | None = None
        self._commit: _GroupCommit | None = None
        self._closed = False

    # -- dialect hooks --------------------------------------------------------------

    @abstractmethod
    def _open_sync(self) -> tuple[Statements, _GroupCommit]:
        """Connect, create or check the schema; return the statements and the committer."""

    @abstractmethod
    async def _fetch(self, sql: str, params: dict[str, Any]) -> list[Row]:
        """Run a query on committed data."""

    @abstractmethod
    async def _bytes_on_disk(self) -> int: ...

    @abstractmethod
    def _close_sync(self) -> None: ...

    async def _open(self) -> tuple[Statements, _GroupCommit]:
        return self._open_sync()

    # -- lifecycle ----------------------------------------------------------------------

    async def open(self) -> None:
        if self._commit is not None:
            return
        if self._closed:
            raise StoreError(f"the store at {self.safe_url} is closed")
        self._sql, self._commit = await self._open()

    async def close(self) -> None:
        if self._commit is None:
            self._closed = True
            return
        try:
            await self._commit.drain()
        finally:
            self._commit = None
            self._closed = True
            self._close_sync()

    async def __aenter__(self) -> SqlStore:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def safe_url(self) -> str:
        """The URL without its password, for messages."""
        return self.url

    def _committer(self) -> _GroupCommit:
        if self._commit is None:
            state = "closed" if self._closed else "not open (await store.open() first)"
            raise StoreError(f"the store at {self.safe_url} is {state}")
        return self._commit

    def _statements(self) -> Statements:
        self._committer()
        assert self._sql is not None
        return self._sql

    async def _write(self, op: Op, durable: bool = True) -> Any:
        return await self._committer().write(op, durable)

    async def _read(self, sql: str, params: dict[str, Any], run_id: str | None = None) -> list[Row]:
        """Rows of a query, after the queued writes it may read: those of ``run_id`` when
        the query reads one run's rows only, else all of them."""
        await self._committer().drain(run_id)
        return await self._fetch(sql, params)

    # -- runs ---------------------------------------------------------------------------

    async def create_run(
        self,
        run: RunRecord,
        events: Sequence[Event] = (),
        *,
        lease_owner: str | None = None,
        lease_ttl_s: float = 30.0,
    ) -> None:
        blobs: _codec.Blobs = {}
        row = _codec.run_row(run, blobs)
        op = Op(Kind.CREATE_RUN, run.run_id, row, _events(events), blobs)
        if lease_owner is not None:
            op.lease = (lease_owner, float(lease_ttl_s))
        await self._write(op)

    async def update_run(
        self,
        run: RunRecord,
        events: Sequence[Event] = (),
        *,
        durable: bool = True,
        release_owner: str | None = None,
    ) -> None:
        blobs: _codec.Blobs = {}
        row = _codec.run_row(run, blobs)
        op = Op(Kind.UPDATE_RUN, run.run_id, row, _events(events), blobs, release=release_owner)
        await self._write(op, durable)

    async def get_run(self, run_id: str) -> RunRecord:
        rows = await self._read(self._statements().run_get, {"run_id": run_id}, run_id)
        if not rows:
            raise NotFoundError(f"no run with id '{run_id}'")
        return _codec.run_from(rows[0])

    async def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        tenant_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[RunRecord]:
        sql = self._statements().run_list[(status is not None, tenant_id is not None)]
        params: dict[str, Any] = {"limit": int(limit), "offset": int(offset)}
        if status is not None:
            params["status"] = str(status)
        if tenant_id is not None:
            params["tenant"] = tenant_id
        return [_codec.run_from(row) for row in await self._read(sql, params)]

    # -- steps ----------------------------------------------------------------------------

    async def save_step(
        self, step: StepRecord, events: Sequence[Event] = (), *, durable: bool = True
    ) -> None:
        blobs: _codec.Blobs = {}
        row = _codec.step_row(step, blobs)
        await self._write(Op(Kind.STEP, step.run_id, row, _events(events), blobs), durable)

    async def get_steps(self, run_id: str) -> list[StepRecord]:
        rows = await self._read(self._statements().steps_get, {"run_id": run_id}, run_id)
        return [_codec.step_from(run_id, row) for row in rows]

    async def delete_steps(self, run_id: str, step_keys: Sequence[str]) -> None:
        await self._write(Op(Kind.DELETE_STEPS, run_id, list(step_keys)))

    # -- events ---------------------------------------------------------------------------

    async def append_events(self, events: Sequence[Event], *, durable: bool = True) -> None:
        if events:
            await self._write(Op(Kind.EVENTS, events[0].run_id, None, _events(events)), durable)

    async def read_events(self, run_id: str, after_seq: int = 0, limit: int = 1000) -> list[Event]:
        params = {"run_id": run_id, "after": int(after_seq), "limit": int(limit), "offset": 0}
        rows = await self._read(self._statements().events_get, params, run_id)
        return [_codec.event_from(run_id, row[0], row[1:]) for row in rows]

    async def last_event_seq(self, run_id: str) -> int:
        rows = await self._read(self._statements().events_last, {"run_id": run_id}, run_id)
        return int(rows[0][0] or 0) if rows else 0

    # -- checkpoints ------------------------------------------------------------------------

    async def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        blobs: _codec.Blobs = {}
        row = _codec.checkpoint_row(checkpoint, blobs)
        await self._write(Op(Kind.CHECKPOINT, checkpoint.run_id, row, blobs=blobs))

    async def get_checkpoint(self, checkpoint_id: str) -> Checkpoint:
        sql = self._statements().checkpoint_get
        rows = await self._read(sql, {"checkpoint_id": checkpoint_id})
        if not rows:
            raise NotFoundError(f"no checkpoint with id '{checkpoint_id}'")
        return _codec.checkpoint_from(rows[0])

    async def list_checkpoints(self, run_id: str) -> list[Checkpoint]:
        sql = self._statements().checkpoints_list
        rows = await self._read(sql, {"run_id": run_id}, run_id)
        return [_codec.checkpoint_from(row) for row in rows]

    # -- leases -----------------------------------------------------------------------------

    async def claim_run(self, run_id: str, owner: str, ttl_s: float) -> str | None:
        result: str | None = await self._write(Op(Kind.CLAIM, run_id, (owner, float(ttl_s))))
        return result

    async def release_run(self, run_id: str, owner: str) -> None:
        await self._write(Op(Kind.RELEASE, run_id, owner))

    async def force_claim(self, run_id: str, owner: str, ttl_s: float) -> None:
        await self._write(Op(Kind.FORCE, run_id, (owner, float(ttl_s))))

    async def list_claimable(self, limit: int = 50) -> list[str]:
        params = {"now": clock(), "limit": int(max(limit, 0)), "offset": 0}
        return [str(row[0]) for row in await self._read(self._statements().runs_claimable, params)]

    # -- stats --------------------------------------------------------------------------------

    async def stats(self) -> dict[str, Any]:
        sql = self._statements()
        out: dict[str, Any] = {"backend": self.backend, "schema_version": SCHEMA_VERSION}
        for table, count_sql in sql.counts.items():
            out[table] = int((await self._read(count_sql, {}))[0][0])
        out["blob_bytes"] = int((await self._read(sql.blob_bytes, {}))[0][0])
        out["bytes"] = await self._bytes_on_disk()
        commit = self._committer()
        out["batches"] = commit.batches
        out["writes"] = commit.ops
        return out


def _events(events: Sequence[Event]) -> list[dict[str, Any]]:
    return [_codec.event_row(e) for e in events]


def check_schema_version(found: str | None, where: str) -> None:
    """Refuse a store written by a newer Nexus (or with a version we cannot read)."""
    if found is None:
        return
    try:
        version = int(found)
    except ValueError:
        raise ConfigError(
            f"the store at {where} has an unreadable schema version {found!r}"
        ) from None
    if version > SCHEMA_VERSION:
        raise ConfigError(
            f"the store at {where} has schema version {version}, newer than this Nexus "
            f"understands ({SCHEMA_VERSION}); upgrade Nexus"
        )
    if version < SCHEMA_VERSION:
        raise ConfigError(
            f"the store at {where} has schema version {version}; this Nexus needs "
            f"{SCHEMA_VERSION} and has no migration from it"
        )


def clock() -> float:
    return time.time()
