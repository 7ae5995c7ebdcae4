"""Fallback chains over real adapters, and what the agent loop records when a chain moves on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nexus.agents.loop import LoopConfig, run_agent_loop
from nexus.agents.tools import Toolbox, ToolContext
from nexus.domain.messages import Message, ModelRequest
from nexus.errors import ConfigError
from nexus.providers.anthropic_provider import AnthropicProvider
from nexus.providers.base import StreamChunk
from nexus.providers.errors import AllProvidersFailed, StreamInterrupted
from nexus.providers.fallback import FallbackProvider, parse_chain
from nexus.providers.openai_provider import OpenAIProvider
from nexus.providers.reliability import Endpoint, ReliableProvider, RetryPolicy
from tests.providers.fakes import anthropic_wire, openai_wire
from tests.providers.fakes.server import FakeServer, Reply

FAST = RetryPolicy(max_attempts=2, base_delay_s=0.01)
CREDIT = anthropic_wire.error_body(
    "Your credit balance is too low to access the Anthropic API.", "invalid_request_error"
)
Events = list[tuple[str, dict[str, Any]]]


@pytest.fixture
def claude() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


@pytest.fixture
def gpt() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


def anthropic_model(server: FakeServer, key: str | None = "sk-ant") -> ReliableProvider:
    adapter = AnthropicProvider("claude-haiku-4-5", base_url=server.url, api_key=key, timeout_s=5)
    return ReliableProvider(
        "anthropic", "claude-haiku-4-5", [Endpoint(server.url, adapter)], policy=FAST
    )


def openai_model(server: FakeServer) -> ReliableProvider:
    url = server.url + "/v1"
    adapter = OpenAIProvider("gpt-4o-mini", base_url=url, api_key="sk", timeout_s=5)
    return ReliableProvider("openai", "gpt-4o-mini", [Endpoint(url, adapter)], policy=FAST)


def chain(claude: FakeServer, gpt: FakeServer, key: str | None = "sk-ant") -> FallbackProvider:
    return FallbackProvider(
        [
            ("anthropic:claude-haiku-4-5", anthropic_model(claude, key)),
            ("openai:gpt-4o-mini", openai_model(gpt)),
        ]
    )


def hello() -> ModelRequest:
    return ModelRequest(model="fallback:chain", messages=(Message.text("user", "hello"),))


async def test_credit_exhausted_moves_on_and_counts_only_the_answer(
    claude: FakeServer, gpt: FakeServer
) -> None:
    claude.default = Reply.json(CREDIT, 400)
    gpt.queue(Reply.json(openai_wire.chat_completion("from gpt", use=openai_wire.usage(100, 10))))
    response = await chain(claude, gpt).complete(hello())

    assert len(claude.requests) == 1  # not retried: retrying cannot refill the balance
    assert response.model == "openai:gpt-4o-mini"
    assert response.message.text_content == "from gpt"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (100, 10)
    assert response.usage.cost_usd == pytest.approx((100 * 0.15 + 10 * 0.60) / 1e6)
    [skipped] = response.provider_meta["fallback"]["skipped"]
    assert skipped["model"] == "anthropic:claude-haiku-4-5"
    assert skipped["code"] == "credit_exhausted"
    assert "credit balance is too low" in skipped["message"]
    assert gpt.requests[0].json["model"] == "gpt-4o-mini"


async def test_a_missing_key_moves_on(claude: FakeServer, gpt: FakeServer) -> None:
    gpt.queue(Reply.json(openai_wire.chat_completion("from gpt")))
    response = await chain(claude, gpt, key=None).complete(hello())
    assert response.message.text_content == "from gpt"
    [skipped] = response.provider_meta["fallback"]["skipped"]
    assert skipped["code"] == "config_error" and "ANTHROPIC_API_KEY" in skipped["message"]
    assert claude.requests == []


async def test_an_outage_is_retried_first_then_the_chain_moves_on(
    claude: FakeServer, gpt: FakeServer
) -> None:
    claude.default = Reply.json(anthropic_wire.error_body("Overloaded", "overloaded_error"), 529)
    gpt.queue(Reply.json(openai_wire.chat_completion("from gpt")))
    response = await chain(claude, gpt).complete(hello())
    assert len(claude.requests) == FAST.max_attempts
    assert response.provider_meta["fallback"]["skipped"][0]["code"] == "provider_unavailable"


async def test_when_every_model_fails_each_failure_is_listed(
    claude: FakeServer, gpt: FakeServer
) -> None:
    claude.default = Reply.json(CREDIT, 400)
    gpt.default = Reply.json(openai_wire.error_body("The server had an error"), 500)
    with pytest.raises(AllProvidersFailed) as info:
        await chain(claude, gpt).complete(hello())
    error = info.value
    assert [f["model"] for f in error.failures] == [
        "anthropic:claude-haiku-4-5",
        "openai:gpt-4o-mini",
    ]
    assert "every model of the fallback chain failed (2)" in str(error)
    assert f"anthropic at {claude.url}: HTTP 400: Your credit balance is too low" in str(error)
    assert f"openai at {gpt.url}/v1: HTTP 500" in str(error)
    assert error.retryable  # the outage may pass


async def test_streams_fall_back_only_before_any_output(
    claude: FakeServer, gpt: FakeServer
) -> None:
    claude.default = Reply.json(CREDIT, 400)
    gpt.queue(openai_wire.stream_reply(["from ", "gpt"]))
    chunks = [c async for c in chain(claude, gpt).stream(hello())]
    assert "".join(c.text for c in chunks) == "from gpt"
    assert chunks[-1].model == "openai:gpt-4o-mini"
    assert chunks[-1].provider_meta is not None
    assert chunks[-1].provider_meta["fallback"]["answered"] == "openai:gpt-4o-mini"

    claude.default = anthropic_wire.stream_reply(["Half an ", "answer"], cut_after=4)
    received: list[StreamChunk] = []
    with pytest.raises(StreamInterrupted):
        async for chunk in chain(claude, gpt).stream(hello()):
            received.append(chunk)
    assert [c.text for c in received] == ["Half an "]
    assert len(gpt.requests) == 1  # the chain did not start the answer again elsewhere


def test_parse_chain() -> None:
    assert parse_chain("anthropic:a, openai:b ,ollama:c") == ["anthropic:a", "openai:b", "ollama:c"]
    with pytest.raises(ConfigError, match="provider:model"):
        parse_chain("anthropic:a,gpt-4o")
    with pytest.raises(ConfigError):
        parse_chain(" , ")


def toolbox(workspace: Path) -> Toolbox:
    return Toolbox(["write_file", "read_file"], ToolContext(agent_id="code", workspace=workspace))


async def test_agent_loop_keeps_what_was_recorded_when_the_chain_moves_on(
    claude: FakeServer, gpt: FakeServer, tmp_path: Path
) -> None:
    """Turn 1 is answered by Claude; at turn 2 its credit runs out and GPT answers."""
    claude.queue(
        Reply.json(
            anthropic_wire.message(
                None,
                tools=[anthropic_wire.tool_use("toolu_1", "write_file", path="a.txt", content="A")],
                use=anthropic_wire.usage(input_tokens=200, output_tokens=20),
            )
        ),
        Reply.json(CREDIT, 400),
    )
    gpt.queue(Reply.json(openai_wire.chat_completion("Done.", use=openai_wire.usage(300, 5))))
    events: Events = []
    messages = [Message.text("system", "You write files."), Message.text("user", "Write a.txt")]
    config = LoopConfig(agent_id="code", model="fallback:chain", max_turns=4)
    result = await run_agent_loop(
        chain(claude, gpt),
        toolbox(tmp_path),
        messages,
        config,
        emit=lambda t, d: events.append((t, d)),
    )

    assert (tmp_path / "a.txt").read_text() == "A"
    assert result.text == "Done." and result.turns == 2
    assert result.models == ["anthropic:claude-haiku-4-5", "openai:gpt-4o-mini"]
    usage = [d for t, d in events if t == "usage.recorded"]
    assert [(u["model"], u["input_tokens"], u["output_tokens"]) for u in usage] == [
        ("anthropic:claude-haiku-4-5", 200, 20),
        ("openai:gpt-4o-mini", 300, 5),
    ]
    haiku = (200 * 1.00 + 20 * 5.00) / 1e6
    mini = (300 * 0.15 + 5 * 0.60) / 1e6
    assert usage[0]["cost_usd"] == pytest.approx(haiku)
    assert usage[1]["cost_usd"] == pytest.approx(mini)
    assert result.cost_usd == pytest.approx(haiku + mini)
    assert (result.usage.input_tokens, result.usage.output_tokens) == (500, 25)

    # GPT got the whole conversation so far, Claude's tool call and its result included
    sent = gpt.requests[0].json["messages"]
    assert sent[2]["tool_calls"][0]["id"] == "toolu_1"
    assert json.loads(sent[2]["tool_calls"][0]["function"]["arguments"]) == {
        "path": "a.txt",
        "content": "A",
    }
    assert sent[3]["role"] == "tool" and sent[3]["tool_call_id"] == "toolu_1"


async def test_agent_loop_failure_keeps_the_turns_already_recorded(
    claude: FakeServer, gpt: FakeServer, tmp_path: Path
) -> None:
    claude.queue(
        Reply.json(
            anthropic_wire.message(
                None,
                tools=[anthropic_wire.tool_use("toolu_1", "write_file", path="b.txt", content="B")],
                use=anthropic_wire.usage(input_tokens=50, output_tokens=5),
            )
        )
    )
    claude.default = Reply.json(CREDIT, 400)
    gpt.default = Reply.json(openai_wire.error_body("Payment required", "billing"), 402)
    events: Events = []
    config = LoopConfig(agent_id="code", model="fallback:chain", max_turns=4)
    with pytest.raises(AllProvidersFailed) as info:
        await run_agent_loop(
            chain(claude, gpt),
            toolbox(tmp_path),
            [Message.text("user", "Write b.txt")],
            config,
            emit=lambda t, d: events.append((t, d)),
        )
    assert not info.value.retryable  # both credit errors: trying again will not help
    assert (tmp_path / "b.txt").read_text() == "B"
    usage = [d for t, d in events if t == "usage.recorded"]
    assert [(u["input_tokens"], u["output_tokens"]) for u in usage] == [(50, 5)]
    assert [t for t, _ in events].count("tool.called") == 1
