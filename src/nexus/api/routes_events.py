"""Live streams over Server-Sent Events and WebSocket (I3, A7); semantics in
:mod:`nexus.api.streams`.

- ``GET /api/runs/{id}/stream`` (SSE): one SSE event per run event, ``id`` = its
  ``seq``, ``event`` = its type, ``data`` = the event as JSON; then ``event: end``.
  Reconnecting with ``Last-Event-ID`` (browsers do it by themselves) or
  ``?after_seq=`` resumes right after that event: nothing is missed or repeated.
- ``WS /api/runs/{id}/ws?after_seq=N``: the same events as JSON text messages, then
  ``{"type": "end"}`` and a normal close.
- ``GET /api/agents/stream`` (SSE) and ``WS /api/agents/ws``: a ``snapshot`` of all
  agents, then ``agent.status`` and ``run.progress`` messages. A reconnecting client
  gets a fresh snapshot, so it never holds stale state.

Idle streams send a keep-alive every 15 s (an SSE comment, or ``{"type": "ping"}``).
A WebSocket that fails authentication is closed with 4401 / 4403, an unknown run
with 4404.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Header, Query, WebSocket
from fastapi.responses import StreamingResponse

from nexus.api.deps import Config, Executor, Nx, Viewer, load_run
from nexus.api.errors import COMMON_RESPONSES
from nexus.api.schemas import EventOut
from nexus.api.streams import agent_updates, run_events
from nexus.errors import NotFoundError

__all__ = ["KEEPALIVE_S", "router"]

router = APIRouter(tags=["streams"])

KEEPALIVE_S = 15.0
T = TypeVar("T")
_DONE = object()
_SSE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **COMMON_RESPONSES,
    200: {
        "description": "A text/event-stream of events",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
}
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def with_keepalive(source: AsyncIterator[T], interval: float) -> AsyncIterator[T | None]:
    """The items of ``source``, and ``None`` whenever ``interval`` passes without one."""
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=1)

    async def pump() -> None:
        try:
            async for item in source:
                await queue.put(item)
            await queue.put(_DONE)
        except Exception as exc:
            await queue.put(exc)
        finally:  # also when cancelled while waiting to hand an item over
            close = getattr(source, "aclose", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()

    task = asyncio.create_task(pump())
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), interval)
            except TimeoutError:
                yield None
                continue
            if item is _DONE:
                return
            if isinstance(item, Exception):
                raise item
            yield item
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def sse(event: str, data: Any, event_id: str | None = None) -> bytes:
    lines = []
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append(f"event: {event}")
    lines.append("data: " + json.dumps(data, separators=(",", ":"), default=str))
    return ("\n".join(lines) + "\n\n").encode()


def _start_seq(after_seq: int | None, last_event_id: str | None) -> int:
    start = after_seq or 0
    if last_event_id is not None and last_event_id.strip().isdigit():
        start = max(start, int(last_event_id.strip()))
    return start


@router.get(
    "/api/runs/{run_id}/stream",
    response_class=StreamingResponse,
    responses=_SSE_RESPONSES,
    summary="A run's events, stored then live, over Server-Sent Events",
)
async def stream_run(
    run_id: str,
    nx: Nx,
    executor: Executor,
    config: Config,
    principal: Viewer,
    after_seq: Annotated[int | None, Query(ge=0)] = None,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=32)] = None,
) -> StreamingResponse:
    await load_run(nx, principal, run_id)
    start = _start_seq(after_seq, last_event_id)
    poll_s = config.stream_poll_s

    async def body() -> AsyncIterator[bytes]:
        yield b"retry: 2000\n\n"
        last = start
        events = run_events(nx, run_id, start, poll_s=poll_s, is_local=executor.is_active)
        async for event in with_keepalive(events, KEEPALIVE_S):
            if event is None:
                yield b": keep-alive\n\n"
                continue
            last = event.seq
            yield sse(event.type, EventOut.of(event).model_dump(mode="json"), str(event.seq))
        yield sse("end", {"run_id": run_id, "last_seq": last}, str(last))

    return StreamingResponse(body(), media_type="text/event-stream", headers=_SSE_HEADERS)


@router.get(
    "/api/agents/stream",
    response_class=StreamingResponse,
    responses=_SSE_RESPONSES,
    summary="Agent status and run progress over Server-Sent Events",
)
async def stream_agents(nx: Nx, principal: Viewer) -> StreamingResponse:
    async def body() -> AsyncIterator[bytes]:
        yield b"retry: 2000\n\n"
        counter = 0
        async for item in with_keepalive(agent_updates(nx), KEEPALIVE_S):
            if item is None or item[0] == "ping":
                yield b": keep-alive\n\n"
                continue
            counter += 1
            kind, data = item
            if kind == "run.progress" and not _visible(principal, data):
                continue
            yield sse(kind, data, str(counter))

    return StreamingResponse(body(), media_type="text/event-stream", headers=_SSE_HEADERS)


def _visible(principal: Any, data: dict[str, Any]) -> bool:
    """Progress of other tenants' runs is not shown."""
    return bool(principal.all_tenants) or data.get("tenant_id") == principal.tenant_id


async def _serve(websocket: WebSocket, messages: AsyncIterator[dict[str, Any] | None]) -> None:
    """Send ``messages`` (None = keep-alive) until they end or the client leaves."""

    async def send() -> None:
        async for message in messages:
            await websocket.send_json({"type": "ping"} if message is None else message)

    async def receive() -> None:
        while True:
            incoming = await websocket.receive()
            if incoming["type"] == "websocket.disconnect":
                return

    sender = asyncio.create_task(send())
    receiver = asyncio.create_task(receive())
    done, pending = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    if sender in done and sender.exception() is None:
        with contextlib.suppress(Exception):
            await websocket.close(code=1000)


@router.websocket("/api/runs/{run_id}/ws")
async def ws_run(
    websocket: WebSocket,
    run_id: str,
    nx: Nx,
    executor: Executor,
    config: Config,
    principal: Viewer,
    after_seq: Annotated[int, Query(ge=0)] = 0,
) -> None:
    try:
        await load_run(nx, principal, run_id)
    except NotFoundError as exc:
        await websocket.close(code=4404, reason=exc.message[:120])
        return
    await websocket.accept()
    poll_s = config.stream_poll_s

    async def messages() -> AsyncIterator[dict[str, Any] | None]:
        last = after_seq
        events = run_events(nx, run_id, after_seq, poll_s=poll_s, is_local=executor.is_active)
        async for event in with_keepalive(events, KEEPALIVE_S):
            if event is not None:
                last = event.seq
                yield EventOut.of(event).model_dump(mode="json")
            else:
                yield None
        yield {"type": "end", "run_id": run_id, "last_seq": last}

    await _serve(websocket, messages())


@router.websocket("/api/agents/ws")
async def ws_agents(websocket: WebSocket, nx: Nx, principal: Viewer) -> None:
    await websocket.accept()

    async def messages() -> AsyncIterator[dict[str, Any] | None]:
        async for item in with_keepalive(agent_updates(nx), KEEPALIVE_S):
            if item is None or item[0] == "ping":
                yield None
            elif item[0] != "run.progress" or _visible(principal, item[1]):
                yield {"type": item[0], "data": item[1]}

    await _serve(websocket, messages())
