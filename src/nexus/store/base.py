"""The run store contract. Backends: SQLite and PostgreSQL (``nexus.store.sql``), memory.

Writes that carry ``durable=True`` (the default) return only once they are
committed. ``durable=False`` writes may be held back and committed with the
next durable write (group commit); they are never reordered after it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from nexus.domain.runs import Checkpoint, Event, RunRecord, RunStatus, StepRecord


@runtime_checkable
class RunStore(Protocol):
    url: str

    async def open(self) -> None:
        """Connect and create or migrate the schema. Idempotent."""

    async def close(self) -> None:
        """Flush pending writes and release connections."""

    # runs -----------------------------------------------------------------
    async def create_run(
        self,
        run: RunRecord,
        events: Sequence[Event] = (),
        *,
        lease_owner: str | None = None,
        lease_ttl_s: float = 30.0,
    ) -> None:
        """Store a new run. With ``lease_owner``, the run is created with its lease held by
        that owner for ``lease_ttl_s`` seconds (as :meth:`claim_run` would), in the same write."""
        ...

    async def update_run(
        self,
        run: RunRecord,
        events: Sequence[Event] = (),
        *,
        durable: bool = True,
        release_owner: str | None = None,
    ) -> None:
        """Replace the run record. With ``release_owner``, also release the lease if that
        owner holds it (as :meth:`release_run` would), in the same write."""
        ...

    async def get_run(self, run_id: str) -> RunRecord:
        """Raises :class:`~nexus.errors.NotFoundError` for an unknown id."""
        ...

    async def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        tenant_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[RunRecord]:
        """Newest first."""
        ...

    # steps (the journal, keyed by run_id + step_key) ----------------------
    async def save_step(
        self, step: StepRecord, events: Sequence[Event] = (), *, durable: bool = True
    ) -> None: ...

    async def get_steps(self, run_id: str) -> list[StepRecord]: ...

    async def delete_steps(self, run_id: str, step_keys: Sequence[str]) -> None: ...

    # events ---------------------------------------------------------------
    async def append_events(self, events: Sequence[Event], *, durable: bool = True) -> None: ...

    async def read_events(
        self, run_id: str, after_seq: int = 0, limit: int = 1000
    ) -> list[Event]: ...

    async def last_event_seq(self, run_id: str) -> int: ...

    # checkpoints and content-addressed payloads ----------------------------
    async def save_checkpoint(self, checkpoint: Checkpoint) -> None: ...

    async def get_checkpoint(self, checkpoint_id: str) -> Checkpoint: ...

    async def list_checkpoints(self, run_id: str) -> list[Checkpoint]: ...

    # leases: one executor per run at a time ---------------------------------
    async def claim_run(self, run_id: str, owner: str, ttl_s: float) -> str | None:
        """Take or renew the lease. Returns None on success, else the current holder."""
        ...

    async def release_run(self, run_id: str, owner: str) -> None: ...

    async def force_claim(self, run_id: str, owner: str, ttl_s: float) -> None: ...

    async def list_claimable(self, limit: int = 50) -> list[str]:
        """Ids of runs an executor may pick up, oldest first: status ``created`` or
        ``running`` and a lease that is free or expired (its holder stopped renewing it)."""
        ...

    async def stats(self) -> dict[str, Any]:
        """Row counts and bytes, for ``nexus doctor`` and the benchmarks."""
        ...
