"""Group commit: the asynchronous half of the write path.

Writers put an :class:`~nexus.store._writer.Op` in a queue. One flusher takes
everything pending and commits it as one batch; a durable writer awaits a
future that is resolved once the batch holding its write is committed. A
non-durable write only schedules a flush on the next loop iteration, so it is
committed with the next batch and never after a later write.

A reader waits only for the writes that concern the run it reads (``drain(run_id)``):
with thousands of runs in flight, a read of one run does not commit the others'
pending writes early (which would cut the batches into pieces).

Two flavours:

- :class:`InlineCommit` runs the batch synchronously on the event loop thread
  (SQLite: a commit costs tens of microseconds; a thread hop would cost more).
- :class:`ThreadCommit` runs it in a worker thread (PostgreSQL: a commit
  waits on the network and the server's disk).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from nexus.errors import StoreError
from nexus.store._writer import Kind, Op, Outcome

log = logging.getLogger("nexus.store")

ApplyBatch = Callable[[list[Op]], list[Outcome]]


class _GroupCommit:
    def __init__(self, apply: ApplyBatch) -> None:
        self._apply = apply
        self._pending: list[Op] = []
        #: the runs that the ops in ``_pending`` (and in a batch being committed) write to
        self._pending_runs: set[str] = set()
        self.batches = 0
        self.ops = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def write(self, op: Op, durable: bool) -> Any:
        """Queue ``op``; when ``durable``, return its result once it is committed."""
        if not durable:
            self._enqueue(op)
            return None
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        op.future = future
        self._enqueue(op)
        return await future

    async def drain(self, run_id: str | None = None) -> None:
        """Return once every write queued so far is committed; with ``run_id``, at once
        when none of them concerns that run."""
        raise NotImplementedError

    def _enqueue(self, op: Op) -> None:
        raise NotImplementedError

    def _note_runs(self, op: Op) -> None:
        runs = self._pending_runs
        runs.add(op.run_id)
        for ev in op.events:
            if ev["run_id"] != op.run_id:
                runs.add(ev["run_id"])

    def _resolve(self, ops: list[Op], outcomes: list[Outcome]) -> None:
        self.batches += 1
        self.ops += len(ops)
        for op, outcome in zip(ops, outcomes, strict=True):
            future = op.future
            if isinstance(outcome, BaseException):
                if future is None:
                    log.warning("a non-durable write was lost: %s", outcome)
                elif not future.done():
                    future.set_exception(outcome)
            elif future is not None and not future.done():
                future.set_result(outcome)


class InlineCommit(_GroupCommit):
    """Flushes on the event loop thread, at the next loop iteration or when a reader asks.

    A durable write made while nothing else waits to run on the event loop (no task
    could add to the batch before the next iteration's flush) commits at once, in the
    writer's turn: the same batch, without a future and two loop iterations. At most
    :data:`SYNC_STREAK` such writes in a row, then one waits for its loop iteration, so
    a long chain of instant steps still lets the loop poll for I/O.
    """

    #: Durable writes committed in the writer's turn before one yields to the loop.
    SYNC_STREAK = 32

    def __init__(self, apply: ApplyBatch) -> None:
        super().__init__(apply)
        self._scheduled: asyncio.Handle | None = None
        self._streak = 0

    async def write(self, op: Op, durable: bool) -> Any:
        if not durable:
            self._enqueue(op)
            return None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        op.future = future
        if self._streak < self.SYNC_STREAK and self._alone(loop):
            self._streak += 1
            self._pending.append(op)
            self.flush_now()
            return future.result()
        self._streak = 0
        self._enqueue(op)
        return await future

    def _alone(self, loop: asyncio.AbstractEventLoop) -> bool:
        """Whether the loop's ready queue holds nothing but this committer's own flush.

        Reads the ready queue of asyncio's own event loops; with another loop it says
        False and every durable write waits for its loop iteration as usual."""
        ready = getattr(loop, "_ready", None)
        if ready is None:
            return False
        return not ready or (len(ready) == 1 and ready[0] is self._scheduled)

    def _enqueue(self, op: Op) -> None:
        self._pending.append(op)
        self._note_runs(op)
        if self._scheduled is None:
            self._scheduled = asyncio.get_running_loop().call_soon(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        # stays scheduled after an earlier flush_now: then it commits what came since, if any
        self._scheduled = None
        self.flush_now()

    def flush_now(self) -> None:
        """Commit everything pending, synchronously."""
        while self._pending:
            ops, self._pending = self._pending, []
            self._pending_runs = set()
            try:
                outcomes = self._apply(ops)
            except Exception as exc:  # apply() reports per op; this is a bug guard
                outcomes = [StoreError(f"committing {len(ops)} writes failed: {exc}")] * len(ops)
            self._resolve(ops, outcomes)

    async def drain(self, run_id: str | None = None) -> None:
        if run_id is None or run_id in self._pending_runs:
            self.flush_now()


class ThreadCommit(_GroupCommit):
    """Flushes in a worker thread; while one batch commits, the next one gathers."""

    def __init__(self, apply: ApplyBatch) -> None:
        super().__init__(apply)
        self._task: asyncio.Task[None] | None = None
        #: the runs written by the batch being committed in the worker thread
        self._committing_runs: set[str] = set()

    def _enqueue(self, op: Op) -> None:
        self._pending.append(op)
        self._note_runs(op)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._flusher())

    async def _flusher(self) -> None:
        try:
            while self._pending:
                ops, self._pending = self._pending, []
                self._committing_runs, self._pending_runs = self._pending_runs, set()
                try:
                    outcomes = await asyncio.to_thread(self._apply, ops)
                except Exception as exc:  # apply() reports per op; this is a bug guard
                    error = StoreError(f"committing {len(ops)} writes failed: {exc}")
                    outcomes = [error] * len(ops)
                finally:
                    self._committing_runs = set()
                self._resolve(ops, outcomes)
        finally:
            self._task = None

    async def drain(self, run_id: str | None = None) -> None:
        if run_id is not None and not (
            run_id in self._pending_runs or run_id in self._committing_runs
        ):
            return
        if self._pending or self._task is not None:
            await self.write(Op(Kind.SYNC, ""), durable=True)
