"""End to end: the agent step handler runs its tool loop on a real provider adapter.

The model is named like a user would (``openai:some-model``, ``anthropic:…``,
``ollama:…``), the default registry builds the provider from the environment,
and a loopback server speaking the provider's wire format plays the model: it
writes a file, reads it back, then answers. The same loop runs on every provider.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nexus.agents.registry import AgentRegistry
from nexus.handlers.agent import AgentHandler
from nexus.handlers.base import HandlerRegistry, StepContext
from nexus.handlers.builtin import builtin_handlers
from nexus.providers import default_registry
from nexus.services import Services
from nexus.settings import Settings
from nexus.store.memory import MemoryStore
from tests.providers.fakes import anthropic_wire, openai_wire
from tests.providers.fakes.server import FakeServer, Reply

CODE = "def greet(name):\n    return f'Hello, {name}!'\n"
FINAL = "Wrote greet.py and checked it.\nCONFIDENCE: 0.9"


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=path, check=True, timeout=30)
    return path


def openai_script() -> list[Reply]:
    return [
        Reply.json(
            openai_wire.chat_completion(
                "Writing the module.",
                tool_calls=[
                    openai_wire.tool_call("call_1", "write_file", path="greet.py", content=CODE)
                ],
                use=openai_wire.usage(1200, 80),
            )
        ),
        Reply.json(
            openai_wire.chat_completion(
                None,
                tool_calls=[openai_wire.tool_call("call_2", "read_file", path="greet.py")],
                use=openai_wire.usage(1400, 30, cached=1000),
            )
        ),
        Reply.json(openai_wire.chat_completion(FINAL, use=openai_wire.usage(1500, 20))),
    ]


def anthropic_script() -> list[Reply]:
    return [
        Reply.json(
            anthropic_wire.message(
                "Writing the module.",
                tools=[
                    anthropic_wire.tool_use("toolu_1", "write_file", path="greet.py", content=CODE)
                ],
                use=anthropic_wire.usage(input_tokens=1200, output_tokens=80),
            )
        ),
        Reply.json(
            anthropic_wire.message(
                None,
                tools=[anthropic_wire.tool_use("toolu_2", "read_file", path="greet.py")],
                use=anthropic_wire.usage(input_tokens=400, output_tokens=30, cache_read=1000),
            )
        ),
        Reply.json(
            anthropic_wire.message(
                FINAL, use=anthropic_wire.usage(input_tokens=1500, output_tokens=20)
            )
        ),
    ]


def tool_results(wire: str, body: dict[str, Any]) -> dict[str, str]:
    """Tool call id → tool result content, from a request body in either wire format."""
    found: dict[str, str] = {}
    for message in body["messages"]:
        if wire == "openai" and message["role"] == "tool":
            found[message["tool_call_id"]] = message["content"]
        if wire == "anthropic" and isinstance(message["content"], list):
            for block in message["content"]:
                if block["type"] == "tool_result":
                    found[block["tool_use_id"]] = block["content"]
    return found


CASES = {
    # model, wire format, expected (input, output, cache read) totals, cost by the price table
    "openai": ("openai:some-model", "openai", (3100, 130, 1000), 0.0),
    "anthropic": (
        "anthropic:claude-haiku-4-5",
        "anthropic",
        (3100, 130, 1000),
        (3100 * 1.00 + 130 * 5.00 + 1000 * 0.10) / 1e6,
    ),
    "ollama": ("ollama:qwen3", "openai", (3100, 130, 1000), 0.0),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_agent_tool_loop_on_every_provider(
    case: str, server: FakeServer, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, wire, (inputs, outputs, cached), cost = CASES[case]
    if case == "openai":
        monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    elif case == "anthropic":
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    else:
        monkeypatch.setenv("OLLAMA_BASE_URL", server.url + "/v1")
    server.queue(*(openai_script() if wire == "openai" else anthropic_script()))

    services = Services(
        settings=Settings(),
        store=MemoryStore(),
        handlers=HandlerRegistry([*builtin_handlers(), AgentHandler()]),
        models=default_registry(Settings()),
        agents=AgentRegistry.from_team(),
    )
    events: list[tuple[str, dict[str, Any]]] = []
    ctx = StepContext(
        run_id="run1",
        step_key="implement",
        kind="agent",
        name="agent",
        params={"agent": "code", "prompt": "Write greet.py.", "model": model},
        inputs={"task": "Greet people"},
        workspace=str(workspace),
        emit=lambda kind, data: events.append((kind, data)),
        services=services,
    )
    result = await AgentHandler().run(ctx)

    assert (workspace / "greet.py").read_text() == CODE
    assert result.output["text"] == "Wrote greet.py and checked it."
    assert result.output["confidence"] == 0.9
    assert (result.output["turns"], result.output["tool_calls"]) == (3, 2)
    usage = result.meta["usage"]
    assert (usage["input_tokens"], usage["output_tokens"]) == (inputs, outputs)
    assert usage["cache_read_tokens"] == cached
    assert result.meta["cost_usd"] == pytest.approx(cost)
    assert result.meta["model"] == model

    first, second, third = (r.json for r in server.requests)
    offered = [t["function"]["name"] if wire == "openai" else t["name"] for t in first["tools"]]
    assert {"write_file", "read_file"} <= set(offered)
    assert first["model"] == model.partition(":")[2]
    results = tool_results(wire, second)
    [(first_id, written)] = results.items()
    assert first_id in ("call_1", "toolu_1") and "greet.py" in written
    read_back = tool_results(wire, third)
    assert any("return f'Hello, {name}!'" in text for text in read_back.values())
    called = [d["tool"] for kind, d in events if kind == "tool.called"]
    assert called == ["write_file", "read_file"]
    recorded = [d for kind, d in events if kind == "usage.recorded"]
    assert len(recorded) == 3 and all(d["model"] == model for d in recorded)
    assert json.dumps(result.meta)  # the step's meta is plain JSON
