"""Where the router keeps what it learned: a small SQLite file under ``NEXUS_HOME/router/``.

Two tables: ``arms`` holds the running sums per (role, task type, model) that
the scoring nodes and bandits read (outcomes, verified successes, cost, duration,
stated confidence); ``outcomes`` keeps every recorded outcome, for audit and for
rebuilding the sums. Both are written in one transaction per outcome, so several
processes sharing a home add up instead of overwriting each other; a router
reads the sums when it starts (and on :meth:`RouterState.load` again).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from nexus.errors import StoreError
from nexus.routing.scoring import ArmStats

__all__ = ["SCHEMA_VERSION", "ArmKey", "RouterState"]

SCHEMA_VERSION = 1
ArmKey = tuple[str, str, str]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS arms (
        role TEXT NOT NULL, task_type TEXT NOT NULL, model TEXT NOT NULL,
        n REAL NOT NULL, successes REAL NOT NULL, cost_usd REAL NOT NULL,
        latency_s REAL NOT NULL, confidence_sum REAL NOT NULL, confidence_n REAL NOT NULL,
        expected_successes REAL NOT NULL, expected_cost_usd REAL NOT NULL,
        expected_latency_s REAL NOT NULL, updated_at REAL NOT NULL,
        PRIMARY KEY (role, task_type, model))""",
    """CREATE TABLE IF NOT EXISTS outcomes (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL,
        role TEXT NOT NULL, task_type TEXT NOT NULL, model TEXT NOT NULL,
        success INTEGER NOT NULL, cost_usd REAL NOT NULL, latency_s REAL NOT NULL,
        confidence REAL, expected_success REAL NOT NULL, expected_cost_usd REAL NOT NULL,
        expected_latency_s REAL NOT NULL, source TEXT)""",
)
_UPSERT = """
INSERT INTO arms (role, task_type, model, n, successes, cost_usd, latency_s,
                  confidence_sum, confidence_n, expected_successes, expected_cost_usd,
                  expected_latency_s, updated_at)
VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (role, task_type, model) DO UPDATE SET
    n = n + 1, successes = successes + excluded.successes,
    cost_usd = cost_usd + excluded.cost_usd, latency_s = latency_s + excluded.latency_s,
    confidence_sum = confidence_sum + excluded.confidence_sum,
    confidence_n = confidence_n + excluded.confidence_n,
    expected_successes = expected_successes + excluded.expected_successes,
    expected_cost_usd = expected_cost_usd + excluded.expected_cost_usd,
    expected_latency_s = expected_latency_s + excluded.expected_latency_s,
    updated_at = excluded.updated_at
"""


class RouterState:
    """Arm statistics in SQLite at ``path`` (created on first use)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(self.path), timeout=10.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            for statement in _SCHEMA:
                self._db.execute(statement)
            self._check_version()
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"router state {self.path}: cannot be opened: {exc}") from exc

    def _check_version(self) -> None:
        row = self._db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        if row is None:
            self._db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
        elif int(row[0]) > SCHEMA_VERSION:
            raise StoreError(
                f"router state {self.path} has schema version {row[0]}; this Nexus reads"
                f" version {SCHEMA_VERSION} — upgrade Nexus or move the file away"
            )

    def load(self) -> dict[ArmKey, ArmStats]:
        """Every arm's sums."""
        with self._lock:
            rows = self._db.execute(
                "SELECT role, task_type, model, n, successes, cost_usd, latency_s,"
                " confidence_sum, confidence_n, expected_successes, expected_cost_usd,"
                " expected_latency_s FROM arms"
            ).fetchall()
        return {(r[0], r[1], r[2]): ArmStats(*r[3:]) for r in rows}

    def record(
        self,
        key: ArmKey,
        success: bool,
        cost_usd: float,
        latency_s: float,
        confidence: float | None,
        expected: tuple[float, float, float],
        source: str | None = None,
    ) -> None:
        """Add one outcome (and what the priors expected of it: success, cost, latency)
        to the arm's sums and the outcome log, in one transaction."""
        role, task_type, model = key
        now = time.time()
        conf_sum, conf_n = (0.0, 0.0) if confidence is None else (confidence, 1.0)
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.execute(
                    "INSERT INTO outcomes (at, role, task_type, model, success, cost_usd,"
                    " latency_s, confidence, expected_success, expected_cost_usd,"
                    " expected_latency_s, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        now,
                        role,
                        task_type,
                        model,
                        int(success),
                        cost_usd,
                        latency_s,
                        confidence,
                        *expected,
                        source,
                    ),
                )
                self._db.execute(
                    _UPSERT,
                    (
                        role,
                        task_type,
                        model,
                        float(success),
                        cost_usd,
                        latency_s,
                        conf_sum,
                        conf_n,
                        *expected,
                        now,
                    ),
                )
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise StoreError(
                    f"router state {self.path}: cannot record an outcome: {exc}"
                ) from exc

    def outcome_count(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM outcomes").fetchone()
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
