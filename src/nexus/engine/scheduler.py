"""The engine: creates runs, executes them under a lease, cancels them (E2–E4).

Durability rule (E3): a step's success is committed to the store before any step
that depends on it starts. Step *starts* and skips are written without waiting
(group commit), so a crash may forget that a step had started: it then runs
again on resume, which is why an interrupted step runs at most twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Awaitable, Mapping
from typing import Any

from nexus.domain.plan import Plan
from nexus.domain.runs import Event, RunRecord, RunStatus, StepRecord, StepStatus, new_id
from nexus.engine.collector import tune_for_runs
from nexus.engine.events import EventBus
from nexus.engine.execution import RunExecution
from nexus.engine.inputs import resolve_inputs
from nexus.engine.leases import LeaseKeeper
from nexus.engine.plan_cache import PlanCache
from nexus.engine.steps import Parked, StepFailed
from nexus.errors import InvalidStateError
from nexus.services import Services
from nexus.store.base import RunStore


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _holder_is_dead(holder: str) -> bool:
    """Leases are named ``host:pid:token``; a holder on this host whose pid is gone is dead."""
    parts = holder.split(":")
    if len(parts) != 3 or parts[0] != socket.gethostname():
        return False
    try:
        return not _pid_alive(int(parts[1]))
    except ValueError:
        return False


class Engine:
    """Executes runs of plans against a :class:`RunStore`, in this process, with asyncio."""

    def __init__(
        self,
        store: RunStore,
        services: Services,
        *,
        max_concurrency: int = 256,
        lease_ttl_s: float = 30.0,
        owner: str | None = None,
        tune_gc: bool = True,
    ) -> None:
        """``tune_gc``: tune the garbage collector for many live runs when this engine first
        executes a run (once per process, see :mod:`nexus.engine.collector`)."""
        self.store = store
        self.services = services
        self.bus = EventBus()
        self.max_concurrency = max_concurrency
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{new_id()[:6]}"
        self.tune_gc = tune_gc
        self._global_sem: asyncio.Semaphore | None = None
        self._active: dict[str, tuple[RunExecution, asyncio.Task[Any]]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._plans = PlanCache()
        #: run_id → until when the lease taken by create_run(claim=True) needs no claim
        self._claimed: dict[str, float] = {}
        self._leases = LeaseKeeper(store, self.owner, lease_ttl_s, self._active)

    @property
    def lease_ttl_s(self) -> float:
        """How long a lease lasts unless renewed; renewed every third of it (at most 1 s)."""
        return self._leases.ttl_s

    @lease_ttl_s.setter
    def lease_ttl_s(self, value: float) -> None:
        self._leases.ttl_s = value

    # helpers used by executions ---------------------------------------------------
    def global_slot(self) -> asyncio.Semaphore:
        """The engine-wide limit on running steps: ``async with engine.global_slot(): ...``."""
        if self._global_sem is None:
            self._global_sem = asyncio.Semaphore(self.max_concurrency)
        return self._global_sem

    def spawn_write(self, write: Awaitable[None]) -> None:
        """Run a non-durable store write in the background, keeping a reference to it."""
        task = asyncio.ensure_future(write)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def plan_of(self, run: RunRecord) -> Plan:
        """The run's parsed plan; parsed once per distinct plan, not once per run."""
        return self._plans.plan_of(run)

    # lifecycle ---------------------------------------------------------------------
    async def create_run(
        self,
        plan: Plan,
        inputs: Mapping[str, Any],
        *,
        workspace: str | None = None,
        parent_run_id: str | None = None,
        forked_from_step: str | None = None,
        options: dict[str, Any] | None = None,
        plan_dict: dict[str, Any] | None = None,
        run_id: str | None = None,
        tenant_id: str = "default",
        claim: bool = False,
    ) -> RunRecord:
        """Store a new run (status ``created``); :meth:`execute` runs it.

        ``claim``: take this engine's lease on the run in the same write, for a caller
        that executes the run here next: :meth:`execute` then needs no claim of its own
        (one durable write less per run). Leave it off when the run may be executed
        elsewhere (a server's claim loop skips runs whose lease is held).
        """
        run_id = run_id or new_id()
        if plan_dict is None:
            plan_dict, key = self._plans.dict_of(plan)
        else:
            key = self._plans.key_of(plan_dict)
        run = RunRecord(
            run_id=run_id,
            plan_name=plan.name,
            plan=plan_dict,
            inputs=resolve_inputs(plan, inputs),
            correlation_id=new_id("c-"),
            workspace=workspace,
            tenant_id=tenant_id,
            parent_run_id=parent_run_id,
            forked_from_step=forked_from_step,
            options=options or {},
        )
        self._plans.remember(key, plan)
        ev = Event(run_id, 1, "run.created", {"plan": plan.name}, run.correlation_id)
        if claim:
            await self.store.create_run(
                run, [ev], lease_owner=self.owner, lease_ttl_s=self.lease_ttl_s
            )
            self._note_claimed(run_id)
        else:
            await self.store.create_run(run, [ev])
        self.bus.publish(ev)
        return run

    def _note_claimed(self, run_id: str) -> None:
        """Remember a lease taken at creation: until a third of its TTL has passed (the
        heartbeat's renewal interval at most), executing the run needs no claim."""
        now = time.time()
        if len(self._claimed) > 10_000:  # created with claim=True but never executed here
            self._claimed = {k: t for k, t in self._claimed.items() if t > now}
        self._claimed[run_id] = now + self.lease_ttl_s / 3

    async def execute(self, run_id: str, *, takeover: bool = False) -> RunRecord:
        """Execute a run until it finishes or waits for input. Safe to call again after a crash."""
        if self.tune_gc:
            tune_for_runs()
        held_until = self._claimed.pop(run_id, None)
        run = await self.store.get_run(run_id)
        if run.status.finished:
            if held_until is not None:  # finished elsewhere (cancelled) since we created it
                with contextlib.suppress(Exception):
                    await self.store.release_run(run_id, self.owner)
            return run
        # held without a break since this engine created it, and nobody changed its status:
        # only the lease holder writes a run's steps and events, so it has none but the first
        fresh = False
        if held_until is not None and time.time() < held_until:
            fresh = run.status == RunStatus.CREATED
        else:
            holder = await self.store.claim_run(run_id, self.owner, self.lease_ttl_s)
            if holder is not None:
                if takeover and _holder_is_dead(holder):
                    await self.store.force_claim(run_id, self.owner, self.lease_ttl_s)
                else:
                    raise InvalidStateError(
                        f"run '{run_id}' is being executed by {holder}; "
                        "wait for its lease to expire or stop that process",
                        holder=holder,
                    )
        released = False
        try:
            run = await self._execute_claimed(run, fresh)
            released = True  # the final update released the lease
            return run
        finally:
            if not released:
                with contextlib.suppress(Exception):
                    await self.store.release_run(run_id, self.owner)

    async def _execute_claimed(self, run: RunRecord, fresh: bool = False) -> RunRecord:
        """Execute a claimed run; ``fresh``: as created here (no steps, event 1 only)."""
        plan = self.plan_of(run)
        if fresh:
            steps: dict[str, StepRecord] = {}
            last_seq = 1
        else:
            steps = {s.step_key: s for s in await self.store.get_steps(run.run_id)}
            last_seq = await self.store.last_event_seq(run.run_id)
        workspace = None
        if run.workspace:
            from nexus.workspace.git import GitWorkspace

            workspace = GitWorkspace(run.workspace)
            await workspace.ensure()
            if await workspace.is_dirty():  # a step interrupted by a crash left changes
                head = await workspace.head()
                if head:
                    await workspace.reset_to(head)
        execution = RunExecution(self, run, plan, steps, last_seq, workspace)
        await execution.load_replay()
        resumed = run.status != RunStatus.CREATED
        run.status = RunStatus.RUNNING
        run.updated_at = time.time()
        start_ev = execution.event(
            "run.resumed" if resumed else "run.started",
            completed_steps=sum(1 for s in steps.values() if s.status == StepStatus.SUCCEEDED),
        )
        await self.store.update_run(run, [start_ev], durable=False)
        task = asyncio.current_task()
        assert task is not None
        self._active[run.run_id] = (execution, task)
        self._leases.ensure_running()
        try:
            outputs = await execution.walk()
            run.status = RunStatus.SUCCEEDED
            run.output = {k: v["output"] for k, v in outputs.items()}
            run.error = None
            final = execution.event("run.succeeded", duration_s=time.time() - run.created_at)
        except Parked:
            run.status = RunStatus.WAITING_INPUT
            waiting = [
                s.step_key for s in execution.steps.values() if s.status == StepStatus.WAITING_INPUT
            ]
            final = execution.event("run.waiting_input", steps=waiting)
        except StepFailed as failed:
            run.status = RunStatus.FAILED
            run.error = failed.error
            final = execution.event("run.failed", error=failed.error)
        except asyncio.CancelledError:
            if not execution.cancel_requested:
                raise  # the process is shutting down: leave the run resumable
            task.uncancel()
            run.status = RunStatus.CANCELLED
            final = execution.event("run.cancelled")
        finally:
            self._active.pop(run.run_id, None)
        run.updated_at = time.time()
        if run.status.finished:
            run.finished_at = run.updated_at
        await self.store.update_run(run, [final], release_owner=self.owner)
        return run

    async def cancel(self, run_id: str) -> RunRecord:
        """Cancel a run: reaches its running steps if it executes here; else marks it."""
        active = self._active.get(run_id)
        if active is not None:
            execution, task = active
            execution.cancel_requested = True
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(task), timeout=30)
            return await self.store.get_run(run_id)
        run = await self.store.get_run(run_id)
        if run.status.finished:
            raise InvalidStateError(f"run '{run_id}' already {run.status.value}")
        run.status = RunStatus.CANCELLED
        run.updated_at = run.finished_at = time.time()
        holder = await self.store.claim_run(run_id, self.owner, self.lease_ttl_s)
        if holder is not None and not _holder_is_dead(holder):
            # Another process executes it: mark it; that process's lease timer sees the mark,
            # cancels the running steps and writes the events (it owns the run's event seq).
            await self.store.update_run(run)
            return run
        if holder is not None:
            await self.store.force_claim(run_id, self.owner, self.lease_ttl_s)
        seq = await self.store.last_event_seq(run_id)
        for step in await self.store.get_steps(run_id):
            if not step.status.finished:
                step.status = StepStatus.CANCELLED
                step.finished_at = run.finished_at
                await self.store.save_step(step)
        ev = Event(run_id, seq + 1, "run.cancelled", {"by": "request"}, run.correlation_id)
        await self.store.update_run(run, [ev], release_owner=self.owner)
        self.bus.publish(ev)
        return run

    async def answer(self, run_id: str, step_key: str, value: Any) -> RunRecord:
        run = await self.store.get_run(run_id)
        if run.status != RunStatus.WAITING_INPUT:
            raise InvalidStateError(f"run '{run_id}' is {run.status.value}, not waiting for input")
        steps = {s.step_key: s for s in await self.store.get_steps(run_id)}
        step = steps.get(step_key)
        if step is None or step.status != StepStatus.WAITING_INPUT:
            waiting = [k for k, s in steps.items() if s.status == StepStatus.WAITING_INPUT]
            raise InvalidStateError(
                f"step '{step_key}' of run '{run_id}' is not waiting for an answer; "
                f"waiting: {', '.join(waiting) or 'none'}"
            )
        options = (step.input or {}).get("options") or []
        if options and value not in options:
            raise InvalidStateError(
                f"answer {value!r} is not one of the options of step '{step_key}': "
                + ", ".join(map(str, options))
            )
        step.status = StepStatus.SUCCEEDED
        step.output = {"answer": value}
        step.finished_at = time.time()
        seq = await self.store.last_event_seq(run_id)
        ev = Event(
            run_id, seq + 1, "step.answered", {"answer": value}, run.correlation_id, step_key
        )
        await self.store.save_step(step, [ev])
        self.bus.publish(ev)
        return run

    async def drain(self) -> None:
        """Wait for background writes (called before closing the store)."""
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
