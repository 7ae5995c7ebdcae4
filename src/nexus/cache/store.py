"""The two tiers of the response cache: an in-memory LRU with TTLs and a SQLite file.

:class:`MemoryCache` keeps at most ``max_entries`` values; reading a value makes
it the most recently used, adding one beyond the limit evicts the least recently
used, and a value past its expiry time is dropped when it is next read.

:class:`SqliteCache` keeps ``key → (value bytes, expiry)`` rows in a WAL-mode
SQLite file (shared safely by several processes on one ``NEXUS_HOME``). Expired
rows are deleted when read, and in bulk every :data:`PRUNE_EVERY` writes, which
also trims the table to ``max_rows`` (oldest first).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from nexus.errors import ConfigError, StoreError

__all__ = ["PRUNE_EVERY", "MemoryCache", "SqliteCache", "TierCounts"]

V = TypeVar("V")
Clock = Callable[[], float]

PRUNE_EVERY = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    model TEXT NOT NULL DEFAULT '',
    scope TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_expiry ON responses (expires_at);
"""


@dataclass(slots=True)
class TierCounts:
    """What one tier did: values dropped for age (``expired``) and for room (``evicted``)."""

    expired: int = 0
    evicted: int = 0


class MemoryCache(Generic[V]):
    """A least-recently-used map with a time to live per value."""

    def __init__(self, max_entries: int, *, clock: Clock = time.monotonic) -> None:
        if max_entries < 1:
            raise ConfigError(f"an in-memory cache needs room for an entry, not {max_entries}")
        self.max_entries = max_entries
        self.counts = TierCounts()
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: str) -> V | None:
        """The value under ``key`` if present and not expired (it becomes the most recent)."""
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            expires, value = found
            if expires <= self._clock():
                del self._items[key]
                self.counts.expired += 1
                return None
            self._items.move_to_end(key)
            return value

    def put(self, key: str, value: V, ttl_s: float) -> None:
        """Keep ``value`` for ``ttl_s`` seconds (replacing an older value of ``key``)."""
        with self._lock:
            self._items[key] = (self._clock() + ttl_s, value)
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
                self.counts.evicted += 1

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class SqliteCache:
    """Cached values in a SQLite file, with an expiry time per row."""

    def __init__(
        self, path: str | Path, *, max_rows: int = 100_000, clock: Clock = time.time
    ) -> None:
        self.path = Path(path)
        self.max_rows = max_rows
        self.counts = TierCounts()
        self._clock = clock
        self._lock = threading.Lock()
        self._writes = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(self.path), timeout=10.0, check_same_thread=False, isolation_level=None
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"response cache file {self.path} cannot be opened: {exc}") from exc

    def get(self, key: str) -> bytes | None:
        """The value under ``key`` unless it is missing or expired."""
        now = self._clock()
        with self._lock:
            try:
                row = self._db.execute(
                    "SELECT value, expires_at FROM responses WHERE key = ?", (key,)
                ).fetchone()
                if row is None:
                    return None
                if float(row[1]) <= now:
                    self._db.execute("DELETE FROM responses WHERE key = ?", (key,))
                    self.counts.expired += 1
                    return None
            except sqlite3.Error as exc:
                raise StoreError(f"response cache {self.path}: cannot read: {exc}") from exc
        return bytes(row[0])

    def put(
        self, key: str, value: bytes, ttl_s: float, *, model: str = "", scope: str = ""
    ) -> None:
        """Store ``value`` under ``key`` for ``ttl_s`` seconds."""
        now = self._clock()
        with self._lock:
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO responses"
                    " (key, value, model, scope, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (key, value, model, scope, now, now + ttl_s),
                )
                self._writes += 1
                if self._writes % PRUNE_EVERY == 0:
                    self._prune(now)
            except sqlite3.Error as exc:
                raise StoreError(f"response cache {self.path}: cannot write: {exc}") from exc

    def prune(self) -> int:
        """Delete expired rows and trim to ``max_rows``; the number of rows deleted."""
        with self._lock:
            try:
                return self._prune(self._clock())
            except sqlite3.Error as exc:
                raise StoreError(f"response cache {self.path}: cannot prune: {exc}") from exc

    def _prune(self, now: float) -> int:
        expired = self._db.execute("DELETE FROM responses WHERE expires_at <= ?", (now,)).rowcount
        self.counts.expired += max(expired, 0)
        (count,) = self._db.execute("SELECT COUNT(*) FROM responses").fetchone()
        extra = int(count) - self.max_rows
        evicted = 0
        if extra > 0:
            evicted = self._db.execute(
                "DELETE FROM responses WHERE key IN"
                " (SELECT key FROM responses ORDER BY created_at LIMIT ?)",
                (extra,),
            ).rowcount
            self.counts.evicted += max(evicted, 0)
        return max(expired, 0) + max(evicted, 0)

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM responses").fetchone()
        return int(count)

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM responses")

    def close(self) -> None:
        with self._lock:
            self._db.close()
