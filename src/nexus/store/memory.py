"""A run store that lives in the process's memory (``memory://``): quick tests, in-memory runs.

It keeps rows exactly as the SQL store writes them (canonical JSON, payloads
over :data:`~nexus.store._codec.INLINE_MAX` content-addressed in a blob table), so a record read
back is always a fresh copy, a payload that SQL would refuse is refused here
too, and ``stats()`` counts blobs the same way. Writes take effect at once;
``durable`` is accepted and has nothing to wait for.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from nexus.domain.runs import Checkpoint, Event, RunRecord, RunStatus, StepRecord
from nexus.errors import NotFoundError, StoreError
from nexus.store import _codec


def _stored(columns: Sequence[str]) -> tuple[str, ...]:
    """Reader column names as stored here: a resolved ``x_blob`` is the digest column ``x_h``."""
    return tuple(c[: -len("_blob")] + "_h" if c.endswith("_blob") else c for c in columns)


_RUN_READ = _stored(_codec.RUN_READ_COLUMNS)
_STEP_READ = _stored(_codec.STEP_READ_COLUMNS)
_CHECKPOINT_READ = _stored(_codec.CHECKPOINT_READ_COLUMNS)


class _RunEntry:
    """A stored run: its row, its steps' rows, its events' rows (by seq) and its lease."""

    __slots__ = ("event_seqs", "events", "lease", "row", "steps")

    def __init__(self, row: dict[str, Any]) -> None:
        self.row = row
        self.steps: dict[str, dict[str, Any]] = {}
        self.event_seqs: list[int] = []
        self.events: list[dict[str, Any]] = []
        self.lease: tuple[str, float] | None = None


class MemoryStore:
    """A :class:`~nexus.store.base.RunStore` in dicts. Same ordering rules as the SQL store."""

    backend = "memory"

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._runs: dict[str, _RunEntry] = {}
        self._blobs: dict[bytes, str] = {}
        self._checkpoints: dict[str, dict[str, Any]] = {}
        self._writes = 0

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> MemoryStore:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    # -- helpers ----------------------------------------------------------------------

    def _entry(self, run_id: str) -> _RunEntry:
        entry = self._runs.get(run_id)
        if entry is None:
            raise NotFoundError(f"no run with id '{run_id}'")
        return entry

    def _resolved(self, row: dict[str, Any], columns: Sequence[str]) -> list[Any]:
        """Row values in reader order, digests replaced by the blob they name."""
        values = []
        for name in columns:
            value = row[name]
            if name.endswith("_h") and value is not None:
                value = self._blobs[value]
            values.append(value)
        return values

    def _add_events(self, events: Sequence[Event]) -> None:
        rows = [_codec.event_row(e) for e in events]  # encode all before changing anything
        entries = [self._entry(row["run_id"]) for row in rows]
        pending: dict[tuple[str, int], None] = {}
        for row, entry in zip(rows, entries, strict=True):
            at = bisect.bisect_left(entry.event_seqs, row["seq"])
            key = (row["run_id"], row["seq"])
            taken = at < len(entry.event_seqs) and entry.event_seqs[at] == row["seq"]
            if taken or key in pending:
                raise StoreError(
                    f"append events for run '{row['run_id']}': an event with seq "
                    f"{row['seq']} already exists"
                )
            pending[key] = None
        for row, entry in zip(rows, entries, strict=True):
            at = bisect.bisect_left(entry.event_seqs, row["seq"])
            entry.event_seqs.insert(at, row["seq"])
            entry.events.insert(at, row)

    def _keep(self, blobs: _codec.Blobs) -> None:
        for key, data in blobs.items():
            self._blobs.setdefault(key, data)

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
        if run.run_id in self._runs:
            raise StoreError(f"run '{run.run_id}' already exists")
        entry = self._runs[run.run_id] = _RunEntry(row)
        try:
            self._add_events(events)
        except BaseException:
            del self._runs[run.run_id]
            raise
        if lease_owner is not None:
            entry.lease = (lease_owner, time.time() + lease_ttl_s)
        self._keep(blobs)
        self._writes += 1

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
        entry = self._entry(run.run_id)
        self._add_events(events)
        self._keep(blobs)
        entry.row = row
        if (
            release_owner is not None
            and entry.lease is not None
            and entry.lease[0] == release_owner
        ):
            entry.lease = None
        self._writes += 1

    async def get_run(self, run_id: str) -> RunRecord:
        return _codec.run_from(self._resolved(self._entry(run_id).row, _RUN_READ))

    async def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        tenant_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[RunRecord]:
        wanted = None if status is None else str(status)
        rows = [
            (i, e.row)
            for i, e in enumerate(self._runs.values())
            if (wanted is None or e.row["status"] == wanted)
            and (tenant_id is None or e.row["tenant"] == tenant_id)
        ]
        rows.sort(key=lambda item: (item[1]["created"], item[0]), reverse=True)
        page = rows[offset : offset + limit] if limit >= 0 else rows[offset:]
        return [_codec.run_from(self._resolved(row, _RUN_READ)) for _, row in page]

    # -- steps ----------------------------------------------------------------------------

    async def save_step(
        self, step: StepRecord, events: Sequence[Event] = (), *, durable: bool = True
    ) -> None:
        blobs: _codec.Blobs = {}
        row = _codec.step_row(step, blobs)
        entry = self._entry(step.run_id)
        self._add_events(events)
        self._keep(blobs)
        entry.steps[step.step_key] = row
        self._writes += 1

    async def get_steps(self, run_id: str) -> list[StepRecord]:
        entry = self._runs.get(run_id)
        if entry is None:
            return []
        return [
            _codec.step_from(run_id, self._resolved(entry.steps[key], _STEP_READ))
            for key in sorted(entry.steps)
        ]

    async def delete_steps(self, run_id: str, step_keys: Sequence[str]) -> None:
        entry = self._runs.get(run_id)
        if entry is not None:
            for key in step_keys:
                entry.steps.pop(key, None)
        self._writes += 1

    # -- events ---------------------------------------------------------------------------

    async def append_events(self, events: Sequence[Event], *, durable: bool = True) -> None:
        self._add_events(events)
        self._writes += 1

    async def read_events(self, run_id: str, after_seq: int = 0, limit: int = 1000) -> list[Event]:
        entry = self._runs.get(run_id)
        if entry is None:
            return []
        start = bisect.bisect_right(entry.event_seqs, after_seq)
        cid = entry.row["cid"]
        return [
            _codec.event_from(
                run_id, cid, (r["seq"], r["type"], r["step_key"], r["cid"], r["ts"], r["data"])
            )
            for r in entry.events[start : start + max(limit, 0)]
        ]

    async def last_event_seq(self, run_id: str) -> int:
        entry = self._runs.get(run_id)
        return entry.event_seqs[-1] if entry is not None and entry.event_seqs else 0

    # -- checkpoints ------------------------------------------------------------------------

    async def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        blobs: _codec.Blobs = {}
        row = _codec.checkpoint_row(checkpoint, blobs)
        self._keep(blobs)
        self._checkpoints[checkpoint.checkpoint_id] = row
        self._writes += 1

    async def get_checkpoint(self, checkpoint_id: str) -> Checkpoint:
        row = self._checkpoints.get(checkpoint_id)
        if row is None:
            raise NotFoundError(f"no checkpoint with id '{checkpoint_id}'")
        return _codec.checkpoint_from(self._resolved(row, _CHECKPOINT_READ))

    async def list_checkpoints(self, run_id: str) -> list[Checkpoint]:
        rows = [r for r in self._checkpoints.values() if r["run_id"] == run_id]
        rows.sort(key=lambda r: (r["created"], r["checkpoint_id"]))
        return [_codec.checkpoint_from(self._resolved(r, _CHECKPOINT_READ)) for r in rows]

    # -- leases -----------------------------------------------------------------------------

    async def claim_run(self, run_id: str, owner: str, ttl_s: float) -> str | None:
        entry = self._entry(run_id)
        now = time.time()
        if entry.lease is not None:
            holder, expires = entry.lease
            if holder != owner and expires >= now:
                return holder
        entry.lease = (owner, now + ttl_s)
        return None

    async def release_run(self, run_id: str, owner: str) -> None:
        entry = self._runs.get(run_id)
        if entry is not None and entry.lease is not None and entry.lease[0] == owner:
            entry.lease = None

    async def force_claim(self, run_id: str, owner: str, ttl_s: float) -> None:
        self._entry(run_id).lease = (owner, time.time() + ttl_s)

    async def list_claimable(self, limit: int = 50) -> list[str]:
        now = time.time()
        wanted = (str(RunStatus.CREATED), str(RunStatus.RUNNING))
        rows = [
            (e.row["created"], i, run_id)
            for i, (run_id, e) in enumerate(self._runs.items())
            if e.row["status"] in wanted and (e.lease is None or e.lease[1] < now)
        ]
        rows.sort()
        return [run_id for _, _, run_id in rows[: max(limit, 0)]]

    # -- stats --------------------------------------------------------------------------------

    async def stats(self) -> dict[str, Any]:
        blob_bytes = sum(len(d) for d in self._blobs.values())
        row_bytes = 0
        for entry in self._runs.values():
            row_bytes += _row_size(entry.row)
            row_bytes += sum(_row_size(r) for r in entry.steps.values())
            row_bytes += sum(_row_size(r) for r in entry.events)
        row_bytes += sum(_row_size(r) for r in self._checkpoints.values())
        return {
            "backend": self.backend,
            "runs": len(self._runs),
            "steps": sum(len(e.steps) for e in self._runs.values()),
            "events": sum(len(e.events) for e in self._runs.values()),
            "blobs": len(self._blobs),
            "checkpoints": len(self._checkpoints),
            "blob_bytes": blob_bytes,
            "bytes": blob_bytes + 32 * len(self._blobs) + row_bytes,
            "writes": self._writes,
        }


def _row_size(row: dict[str, Any]) -> int:
    """Bytes of a row's values as the SQL store would hold them (about)."""
    size = 0
    for value in row.values():
        if isinstance(value, (str, bytes)):
            size += len(value)
        elif value is not None:
            size += 8
    return size
