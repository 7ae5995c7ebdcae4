"""A run store that keeps nothing it does not have to: the engine's own cost, measured alone.

It is not a store anyone should run on: it holds the live record objects
(no copies, no encoding), forgets steps, events and checkpoints, and has
nothing to commit. The benchmark's ``null`` configuration runs the engine on
it, so that the difference to ``memory://`` and to SQLite is what the store
costs and what is left is the engine (walk, expressions, records, events).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nexus.domain.runs import Checkpoint, Event, RunRecord, RunStatus, StepRecord
from nexus.errors import NotFoundError


class NullStore:
    """Implements :class:`~nexus.store.base.RunStore`; keeps runs and each run's last event seq."""

    backend = "null"

    def __init__(self) -> None:
        self.url = "null://"
        self._runs: dict[str, RunRecord] = {}
        self._seq: dict[str, int] = {}
        self.writes = 0

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def _note(self, events: Sequence[Event]) -> None:
        self.writes += 1
        for ev in events:
            if ev.seq > self._seq.get(ev.run_id, 0):
                self._seq[ev.run_id] = ev.seq

    async def create_run(
        self,
        run: RunRecord,
        events: Sequence[Event] = (),
        *,
        lease_owner: str | None = None,
        lease_ttl_s: float = 30.0,
    ) -> None:
        self._runs[run.run_id] = run
        self._note(events)

    async def update_run(
        self,
        run: RunRecord,
        events: Sequence[Event] = (),
        *,
        durable: bool = True,
        release_owner: str | None = None,
    ) -> None:
        self._runs[run.run_id] = run
        self._note(events)

    async def get_run(self, run_id: str) -> RunRecord:
        run = self._runs.get(run_id)
        if run is None:
            raise NotFoundError(f"no run with id '{run_id}'")
        return run

    async def list_runs(
        self,
        *,
        status: RunStatus | None = None,
        tenant_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[RunRecord]:
        runs = [r for r in self._runs.values() if status is None or r.status == status]
        return runs[::-1][offset : offset + limit]

    async def save_step(
        self, step: StepRecord, events: Sequence[Event] = (), *, durable: bool = True
    ) -> None:
        self._note(events)

    async def get_steps(self, run_id: str) -> list[StepRecord]:
        return []

    async def delete_steps(self, run_id: str, step_keys: Sequence[str]) -> None:
        return None

    async def append_events(self, events: Sequence[Event], *, durable: bool = True) -> None:
        self._note(events)

    async def read_events(self, run_id: str, after_seq: int = 0, limit: int = 1000) -> list[Event]:
        return []

    async def last_event_seq(self, run_id: str) -> int:
        return self._seq.get(run_id, 0)

    async def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        return None

    async def get_checkpoint(self, checkpoint_id: str) -> Checkpoint:
        raise NotFoundError(f"no checkpoint with id '{checkpoint_id}' (the null store keeps none)")

    async def list_checkpoints(self, run_id: str) -> list[Checkpoint]:
        return []

    async def claim_run(self, run_id: str, owner: str, ttl_s: float) -> str | None:
        return None

    async def release_run(self, run_id: str, owner: str) -> None:
        return None

    async def force_claim(self, run_id: str, owner: str, ttl_s: float) -> None:
        return None

    async def list_claimable(self, limit: int = 50) -> list[str]:
        unfinished = [r.run_id for r in self._runs.values() if not r.status.finished]
        return unfinished[:limit]

    async def stats(self) -> dict[str, Any]:
        return {"backend": self.backend, "runs": len(self._runs), "writes": self.writes}
