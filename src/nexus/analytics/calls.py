"""Model calls made outside runs (the OpenAI- and Anthropic-compatible gateway), kept for
usage analytics (O1).

Runs account their model calls in the step journal (:mod:`nexus.analytics.usage`);
a call through the gateway has no run, so it is one :class:`CallRecord` in a
:class:`CallLog`: who (tenant, key), which API, the model asked for and the model
that answered, tokens of every kind, cost, latency, outcome, whether the cache
answered and whether it streamed.

``record`` never blocks the caller: records are gathered and written by a
background flush (a thread, one transaction per batch) at most
``flush_interval_s`` later; ``flush`` writes what is pending at once, ``close``
flushes and closes. The file is ``$NEXUS_HOME/calls.db`` (WAL), which several
processes on one home share. :meth:`CallLog.usage_records` turns records into
:class:`~nexus.analytics.usage.UsageRecord` rows (agent ``gateway``), so calls
count in the usage reports next to run steps.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from dataclasses import astuple, dataclass, fields
from pathlib import Path

from nexus.analytics.usage import UsageRecord
from nexus.errors import StoreError

__all__ = ["CALLS_FILE", "GATEWAY_AGENT", "CallLog", "CallRecord", "to_usage_record"]

log = logging.getLogger("nexus.analytics.calls")

CALLS_FILE = "calls.db"
#: the ``agent`` that usage reports show for gateway calls
GATEWAY_AGENT = "gateway"


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One model call made through the gateway."""

    ts: float
    tenant_id: str
    key_id: str | None
    api: str
    model: str
    answered_by: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    cost_usd: float = 0.0
    latency_s: float = 0.0
    success: bool = True
    error: str | None = None
    cached: bool = False
    stream: bool = False


_COLUMNS = tuple(f.name for f in fields(CallRecord))
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS calls (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    {", ".join(_COLUMNS)}
);
CREATE INDEX IF NOT EXISTS calls_tenant_ts ON calls (tenant_id, ts);
CREATE INDEX IF NOT EXISTS calls_ts ON calls (ts);
"""
_INSERT = f"INSERT INTO calls ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' for _ in _COLUMNS)})"


class CallLog:
    """Call records in a SQLite file, written in batches off the caller's path."""

    def __init__(self, path: str | Path, *, flush_interval_s: float = 0.2) -> None:
        self.path = Path(path)
        self.flush_interval_s = flush_interval_s
        self.written = 0
        self._pending: list[CallRecord] = []
        self._lock = threading.Lock()
        self._db_lock = threading.Lock()
        self._scheduled: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(self.path), timeout=10.0, check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"call log {self.path} cannot be opened: {exc}") from exc

    @classmethod
    def open(cls, home: str | Path) -> CallLog:
        return cls(Path(home) / CALLS_FILE)

    # writing ---------------------------------------------------------------------------
    def record(self, entry: CallRecord) -> None:
        """Queue ``entry``; it is written within ``flush_interval_s`` (in an event loop) or
        at the next ``flush``/``close``."""
        with self._lock:
            self._pending.append(entry)
        if self._scheduled is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._scheduled = loop.call_later(self.flush_interval_s, self._start_flush, loop)

    def _start_flush(self, loop: asyncio.AbstractEventLoop) -> None:
        self._scheduled = None
        if self._flushing is None or self._flushing.done():
            self._flushing = loop.create_task(self._flush_in_thread())

    async def _flush_in_thread(self) -> None:
        try:
            await asyncio.to_thread(self.flush_sync)
        except StoreError as exc:
            log.error("call log: %s", exc.message)

    def flush_sync(self) -> int:
        """Write what is pending now (in this thread); the number of records written."""
        with self._lock:
            batch, self._pending = self._pending, []
        if not batch:
            return 0
        with self._db_lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.executemany(_INSERT, [astuple(r) for r in batch])
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                with self._lock:  # keep them for the next attempt
                    self._pending[:0] = batch
                raise StoreError(f"call log {self.path}: cannot write calls: {exc}") from exc
        self.written += len(batch)
        return len(batch)

    async def flush(self) -> None:
        """Write everything recorded so far (waits for a flush under way)."""
        if self._flushing is not None and not self._flushing.done():
            await self._flushing
        await asyncio.to_thread(self.flush_sync)

    def close(self) -> None:
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None
        try:
            self.flush_sync()
        finally:
            with self._db_lock:
                self._db.close()

    # reading ---------------------------------------------------------------------------
    def read_sync(
        self,
        *,
        tenant_id: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100_000,
    ) -> list[CallRecord]:
        """Written records in ``[since, until)``, of one tenant or all, oldest first."""
        where: list[str] = []
        args: list[object] = []
        if tenant_id is not None:
            where.append("tenant_id = ?")
            args.append(tenant_id)
        if since is not None:
            where.append("ts >= ?")
            args.append(since)
        if until is not None:
            where.append("ts < ?")
            args.append(until)
        sql = f"SELECT {', '.join(_COLUMNS)} FROM calls"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY ts LIMIT ?"
        args.append(limit)
        with self._db_lock:
            try:
                rows = self._db.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise StoreError(f"call log {self.path}: cannot read calls: {exc}") from exc
        return [_from_row(row) for row in rows]

    async def usage_records(
        self,
        *,
        tenant_id: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[UsageRecord]:
        """The calls in ``[since, until)`` as usage records (pending ones written first)."""
        await self.flush()
        calls = await asyncio.to_thread(
            self.read_sync, tenant_id=tenant_id, since=since, until=until
        )
        return [to_usage_record(call, seq) for seq, call in enumerate(calls, 1)]


def _from_row(row: tuple[object, ...]) -> CallRecord:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["success"] = bool(values["success"])
    values["cached"] = bool(values["cached"])
    values["stream"] = bool(values["stream"])
    return CallRecord(**values)  # type: ignore[arg-type]


def to_usage_record(call: CallRecord, seq: int = 0) -> UsageRecord:
    """A call as a usage-analytics row: agent ``gateway``, the model that answered."""
    return UsageRecord(
        ts=call.ts,
        tenant_id=call.tenant_id,
        run_id="",
        step_key=f"{call.api}:{seq}",
        agent=GATEWAY_AGENT,
        model=call.answered_by or call.model,
        input_tokens=call.input_tokens,
        output_tokens=call.output_tokens + call.reasoning_tokens,
        cache_read_tokens=call.cache_read_tokens,
        cost_usd=round(call.cost_usd, 10),
        duration_s=max(call.latency_s, 0.0),
        success=call.success,
    )
