"""Live streams over a real socket (uvicorn in a thread): SSE and WebSocket of a run's
events with reconnects that miss nothing, tailing a run executed by another process, and
the agents stream."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import websockets

from nexus.engine.plan_loader import parse_plan
from nexus.runtime import Nexus
from nexus.testing import FunctionModel, text
from tests.api.conftest import LiveServer, live_server, server_settings

PLAN = {
    "name": "streamed",
    "steps": {
        "prepare": {"tool": "echo", "with": {"message": "ready"}},
        "ask": {"needs": ["prepare"], "human": "Go on?", "options": ["yes", "no"]},
        "slow": {"needs": ["ask"], "tool": "shell", "with": {"command": "sleep 0.4"}},
        "last": {"needs": ["slow"], "tool": "echo", "with": {"done": True}},
    },
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("stream-home")
    with live_server(server_settings(home=home, api_open=True, claim=False)) as srv:
        srv.nx.services.models.register(
            "function", lambda _m: FunctionModel(lambda r: text("ok CONFIDENCE: 0.9"))
        )
        yield srv


def _sse(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Parse an SSE byte stream into {id, event, data} dicts (comments skipped)."""
    current: dict[str, Any] = {}
    for line in lines:
        if not line:
            if "event" in current:
                yield current
            current = {}
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(": ")
            current[name] = json.loads(value) if name == "data" else value


def _create(server: LiveServer, plan: dict[str, Any]) -> str:
    response = httpx.post(f"{server.url}/api/runs", json={"plan": plan}, timeout=10)
    assert response.status_code == 201, response.text
    run_id: str = response.json()["run_id"]
    return run_id


def _stored(server: LiveServer, run_id: str) -> list[int]:
    events = httpx.get(f"{server.url}/api/runs/{run_id}/events", timeout=10).json()["events"]
    return [e["seq"] for e in events]


def test_sse_reconnect_with_last_event_id_misses_nothing(server: LiveServer) -> None:
    listeners = len(server.nx.engine.bus._listeners)
    run_id = _create(server, PLAN)
    url = f"{server.url}/api/runs/{run_id}/stream"
    first: list[dict[str, Any]] = []
    with httpx.stream("GET", url, timeout=20) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        for event in _sse(response.iter_lines()):
            first.append(event)
            if event["event"] == "run.waiting_input":
                break  # the client goes away while the run waits
    assert first[-1]["event"] == "run.waiting_input", first
    last_id = first[-1]["id"]
    answer = {"step": "ask", "value": "yes"}
    answered = httpx.post(f"{server.url}/api/runs/{run_id}/answers", json=answer, timeout=10)
    assert answered.status_code == 202, answered.text
    second: list[dict[str, Any]] = []
    with httpx.stream("GET", url, headers={"Last-Event-ID": last_id}, timeout=20) as response:
        second = list(_sse(response.iter_lines()))
    assert second[-1]["event"] == "end"
    seqs = [int(e["id"]) for e in first + second[:-1]]
    assert seqs == list(range(1, len(seqs) + 1))  # in order, no gap, no duplicate
    assert seqs == _stored(server, run_id)
    assert second[-2]["event"] == "run.succeeded"
    assert all(e["data"]["seq"] == int(e["id"]) for e in first + second[:-1])
    # a client that reconnects after the end gets only the end
    with httpx.stream("GET", url, headers={"Last-Event-ID": str(seqs[-1])}, timeout=10) as r:
        assert [e["event"] for e in _sse(r.iter_lines())] == ["end"]
    deadline = time.monotonic() + 5  # every stream let go of the event bus
    while len(server.nx.engine.bus._listeners) != listeners:
        assert time.monotonic() < deadline, "a stream kept its bus subscription"
        time.sleep(0.05)


async def test_websocket_resumes_after_seq(server: LiveServer) -> None:
    run_id = _create(server, PLAN)
    ws_url = server.url.replace("http://", "ws://") + f"/api/runs/{run_id}/ws"
    first: list[dict[str, Any]] = []
    async with websockets.connect(ws_url, open_timeout=10) as ws:
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 20))
            first.append(message)
            if message["type"] == "run.waiting_input":
                break
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        await client.post(f"/api/runs/{run_id}/answers", json={"step": "ask", "value": "no"})
    second: list[dict[str, Any]] = []
    async with websockets.connect(f"{ws_url}?after_seq={first[-1]['seq']}") as ws:
        async for raw in ws:
            second.append(json.loads(raw))
    assert second[-1] == {"type": "end", "run_id": run_id, "last_seq": second[-2]["seq"]}
    seqs = [m["seq"] for m in first + second[:-1]]
    assert seqs == list(range(1, len(seqs) + 1)) and seqs == _stored(server, run_id)
    assert second[-2]["type"] == "run.succeeded"


async def test_streams_tail_a_run_executed_by_another_process(server: LiveServer) -> None:
    settings = server_settings(home=server.nx.settings.home)
    other = await Nexus.open(settings)
    try:
        plan = parse_plan(
            {
                "name": "elsewhere",
                "steps": {
                    "a": {"tool": "shell", "with": {"command": "sleep 0.3"}},
                    "b": {"needs": ["a"], "tool": "echo", "with": {"x": 1}},
                },
            }
        )
        run = await other.start_run(plan, {})

        async def listen() -> list[dict[str, Any]]:
            url = f"{server.url}/api/runs/{run.run_id}/stream"
            async with (
                httpx.AsyncClient(timeout=20) as client,
                client.stream("GET", url) as response,
            ):
                return list(_sse(await _lines(response.aiter_lines())))

        listener = asyncio.create_task(listen())
        await asyncio.sleep(0.3)  # the stream is open before the run starts
        executed = await other.execute(run.run_id)
        received = await asyncio.wait_for(listener, 20)
    finally:
        await other.close()
    assert executed.status.value == "succeeded"
    assert [e["event"] for e in received][-2:] == ["run.succeeded", "end"]
    seqs = [int(e["id"]) for e in received[:-1]]
    assert seqs == list(range(1, len(seqs) + 1)) and seqs == _stored(server, run.run_id)


async def _lines(source: AsyncIterator[str]) -> Iterator[str]:
    return iter([line async for line in source])


async def test_agents_stream_sends_a_snapshot_then_status_changes(server: LiveServer) -> None:
    received: list[dict[str, Any]] = []

    async def listen() -> None:
        async with (
            httpx.AsyncClient(timeout=20) as client,
            client.stream("GET", f"{server.url}/api/agents/stream") as response,
        ):
            buffer: list[str] = []
            async for line in response.aiter_lines():
                buffer.append(line)
                if line == "":
                    received.extend(_sse(iter(buffer)))
                    buffer = []
                    states = [e["data"]["state"] for e in received if e["event"] == "agent.status"]
                    finished = any(
                        e["event"] == "run.progress" and e["data"]["type"] == "run.succeeded"
                        for e in received
                    )
                    if "processing" in states and states[-1] == "idle" and finished:
                        return

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0.3)
    async with httpx.AsyncClient(base_url=server.url, timeout=20) as client:
        sent = await client.post("/api/agents/alpha/message", json={"message": "hi", "wait": True})
    assert sent.json()["status"] == "answered"
    await asyncio.wait_for(listener, 20)
    assert received[0]["event"] == "snapshot"
    assert {a["id"] for a in received[0]["data"]["agents"]} >= {"alpha", "beta"}
    statuses = [e["data"] for e in received if e["event"] == "agent.status"]
    assert [s["agent_id"] for s in statuses] == ["alpha", "alpha"]
    assert statuses[0]["current_step"] == f"{sent.json()['run_id']}/reply"
    progress = [e["data"]["type"] for e in received if e["event"] == "run.progress"]
    assert "step.started" in progress and "run.succeeded" in progress
