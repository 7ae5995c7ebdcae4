"""Gateway fixtures: ``nexus serve``'s app under uvicorn on 127.0.0.1 (in a thread), with a
fake upstream model under the ``fake:`` prefix, and API keys to call it with.

The fake model (:class:`Upstream`) is the only thing faked: it answers ``echo: <last user
text>``, calls ``get_weather`` when offered tools and asked about the weather (saying "Let
me check." first when asked to check), reports
what a tool returned, and streams its text word by word. Every request it receives is
kept in ``upstream.requests``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from nexus.api import ServerSettings, create_app
from nexus.domain.messages import (
    Message,
    ModelRequest,
    ModelResponse,
    Part,
    TextPart,
    ToolCall,
    ToolResult,
    Usage,
)
from nexus.providers.base import StreamChunk
from nexus.runtime import Nexus
from tests.api.conftest import free_port

USAGE = Usage(input_tokens=12, output_tokens=5, cost_usd=0.001)


@dataclass
class Upstream:
    """The fake upstream model: what it was asked, and how it answers."""

    requests: list[ModelRequest] = field(default_factory=list)
    usage: Usage = field(default_factory=lambda: USAGE)

    def answer(self, request: ModelRequest) -> ModelResponse:
        last = request.messages[-1]
        results = [p for p in last.parts if isinstance(p, ToolResult)]
        parts: list[Part]
        if results:
            parts = [TextPart(text="tool said: " + "; ".join(r.content for r in results))]
        elif request.tools and "weather" in last.text_content:
            city = last.text_content.rsplit(" ", 1)[-1].strip("?")
            parts = [ToolCall(id="call_w1", name="get_weather", arguments={"city": city})]
            if "check" in last.text_content:
                parts.insert(0, TextPart(text="Let me check."))
        else:
            parts = [TextPart(text=f"echo: {last.text_content}")]
        calls = any(isinstance(p, ToolCall) for p in parts)
        return ModelResponse(
            model=request.model,
            message=Message(role="assistant", parts=tuple(parts)),
            stop_reason="tool_use" if calls else "end_turn",
            usage=self.usage,
        )


class FakeModel:
    """A provider over :class:`Upstream` (``fake:<anything>``)."""

    name = "fake"

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.upstream.requests.append(request)
        return self.upstream.answer(request)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]:
        self.upstream.requests.append(request)
        response = self.upstream.answer(request)
        words = response.message.text_content.split(" ")
        for i, word in enumerate(words):
            if word:
                yield StreamChunk.delta(word if i == 0 else " " + word)
        for call in response.message.tool_calls:
            yield StreamChunk.call(call)
        yield StreamChunk.final(response.usage, response.stop_reason, model=request.model)


@dataclass
class Live:
    """A running server: its URL, app, the fake upstream and an operator key."""

    url: str
    app: FastAPI
    upstream: Upstream
    token: str
    server: uvicorn.Server

    @property
    def nx(self) -> Nexus:
        nx: Nexus = self.app.state.nx
        return nx

    def key(self, role: str = "operator", tenant_id: str | None = None) -> str:
        """A new API key (the server is open, so no key is needed to make one)."""
        body: dict[str, Any] = {"role": role}
        if tenant_id is not None:
            body["tenant_id"] = tenant_id
        reply = httpx.post(f"{self.url}/api/keys", json=body, timeout=10)
        assert reply.status_code == 201, reply.text
        token: str = reply.json()["token"]
        return token

    def tenant(self, tenant_id: str) -> None:
        reply = httpx.post(
            f"{self.url}/api/tenants",
            json={"tenant_id": tenant_id, "plan": "enterprise"},
            timeout=10,
        )
        assert reply.status_code == 201, reply.text

    def get(self, path: str, token: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return httpx.get(f"{self.url}{path}", headers=headers, timeout=10)


@contextlib.contextmanager
def running_server(**settings: Any) -> Iterator[Live]:
    """The API app under uvicorn, with ``fake:`` registered and an operator key."""
    port = free_port()
    base: dict[str, Any] = {"api_open": True, "workers": 1, "claim": False}
    base.update(settings)
    app = create_app(settings=ServerSettings(**base))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive(), "the server thread died"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    upstream = Upstream()
    app.state.nx.services.models.register("fake", lambda _model: FakeModel(upstream))
    live = Live(f"http://127.0.0.1:{port}", app, upstream, "", server)
    live.token = live.key("operator")
    try:
        yield live
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@pytest.fixture
def live() -> Iterator[Live]:
    with running_server() as server:
        yield server


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
