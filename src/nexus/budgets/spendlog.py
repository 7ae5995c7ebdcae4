"""Where settled spend is kept so that it survives a restart: a tiny key → totals table.

The ledger reads a scope's totals the first time it meets the scope and adds
every settled (or released) call to the totals of each of its scopes. Two
implementations: :class:`SqliteSpendLog` (``$NEXUS_HOME/budgets.db``, the
default) and :class:`MemorySpendLog` (tests, throw-away ledgers).

The SQLite file is written with an ``INSERT … ON CONFLICT DO UPDATE`` that adds
to the stored totals, so several processes sharing one ``NEXUS_HOME`` never lose
each other's spend; each process reads a scope's totals once, when it first
charges a call to it. Daily tenant rows older than :data:`KEEP_DAYS` are
deleted when the file is opened.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from nexus.errors import StoreError

__all__ = ["KEEP_DAYS", "MemorySpendLog", "SpendLog", "SqliteSpendLog", "Totals"]

KEEP_DAYS = 40
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spend (
    scope TEXT PRIMARY KEY,
    usd REAL NOT NULL DEFAULT 0,
    tokens INTEGER NOT NULL DEFAULT 0,
    calls INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_ADD = """
INSERT INTO spend (scope, usd, tokens, calls, updated_at) VALUES (?, ?, ?, ?, ?)
ON CONFLICT(scope) DO UPDATE SET
    usd = usd + excluded.usd,
    tokens = tokens + excluded.tokens,
    calls = calls + excluded.calls,
    updated_at = excluded.updated_at
"""


@dataclass(slots=True)
class Totals:
    """Money, tokens and calls: what a scope has spent."""

    usd: float = 0.0
    tokens: int = 0
    calls: int = 0

    def copy(self) -> Totals:
        return Totals(self.usd, self.tokens, self.calls)


class SpendLog(Protocol):
    """Persistent totals per ledger key."""

    def load(self, key: str) -> Totals:
        """The stored totals of ``key`` (zeros when none)."""
        ...

    def add(self, keys: Sequence[str], amount: Totals) -> None:
        """Add ``amount`` to the totals of every key, atomically."""
        ...

    def close(self) -> None: ...


class MemorySpendLog:
    """Totals in a dict: survives a new ledger object, not a new process."""

    def __init__(self) -> None:
        self._rows: dict[str, Totals] = {}
        self._lock = threading.Lock()

    def load(self, key: str) -> Totals:
        with self._lock:
            found = self._rows.get(key)
            return found.copy() if found is not None else Totals()

    def add(self, keys: Sequence[str], amount: Totals) -> None:
        with self._lock:
            for key in keys:
                row = self._rows.setdefault(key, Totals())
                row.usd += amount.usd
                row.tokens += amount.tokens
                row.calls += amount.calls

    def close(self) -> None:
        return None


class SqliteSpendLog:
    """Totals in a SQLite file (WAL); safe to share between processes."""

    def __init__(self, path: str | Path, *, keep_days: int = KEEP_DAYS) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(self.path), timeout=10.0, check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
            self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            cutoff = time.time() - keep_days * 86_400
            self._db.execute(
                "DELETE FROM spend WHERE scope LIKE 'tenant-day:%' AND updated_at < ?", (cutoff,)
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"budget ledger file {self.path} cannot be opened: {exc}") from exc

    def load(self, key: str) -> Totals:
        with self._lock:
            try:
                row = self._db.execute(
                    "SELECT usd, tokens, calls FROM spend WHERE scope = ?", (key,)
                ).fetchone()
            except sqlite3.Error as exc:
                raise StoreError(f"budget ledger {self.path}: cannot read '{key}': {exc}") from exc
        if row is None:
            return Totals()
        return Totals(float(row[0]), int(row[1]), int(row[2]))

    def add(self, keys: Sequence[str], amount: Totals) -> None:
        now = time.time()
        rows = [(key, amount.usd, amount.tokens, amount.calls, now) for key in keys]
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.executemany(_ADD, rows)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"budget ledger {self.path}: cannot record spend: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()
