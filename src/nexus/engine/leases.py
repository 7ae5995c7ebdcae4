"""One timer per engine that keeps the leases of its executing runs and notices cancels.

Every ``interval`` (a third of the lease TTL, at most a second) it reads each
executing run and renews its lease, all runs at once: the renewals are queued
together and committed in one batch. A run found ``cancelled`` in the store (by
another process) has its task cancelled, as a cancel here would. The timer stops
by itself when no run is executing and is started again by the next one.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from nexus.domain.runs import RunStatus

if TYPE_CHECKING:
    from nexus.engine.execution import RunExecution
    from nexus.store.base import RunStore

log = logging.getLogger(__name__)

Active = dict[str, tuple["RunExecution", "asyncio.Task[Any]"]]


class LeaseKeeper:
    """Renews the leases of ``active`` runs (run_id → (execution, task)) held by ``owner``."""

    def __init__(self, store: RunStore, owner: str, ttl_s: float, active: Active) -> None:
        self.store = store
        self.owner = owner
        self.ttl_s = ttl_s
        self.active = active
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def interval(self) -> float:
        return min(self.ttl_s / 3, 1.0)

    def ensure_running(self) -> None:
        """Start the timer unless it runs on this event loop already."""
        loop = asyncio.get_running_loop()
        if self._task is not None and self._loop is loop and not self._task.done():
            return
        self._loop = loop
        self._task = loop.create_task(self._tick_while_active(), name="nexus-lease-keeper")

    async def _tick_while_active(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            if not self.active:
                self._task = None
                return
            runs = list(self.active.items())
            await asyncio.gather(*(self._keep(run_id, entry) for run_id, entry in runs))

    async def _keep(self, run_id: str, entry: tuple[RunExecution, asyncio.Task[Any]]) -> None:
        execution, task = entry
        try:
            stored = await self.store.get_run(run_id)
            if self.active.get(run_id) is not entry:
                return  # it finished meanwhile: its lease went with its final update
            if stored.status == RunStatus.CANCELLED and not execution.cancel_requested:
                execution.cancel_requested = True
                task.cancel()
                return
            await self.store.claim_run(run_id, self.owner, self.ttl_s)
        except Exception:
            log.warning("renewing the lease of run %s failed", run_id, exc_info=True)
