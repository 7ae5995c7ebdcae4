"""The provider contract: streaming and completing in terms of each other."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from nexus.domain.messages import Message, ModelRequest, ModelResponse, ToolCall, Usage
from nexus.errors import ModelError
from nexus.providers.base import (
    ModelProvider,
    StreamChunk,
    complete_via_stream,
    split_model_name,
    stream_via_complete,
)
from nexus.testing import ScriptedModel, response


class StreamOnly:
    """A provider that only streams; completes through complete_via_stream."""

    name = "streamonly"

    async def complete(self, request: ModelRequest) -> ModelResponse:
        return await complete_via_stream(self, request)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]:
        yield StreamChunk.delta("Hello, ")
        yield StreamChunk.delta("world")
        yield StreamChunk.call(ToolCall(id="c1", name="read_file", arguments={"path": "a.py"}))
        yield StreamChunk.final(
            Usage(input_tokens=12, output_tokens=7), "tool_use", model="streamonly:m1"
        )


def _request() -> ModelRequest:
    return ModelRequest(model="streamonly:m1", messages=(Message.text("user", "hi"),))


async def test_complete_via_stream_assembles_text_calls_and_usage() -> None:
    provider = StreamOnly()
    assert isinstance(provider, ModelProvider)
    result = await provider.complete(_request())
    assert result.message.text_content == "Hello, world"
    assert [(c.name, c.arguments) for c in result.message.tool_calls] == [
        ("read_file", {"path": "a.py"})
    ]
    assert result.stop_reason == "tool_use"
    assert (result.usage.input_tokens, result.usage.output_tokens) == (12, 7)
    assert result.model == "streamonly:m1"


async def test_stream_via_complete_yields_text_calls_then_final() -> None:
    model = ScriptedModel(
        [response("Let me look.", [("list_files", {})], usage={"input_tokens": 5})]
    )
    chunks = [c async for c in stream_via_complete(model, _request())]
    assert [c.type for c in chunks] == ["text", "tool_call", "done"]
    assert chunks[0].text == "Let me look."
    assert chunks[1].tool_call is not None and chunks[1].tool_call.name == "list_files"
    assert chunks[2].usage is not None and chunks[2].usage.input_tokens == 5
    assert chunks[2].stop_reason == "tool_use"


async def test_round_trip_stream_then_complete_keeps_the_response() -> None:
    model = ScriptedModel([response("Done.", usage={"input_tokens": 3, "output_tokens": 2})])
    original = model.responses[0]
    assert isinstance(original, ModelResponse)

    class Wrapped:
        name = "wrapped"

        async def complete(self, request: ModelRequest) -> ModelResponse:
            return await complete_via_stream(self, request)

        def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]:
            return stream_via_complete(model, request)

    again = await Wrapped().complete(_request())
    assert again.message.text_content == "Done."
    assert again.stop_reason == "end_turn"
    assert again.usage.output_tokens == 2


def test_split_model_name() -> None:
    assert split_model_name("openai:gpt-4o-mini") == ("openai", "gpt-4o-mini")
    assert split_model_name("offline:replay") == ("offline", "replay")
    with pytest.raises(ModelError, match="provider:model"):
        split_model_name("gpt-4o")
