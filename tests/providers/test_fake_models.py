"""nexus.testing: scripted and function models, reply builders."""

from __future__ import annotations

import pytest

from nexus.domain.messages import Message, ModelRequest
from nexus.testing import (
    FunctionModel,
    ScriptedModel,
    ScriptExhausted,
    registry_with,
    response,
    text,
    tool_call,
)


def _request(turn: int = 1) -> ModelRequest:
    return ModelRequest(
        model="scripted:m",
        messages=(Message.text("user", "hi"),),
        agent_id="code",
        step_key="implement",
        metadata={"turn": turn},
    )


async def test_scripted_model_replies_in_order_and_records_requests() -> None:
    model = ScriptedModel(
        [
            tool_call("read_file", path="a.py"),
            {"text": "Cassette form.", "tool_calls": [{"name": "list_files"}]},
            text("done", usage={"input_tokens": 3}).model_dump(),
            "plain text",
        ]
    )
    first = await model.complete(_request(1))
    assert first.message.tool_calls[0].name == "read_file"
    assert first.message.tool_calls[0].arguments == {"path": "a.py"}
    assert first.model == "scripted:m"  # answered as the requested model
    second = await model.complete(_request(2))
    assert second.message.text_content == "Cassette form."
    assert second.message.tool_calls[0].id == "call_2_1"
    third = await model.complete(_request(3))
    assert third.usage.input_tokens == 3
    fourth = await model.complete(_request(4))
    assert fourth.message.text_content == "plain text"
    assert fourth.stop_reason == "end_turn"
    assert len(model.requests) == 4 and model.remaining == 0


async def test_scripted_model_says_when_it_runs_out() -> None:
    model = ScriptedModel(["only one"])
    await model.complete(_request())
    with pytest.raises(ScriptExhausted) as info:
        await model.complete(_request())
    assert "has 1 scripted replies and was asked for reply 2" in info.value.message
    assert "agent code, step implement" in info.value.message
    assert info.value.retryable is False


async def test_function_model_sync_and_async() -> None:
    def sync(request: ModelRequest) -> str:
        return f"turn {request.metadata['turn']}"

    async def asynchronous(request: ModelRequest) -> object:
        return response("async", [("search", {"pattern": "x"})])

    assert (await FunctionModel(sync).complete(_request(7))).message.text_content == "turn 7"
    model = FunctionModel(asynchronous)  # type: ignore[arg-type]
    reply = await model.complete(_request())
    assert reply.message.tool_calls[0].arguments == {"pattern": "x"}
    assert reply.stop_reason == "tool_use"
    assert len(model.requests) == 1


def test_builders_and_registry() -> None:
    both = response("thinking", [("a", {}), ("b", {"x": 1})])
    assert [c.name for c in both.message.tool_calls] == ["a", "b"]
    assert len({c.id for c in both.message.tool_calls}) == 2
    model = ScriptedModel([])
    registry = registry_with(model)
    assert registry.get("scripted:anything") is model
    assert registry_with(model, "custom").get("custom:x") is model
