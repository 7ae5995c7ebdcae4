"""Live streams (I3, A7): a run's events, and agent status with run progress.

:func:`run_events` yields a run's events in ``seq`` order, starting after
``after_seq``, and misses none:

1. it subscribes to the in-process event bus first (so nothing published from
   now on is lost), then replays the stored events after ``after_seq``;
2. it then delivers live events from the bus, skipping any it already sent
   (de-duplicated by ``seq``); when a live event arrives ahead of the next
   expected ``seq`` (the engine publishes before the write is committed), the
   missing ones are read from the store first;
3. when the bus is quiet it reads the store (every ``poll_s`` seconds, ten times
   less often while this process executes the run itself): that is how events of
   a run executed by another server sharing the database arrive, and how a
   subscriber that fell behind (its queue overflowed) catches up.

It ends after the run's final event (succeeded, failed, cancelled), or at once
after the replay when the run had already finished. A run that waits for input
keeps the stream open: answering it continues the run.

:func:`agent_updates` yields a snapshot of every agent's status, then each
status change and the progress events of every run executing in this process.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from nexus.domain.runs import Event

if TYPE_CHECKING:
    from nexus.runtime import Nexus

__all__ = ["PROGRESS_TYPES", "TERMINAL_TYPES", "agent_updates", "run_events"]

TERMINAL_TYPES = frozenset({"run.succeeded", "run.failed", "run.cancelled"})
PROGRESS_TYPES = frozenset(
    {
        "run.created",
        "run.started",
        "run.resumed",
        "run.succeeded",
        "run.failed",
        "run.cancelled",
        "run.waiting_input",
        "step.started",
        "step.succeeded",
        "step.failed",
        "step.retrying",
        "step.skipped",
        "step.waiting",
        "step.answered",
        "step.cancelled",
    }
)
_MAX_QUEUE = 10_000
_PAGE = 500
_GAP_WAIT_S = 2.0


class _Inbox:
    """A bounded queue fed by a bus listener; remembers that it overflowed."""

    def __init__(self, size: int = _MAX_QUEUE) -> None:
        self.queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=size)
        self.overflowed = False
        self._loop = asyncio.get_running_loop()

    def offer(self, item: Any) -> None:
        """Callable from any thread."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._put(item)
        else:
            self._loop.call_soon_threadsafe(self._put, item)

    def _put(self, item: Any) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed = True

    async def get(self, timeout: float) -> Any | None:
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None

    def reset(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()
        self.overflowed = False


async def run_events(
    nx: Nexus,
    run_id: str,
    after_seq: int = 0,
    *,
    poll_s: float = 0.5,
    is_local: Callable[[str], bool] | None = None,
) -> AsyncIterator[Event]:
    """The events of ``run_id`` after ``after_seq``, stored then live (see the module doc)."""
    await nx.get_run(run_id)  # NotFoundError before anything is sent
    inbox = _Inbox()

    def listener(event: Event) -> None:
        if event.run_id == run_id:
            inbox.offer(event)

    unsubscribe = nx.subscribe(listener)
    last = after_seq
    try:
        while True:  # replay
            batch = await nx.store.read_events(run_id, after_seq=last, limit=_PAGE)
            for event in batch:
                last = event.seq
                yield event
                if event.type in TERMINAL_TYPES:
                    return
            if len(batch) < _PAGE:
                break
        if (await nx.get_run(run_id)).status.finished:
            return
        while True:
            stored: list[Event] = []
            local = is_local(run_id) if is_local is not None else False
            live = await inbox.get(poll_s * 10 if local else poll_s)
            if inbox.overflowed:
                inbox.reset()
                live = None
            if live is not None and live.seq <= last:
                continue
            if live is None or live.seq > last + 1:
                stored = await _catch_up(nx, run_id, last, live.seq - 1 if live else None)
                for event in stored:
                    last = event.seq
                    yield event
                    if event.type in TERMINAL_TYPES:
                        return
            if live is not None and live.seq > last:
                last = live.seq
                yield live
                if live.type in TERMINAL_TYPES:
                    return
            if live is None and not stored and (await nx.get_run(run_id)).status.finished:
                return
    finally:
        unsubscribe()


async def _catch_up(nx: Nexus, run_id: str, last: int, upto: int | None) -> list[Event]:
    """Stored events after ``last``; with ``upto``, wait (briefly) until they reach it."""
    found: list[Event] = []
    deadline = time.monotonic() + _GAP_WAIT_S
    while True:
        after = found[-1].seq if found else last
        batch = await nx.store.read_events(run_id, after_seq=after, limit=_PAGE)
        if upto is not None:
            batch = [e for e in batch if e.seq <= upto]
        found.extend(batch)
        reached = upto is None or (found and found[-1].seq >= upto)
        if len(batch) == _PAGE and not reached:
            continue
        if reached or time.monotonic() >= deadline:
            return found
        await asyncio.sleep(0.02)


async def _tenant_of(nx: Nexus, run_id: str, cache: dict[str, str]) -> str:
    tenant = cache.get(run_id)
    if tenant is None:
        try:
            tenant = (await nx.get_run(run_id)).tenant_id
        except Exception:
            tenant = ""
        if len(cache) > 10_000:
            cache.clear()
        cache[run_id] = tenant
    return tenant


async def agent_updates(nx: Nexus) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """``("snapshot", {"agents": [...]})`` first, then ``("agent.status", status)`` on every
    change and ``("run.progress", event)`` for run and step transitions in this process (with the
    run's ``tenant_id``).
    After an overflow (a very slow client) a fresh snapshot is sent."""
    inbox = _Inbox()

    def on_status(status: Any) -> None:
        inbox.offer(("agent.status", status.to_dict()))

    def on_event(event: Event) -> None:
        if event.type in PROGRESS_TYPES:
            data = {
                "run_id": event.run_id,
                "seq": event.seq,
                "type": event.type,
                "step_key": event.step_key,
                "ts": event.ts,
            }
            for name in ("kind", "name", "attempt", "duration_s"):
                if name in event.data:
                    data[name] = event.data[name]
            inbox.offer(("run.progress", data))

    registry = nx.services.agents
    stop_status = registry.subscribe(on_status)
    stop_events = nx.subscribe(on_event)
    tenants: dict[str, str] = {}
    try:
        yield "snapshot", {"agents": nx.agent_status()}
        while True:
            item = await inbox.get(15.0)
            if inbox.overflowed:
                inbox.reset()
                yield "snapshot", {"agents": nx.agent_status()}
                continue
            if item is None:
                yield "ping", {"ts": time.time()}
                continue
            if item[0] == "run.progress":
                item[1]["tenant_id"] = await _tenant_of(nx, item[1]["run_id"], tenants)
            yield item
    finally:
        stop_status()
        stop_events()
