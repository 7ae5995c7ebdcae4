"""Applying a batch of queued writes in one transaction (the synchronous half of group commit).

A batch is a list of :class:`Op` in submission order. Blobs go first (their
order does not matter), then the ops in order; consecutive step and event
writes are gathered into one ``executemany`` each. When the database rejects
something, the transaction is rolled back and every op of the batch is
replayed in a transaction of its own, so that only the faulty op fails.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from nexus.errors import NexusError, NotFoundError, StoreError
from nexus.store._codec import Blobs
from nexus.store._statements import Statements

log = logging.getLogger("nexus.store")

_CACHE_LIMIT = 100_000
_RETRIES = 3


class Kind(Enum):
    CREATE_RUN = "create run"
    UPDATE_RUN = "update run"
    STEP = "save step"
    EVENTS = "append events"
    DELETE_STEPS = "delete steps"
    CHECKPOINT = "save checkpoint"
    CLAIM = "claim run"
    FORCE = "force claim"
    RELEASE = "release run"
    SYNC = "sync"


@dataclass(slots=True)
class Op:
    """One queued write. ``row`` depends on the kind; ``future`` is set for durable writes.

    ``lease`` (create run: the new run's lease, ``(owner, ttl_s)``) and ``release``
    (update run: the owner whose lease is released) ride along in the same transaction.
    """

    kind: Kind
    run_id: str
    row: Any = None
    events: list[dict[str, Any]] = field(default_factory=list)
    blobs: Blobs = field(default_factory=dict)
    future: asyncio.Future[Any] | None = None
    lease: tuple[str, float] | None = None
    release: str | None = None


Outcome = Any  # the op's result, or the exception it failed with


class BatchWriter:
    """Runs batches of ops on one DBAPI connection. Not thread-safe: one batch at a time.

    ``begin`` is the statement that opens a write transaction (``BEGIN
    IMMEDIATE`` on SQLite; None where the driver opens one implicitly).
    ``integrity_error`` is the driver's IntegrityError class; ``fatal_errors``
    are the driver errors that concern the connection rather than one op
    (a batch failing with one of them is not replayed op by op);
    ``retry_errors`` (deadlocks, serialization failures) make the whole batch
    run again, up to three times.
    """

    def __init__(
        self,
        stmts: Statements,
        *,
        begin: str | None,
        integrity_error: type[Exception],
        fatal_errors: tuple[type[Exception], ...],
        retry_errors: tuple[type[Exception], ...] = (),
        clock: Callable[[], float],
    ) -> None:
        self._sql = stmts
        self._begin = begin
        self._integrity_error = integrity_error
        self._fatal_errors = fatal_errors
        self._retry_errors = retry_errors
        self._clock = clock
        #: run_id → (rid, correlation id) of runs known to be committed (runs are never deleted)
        self.rids: dict[str, tuple[int, str]] = {}
        #: digests of blobs known to be committed (blobs are never deleted)
        self.known_blobs: set[bytes] = set()
        self._cursor_conn: Any = None
        self._cur: Any = None

    # -- batches ------------------------------------------------------------------

    def apply(self, conn: Any, ops: list[Op], attempt: int = 0) -> list[Outcome]:
        """Commit ``ops`` in one transaction; returns one outcome per op, in order."""
        outcomes: list[Outcome] = [None] * len(ops)
        new_rids: dict[str, tuple[int, str]] = {}
        new_blobs: set[bytes] = set()
        try:
            cur = self._cursor(conn)
            if self._begin:
                cur.execute(self._begin)
            self._apply_all(cur, ops, outcomes, new_rids, new_blobs)
            conn.commit()
        except Exception as exc:
            _rollback(conn)
            if isinstance(exc, self._retry_errors) and attempt < _RETRIES:
                log.info("retrying a batch of %d writes after: %s", len(ops), exc)
                return self.apply(conn, ops, attempt + 1)
            if len(ops) == 1:
                return [self._error(ops[0], exc)]
            if isinstance(exc, self._fatal_errors):  # the database, not an op: fail them all
                error = StoreError(f"committing {len(ops)} writes failed: {exc}")
                return [error] * len(ops)
            return [self.apply(conn, [op])[0] for op in ops]
        self._remember(new_rids, new_blobs)
        return outcomes

    def _cursor(self, conn: Any) -> Any:
        """A cursor on ``conn``, kept from one batch to the next on the same connection."""
        if conn is not self._cursor_conn:
            self._cursor_conn, self._cur = conn, conn.cursor()
        return self._cur

    def _remember(self, new_rids: dict[str, tuple[int, str]], new_blobs: set[bytes]) -> None:
        if not new_rids and not new_blobs:
            return
        if len(self.rids) + len(new_rids) > _CACHE_LIMIT:
            self.rids.clear()
        self.rids.update(new_rids)
        if len(self.known_blobs) + len(new_blobs) > _CACHE_LIMIT:
            self.known_blobs.clear()
        self.known_blobs |= new_blobs

    def _error(self, op: Op, exc: Exception) -> Exception:
        if isinstance(exc, NexusError):
            return exc
        if isinstance(exc, self._integrity_error):
            if op.kind is Kind.CREATE_RUN:
                return StoreError(f"run '{op.run_id}' already exists")
            if op.events:
                seqs = ", ".join(str(e["seq"]) for e in op.events)
                return StoreError(
                    f"{op.kind.value} for run '{op.run_id}': an event with seq {seqs} "
                    f"already exists ({exc})"
                )
        return StoreError(f"{op.kind.value} for run '{op.run_id}' failed: {exc}")

    def _apply_all(
        self,
        cur: Any,
        ops: list[Op],
        outcomes: list[Outcome],
        new_rids: dict[str, tuple[int, str]],
        new_blobs: set[bytes],
    ) -> None:
        blob_rows = []
        for op in ops:
            for key, data in op.blobs.items():
                if key not in self.known_blobs and key not in new_blobs:
                    new_blobs.add(key)
                    blob_rows.append({"hash": key, "data": data})
        if blob_rows:
            cur.executemany(self._sql.blob_insert, blob_rows)

        steps: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []

        def flush() -> None:
            if steps:
                if len(steps) > 1:  # a step saved twice in one batch: its last row wins
                    latest = {(row["rid"], row["key"]): row for row in steps}
                    if len(latest) < len(steps):
                        steps[:] = latest.values()
                cur.executemany(self._sql.step_upsert, steps)
                steps.clear()
            if events:
                cur.executemany(self._sql.event_insert, events)
                events.clear()

        for i, op in enumerate(ops):
            kind = op.kind
            try:
                if kind is Kind.STEP or kind is Kind.EVENTS:
                    if kind is Kind.STEP:
                        op.row["rid"] = self._rid(cur, op.run_id, new_rids)[0]
                    self._resolve_events(cur, op, new_rids)
                    if kind is Kind.STEP:
                        steps.append(op.row)
                    events.extend(op.events)
                    continue
                flush()
                outcomes[i] = self._apply_one(cur, op, new_rids)
            except NotFoundError as exc:
                # raised before the op changed anything: only this op fails
                outcomes[i] = exc
                continue
            if op.events:
                self._resolve_events(cur, op, new_rids)
                events.extend(op.events)
        flush()

    # -- single ops ---------------------------------------------------------------

    def _apply_one(self, cur: Any, op: Op, new_rids: dict[str, tuple[int, str]]) -> Outcome:
        sql = self._sql
        kind = op.kind
        if kind is Kind.CREATE_RUN:
            row = op.row
            if op.lease is not None:
                row["lease_owner"], row["lease_exp"] = op.lease[0], self._clock() + op.lease[1]
            else:
                row["lease_owner"] = row["lease_exp"] = None
            cur.execute(sql.run_insert, row)
            new_rids[op.run_id] = (cur.fetchone()[0], row["cid"])
        elif kind is Kind.UPDATE_RUN:
            rid, cid = self._rid(cur, op.run_id, new_rids)
            if cid != op.row["cid"]:
                cur.execute(sql.events_keep_cid, {"w_rid": rid, "old_cid": cid})
            op.row["w_rid"] = rid
            cur.execute(sql.run_update_same_created, op.row)
            if cur.rowcount == 0:  # its creation time changed
                cur.execute(sql.run_update, op.row)
            if op.release is not None:
                cur.execute(sql.lease_release, {"w_run_id": op.run_id, "owner": op.release})
            new_rids[op.run_id] = (rid, op.row["cid"])
        elif kind is Kind.DELETE_STEPS:
            found = self._find_rid(cur, op.run_id, new_rids)
            if found is not None and op.row:
                cur.executemany(sql.step_delete, [{"w_rid": found[0], "w_key": k} for k in op.row])
        elif kind is Kind.CHECKPOINT:
            cur.execute(sql.checkpoint_upsert, op.row)
        elif kind is Kind.CLAIM:
            return self._claim(cur, op)
        elif kind is Kind.FORCE:
            owner, ttl = op.row
            params = {"w_run_id": op.run_id, "owner": owner, "exp": self._clock() + ttl}
            cur.execute(sql.lease_force, params)
            if cur.rowcount == 0:
                raise _no_run(op.run_id)
        elif kind is Kind.RELEASE:
            cur.execute(sql.lease_release, {"w_run_id": op.run_id, "owner": op.row})
        return None

    def _claim(self, cur: Any, op: Op) -> str | None:
        owner, ttl = op.row
        for _ in range(3):
            now = self._clock()
            params = {"w_run_id": op.run_id, "owner": owner, "now": now, "exp": now + ttl}
            cur.execute(self._sql.lease_claim, params)
            if cur.rowcount:
                return None
            cur.execute(self._sql.lease_holder, {"run_id": op.run_id})
            row = cur.fetchone()
            if row is None:
                raise _no_run(op.run_id)
            holder, expires = row
            if holder is not None and expires is not None and expires >= now:
                return str(holder)
            # released or expired between the two statements (PostgreSQL): try again
        raise StoreError(f"claim run '{op.run_id}': the lease kept changing; try again")

    # -- run ids ------------------------------------------------------------------

    def _resolve_events(self, cur: Any, op: Op, new_rids: dict[str, tuple[int, str]]) -> None:
        for ev in op.events:
            rid, cid = self._rid(cur, ev["run_id"], new_rids)
            ev["rid"] = rid
            if ev["cid"] == cid:
                ev["cid"] = None

    def _rid(self, cur: Any, run_id: str, new_rids: dict[str, tuple[int, str]]) -> tuple[int, str]:
        found = self._find_rid(cur, run_id, new_rids)
        if found is None:
            raise _no_run(run_id)
        return found

    def _find_rid(
        self, cur: Any, run_id: str, new_rids: dict[str, tuple[int, str]]
    ) -> tuple[int, str] | None:
        found = new_rids.get(run_id) or self.rids.get(run_id)
        if found is None:
            cur.execute(self._sql.run_lookup, {"run_id": run_id})
            row = cur.fetchone()
            if row is not None:
                found = new_rids[run_id] = (row[0], row[1])
        return found


def _no_run(run_id: str) -> NotFoundError:
    return NotFoundError(f"no run with id '{run_id}'")


def _rollback(conn: Any) -> None:
    try:
        conn.rollback()
    except Exception:  # the connection may be gone; the error that brought us here is reported
        log.debug("rollback failed", exc_info=True)
