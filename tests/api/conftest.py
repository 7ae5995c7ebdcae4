"""API test fixtures: the app in-process (httpx.ASGITransport, lifespan run by hand) with a
fake model behind the ``function:`` provider, and a real uvicorn server in a thread."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from nexus.api import ServerSettings, create_app
from nexus.api.auth import Authenticator
from nexus.domain.messages import ModelRequest, ModelResponse, Usage
from nexus.runtime import Nexus
from nexus.testing import FunctionModel, text

TERMINAL = ("succeeded", "failed", "cancelled")


@dataclass
class FakeBrain:
    """The fake model: replies ``reply: <last user text>`` with fixed usage; a step can be
    held until ``release`` is set (to keep an agent busy)."""

    usage: dict[str, Any] = field(
        default_factory=lambda: {"input_tokens": 100, "output_tokens": 20, "cost_usd": 0.01}
    )
    hold_prompts: set[str] = field(default_factory=set)
    release: asyncio.Event | None = None
    calls: int = 0

    async def __call__(self, request: ModelRequest) -> ModelResponse:
        self.calls += 1
        prompt = request.messages[-1].text_content
        if any(marker in prompt for marker in self.hold_prompts):
            assert self.release is not None
            await self.release.wait()
        return text(f"reply: {prompt[-200:]}\nCONFIDENCE: 0.9", usage=Usage(**self.usage))


def server_settings(**changes: Any) -> ServerSettings:
    base: dict[str, Any] = {
        "default_model": "function:test",
        "claim_interval_s": 0.2,
        "stream_poll_s": 0.1,
        "lease_ttl_s": 5.0,
        "workers": 4,
    }
    base.update(changes)
    return ServerSettings(**base)


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    nx: Nexus
    brain: FakeBrain

    async def wait_status(
        self,
        run_id: str,
        statuses: tuple[str, ...] = TERMINAL,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while True:
            response = await self.client.get(f"/api/runs/{run_id}", headers=headers)
            body: dict[str, Any] = response.json()
            if body["status"] in statuses:
                return body
            assert time.monotonic() < deadline, f"run {run_id} stayed {body['status']}"
            await asyncio.sleep(0.05)


MakeApi = Callable[..., Awaitable[Api]]


@pytest.fixture
async def make_api() -> AsyncIterator[MakeApi]:
    """Build apps (``make_api(authenticator=…, **settings)``); all are shut down at the end."""
    stack = contextlib.AsyncExitStack()

    async def build(authenticator: Authenticator | None = None, **changes: Any) -> Api:
        settings = server_settings(**changes)
        brain = FakeBrain()
        brain.release = asyncio.Event()
        app = create_app(settings=settings, authenticator=authenticator)
        await stack.enter_async_context(app.router.lifespan_context(app))
        nx: Nexus = app.state.nx
        nx.services.models.register("function", lambda _model: FunctionModel(brain))
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://nexus.test", timeout=30
        )
        await stack.enter_async_context(client)
        return Api(app, client, nx, brain)

    try:
        yield build
    finally:
        await stack.aclose()


@pytest.fixture
async def api(make_api: MakeApi) -> Api:
    return await make_api(api_open=True)


def echo_plan(name: str = "echo-plan", **extra_steps: Any) -> dict[str, Any]:
    steps: dict[str, Any] = {
        "a": {"tool": "echo", "with": {"message": "${{ inputs.word }}"}},
        "b": {"needs": ["a"], "tool": "echo", "with": {"seen": "${{ steps.a.output.message }}"}},
    }
    steps.update(extra_steps)
    return {"name": name, "inputs": {"word": {"type": "string", "default": "hi"}}, "steps": steps}


# --- a real server over a socket ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    app: FastAPI
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def nx(self) -> Nexus:
        nx: Nexus = self.app.state.nx
        return nx


@contextlib.contextmanager
def live_server(settings: ServerSettings) -> Iterator[LiveServer]:
    """uvicorn on 127.0.0.1 and a free port, in a thread with its own event loop."""
    port = free_port()
    app = create_app(settings=settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "the server thread died"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", app, server, thread)
    finally:
        server.should_exit = True
        thread.join(timeout=20)
