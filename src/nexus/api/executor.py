"""The server's run executor: executes runs in this process, a bounded number at a time,
and picks up runnable runs from the store so that several servers share the work (X5, D2).

Leases do the coordination. A run is executed only by the holder of its lease
(``host:pid:token``, the engine's owner), which the engine renews while it
executes. The claim loop asks the store every ``claim_interval_s`` for runs
that are ``created`` or ``running`` and whose lease is free or expired
(:meth:`~nexus.store.base.RunStore.list_claimable`) and starts as many as it
has free slots for; every fifth round it also looks for runs waiting for input
whose questions have all been answered. So:

- a run created through any server is executed by that server at once if it has
  a free slot, else by whichever server claims it first;
- when a server dies (even SIGKILL), its runs' leases stop being renewed and
  expire after ``NEXUS_LEASE_TTL_S``; another server claims them and resumes
  them from the journal: succeeded steps are not run again;
- a server that stops normally cancels its executions, which releases their
  leases at once: the runs stay ``running`` and another server continues them.

Runs parked here on purpose (messages queued for a busy agent) are *held*: their
leases are renewed by the loop until they are started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from typing import TYPE_CHECKING

from nexus.domain.runs import Event, RunRecord, RunStatus, StepStatus
from nexus.errors import InvalidStateError, NotFoundError
from nexus.observability.logging import bind_correlation_id

if TYPE_CHECKING:
    from nexus.observability.metrics import NexusMetrics
    from nexus.runtime import Nexus

__all__ = ["MAX_FAILURES", "RunExecutor", "holder_is_dead"]

log = logging.getLogger(__name__)

#: Consecutive unexpected failures after which a run is marked failed.
MAX_FAILURES = 3
_ANSWERED_SCAN_EVERY = 5


def holder_is_dead(holder: str) -> bool:
    """Leases are named ``host:pid:token``: a holder on this host whose process is gone."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class RunExecutor:
    """Executes runs for the API server. ``start()`` begins claiming; ``stop()`` ends all."""

    def __init__(
        self,
        nx: Nexus,
        *,
        workers: int = 8,
        claim: bool = True,
        claim_interval_s: float = 1.0,
        metrics: NexusMetrics | None = None,
    ) -> None:
        self.nx = nx
        self.workers = workers
        self.claim = claim
        self.claim_interval_s = claim_interval_s
        self.metrics = metrics
        self.active: dict[str, asyncio.Task[RunRecord | None]] = {}
        self.held: set[str] = set()
        self._failures: dict[str, tuple[int, float]] = {}
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._rounds = 0
        self._stopping = False

    @property
    def owner(self) -> str:
        return self.nx.engine.owner

    @property
    def lease_ttl_s(self) -> float:
        return self.nx.engine.lease_ttl_s

    def free_slots(self) -> int:
        return max(self.workers - len(self.active), 0)

    def is_active(self, run_id: str) -> bool:
        return run_id in self.active

    # --- life cycle ---------------------------------------------------------------------
    async def start(self) -> None:
        """Start the loop that renews held leases and (with ``claim``) claims runs."""
        if self._loop_task is None:
            self._loop_task = asyncio.create_task(self._loop(), name="nexus-claim-loop")

    async def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming, cancel running executions (they stay resumable), release leases."""
        self._stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
            self._loop_task = None
        tasks = list(self.active.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        for run_id in list(self.held):
            with contextlib.suppress(Exception):
                await self.nx.store.release_run(run_id, self.owner)
        self.held.clear()

    # --- starting runs ------------------------------------------------------------------
    async def offer(self, run_id: str) -> bool:
        """Start executing ``run_id`` here if there is a free slot and its lease is free.

        Returns whether it executes here now (also when it already did)."""
        if run_id in self.active:
            return True
        if self._stopping or self.free_slots() <= 0:
            return False
        if await self.nx.store.claim_run(run_id, self.owner, self.lease_ttl_s) is not None:
            return False
        self.held.discard(run_id)
        self._start(run_id)
        return True

    async def take(self, run_id: str) -> bool:
        """Like :meth:`offer`, for an explicit request (resume, answer): takes the lease of
        an executor on this host whose process is gone, and raises InvalidStateError when
        another live executor holds the run. Without a free
        slot the run is left for the claim loop (here or on another server)."""
        if run_id in self.active:
            return True
        holder = await self.nx.store.claim_run(run_id, self.owner, self.lease_ttl_s)
        if holder is not None and holder_is_dead(holder):
            await self.nx.store.force_claim(run_id, self.owner, self.lease_ttl_s)
            holder = None
        if holder is not None:
            raise InvalidStateError(
                f"run '{run_id}' is being executed by {holder}; "
                "it continues there, or here once that lease expires",
                holder=holder,
            )
        if self._stopping or self.free_slots() <= 0:
            await self.nx.store.release_run(run_id, self.owner)
            self._wake.set()
            return False
        self.held.discard(run_id)
        self._start(run_id)
        return True

    async def hold(self, run_id: str) -> None:
        """Keep ``run_id``'s lease (renewed by the loop) without executing it yet."""
        holder = await self.nx.store.claim_run(run_id, self.owner, self.lease_ttl_s)
        if holder is not None:
            raise InvalidStateError(f"run '{run_id}' is held by {holder}", holder=holder)
        self.held.add(run_id)

    async def start_held(self, run_id: str) -> bool:
        """Start a held run now if a slot is free; else give up its lease for the claim loop."""
        if run_id in self.active:
            return True
        if self._stopping or self.free_slots() <= 0:
            await self.release(run_id)
            return False
        self.held.discard(run_id)
        self._start(run_id)
        return True

    async def release(self, run_id: str) -> None:
        """Give up a held run's lease; the claim loop (here or elsewhere) will take it."""
        if run_id in self.held:
            self.held.discard(run_id)
            await self.nx.store.release_run(run_id, self.owner)
            self._wake.set()

    def _start(self, run_id: str) -> None:
        if run_id in self.active:  # two callers claimed it while the other one awaited
            return
        task = asyncio.create_task(self._execute(run_id), name=f"nexus-run-{run_id}")
        self.active[run_id] = task
        if self.metrics is not None:
            self.metrics.runs_executing.set(len(self.active))

    async def _execute(self, run_id: str) -> RunRecord | None:
        try:
            run = await self.nx.get_run(run_id)
            with bind_correlation_id(run.correlation_id):
                result = await self.nx.execute(run_id)
            self._failures.pop(run_id, None)
            return result
        except InvalidStateError as exc:  # another executor took it first
            log.debug("run %s not executed here: %s", run_id, exc.message)
        except NotFoundError:
            log.debug("run %s vanished before it was executed", run_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("executing run %s failed", run_id)
            await self._note_failure(run_id)
        finally:
            self.active.pop(run_id, None)
            if self.metrics is not None:
                self.metrics.runs_executing.set(len(self.active))
            self._wake.set()
        return None

    async def _note_failure(self, run_id: str) -> None:
        count = self._failures.get(run_id, (0, 0.0))[0] + 1
        self._failures[run_id] = (count, time.monotonic() + min(2.0**count, 60.0))
        if count < MAX_FAILURES:
            return
        self._failures.pop(run_id, None)
        with contextlib.suppress(Exception):
            await self._mark_failed(run_id, f"the executor failed {count} times on this run")

    async def _mark_failed(self, run_id: str, message: str) -> None:
        store = self.nx.store
        if await store.claim_run(run_id, self.owner, self.lease_ttl_s) is not None:
            return
        try:
            run = await store.get_run(run_id)
            if run.status.finished:
                return
            run.status = RunStatus.FAILED
            run.error = {"code": "executor_error", "message": message}
            run.updated_at = run.finished_at = time.time()
            seq = await store.last_event_seq(run_id) + 1
            event = Event(run_id, seq, "run.failed", {"error": run.error}, run.correlation_id)
            await store.update_run(run, [event])
            self.nx.engine.bus.publish(event)
        finally:
            await store.release_run(run_id, self.owner)

    # --- waiting for a run --------------------------------------------------------------
    async def wait(self, run_id: str, timeout: float) -> RunRecord:
        """The run once it finished or parked for input, or as it is after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            task = self.active.get(run_id)
            remaining = deadline - time.monotonic()
            if task is not None and remaining > 0:
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(task), remaining)
            run = await self.nx.get_run(run_id)
            parked = run.status == RunStatus.WAITING_INPUT and run_id not in self.active
            if run.status.finished or parked or time.monotonic() >= deadline:
                return run
            await asyncio.sleep(min(0.1, max(deadline - time.monotonic(), 0)))

    # --- the claim loop -----------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.claim_interval_s)
            self._wake.clear()
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("claiming runs failed", exc_info=True)

    async def poll(self) -> list[str]:
        """One round: renew held leases, then claim and start runnable runs. Returns the
        ids of the runs started."""
        self._rounds += 1
        for run_id in list(self.held):
            holder = await self.nx.store.claim_run(run_id, self.owner, self.lease_ttl_s)
            if holder is not None:
                self.held.discard(run_id)
        started: list[str] = []
        if not self.claim or self.free_slots() <= 0:
            return started
        now = time.monotonic()
        candidates = await self.nx.store.list_claimable(limit=self.free_slots() * 2 + 8)
        if self._rounds % _ANSWERED_SCAN_EVERY == 1:
            candidates += await self._answered_runs()
        for run_id in candidates:
            if run_id in self.active or run_id in self.held:
                continue
            failure = self._failures.get(run_id)
            if failure is not None and failure[1] > now:
                continue
            if self.free_slots() <= 0:
                break
            if await self.offer(run_id):
                started.append(run_id)
        return started

    async def _answered_runs(self, limit: int = 50) -> list[str]:
        """Runs waiting for input none of whose steps still waits (answered elsewhere)."""
        found = []
        waiting = await self.nx.store.list_runs(status=RunStatus.WAITING_INPUT, limit=limit)
        for run in waiting:
            steps = await self.nx.store.get_steps(run.run_id)
            if not any(s.status == StepStatus.WAITING_INPUT for s in steps):
                found.append(run.run_id)
        return found
