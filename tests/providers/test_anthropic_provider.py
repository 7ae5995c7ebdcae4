"""The Anthropic adapter against a loopback server that speaks the Messages wire format."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from nexus.domain.messages import (
    ImagePart,
    Message,
    ModelRequest,
    TextPart,
    ToolCall,
    ToolResult,
    ToolSpec,
)
from nexus.errors import ConfigError
from nexus.providers.anthropic_provider import AnthropicProvider
from nexus.providers.errors import (
    BadResponse,
    CreditExhausted,
    ProviderUnavailable,
    RateLimited,
    StreamInterrupted,
)
from tests.providers.fakes import anthropic_wire as wire
from tests.providers.fakes.server import FakeServer, Reply

READ_FILE = ToolSpec(
    name="read_file",
    description="Read a file of the workspace.",
    parameters={"type": "object", "properties": {"path": {"type": "string"}}},
)
# claude-sonnet-4-6: 3.00 in, 15.00 out, 0.30 cache read, 3.75 cache write per million
SONNET = {"input": 3.00, "output": 15.00, "cache_read": 0.30, "cache_write": 3.75}


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


def provider_for(server: FakeServer) -> AnthropicProvider:
    return AnthropicProvider(
        "claude-sonnet-4-6", base_url=server.url, api_key="sk-ant-test", timeout_s=5.0
    )


def request(*messages: Message, tools: tuple[ToolSpec, ...] = ()) -> ModelRequest:
    return ModelRequest(model="anthropic:claude-sonnet-4-6", messages=messages, tools=tools)


async def test_plain_completion_with_cache_usage(server: FakeServer) -> None:
    use = wire.usage(input_tokens=100, output_tokens=20, cache_write=1000, cache_read=3000)
    server.queue(Reply.json(wire.message("Hello there.", use=use)))
    response = await provider_for(server).complete(
        request(Message.text("system", "Be brief."), Message.text("user", "Say hello."))
    )

    sent = server.requests[0]
    assert sent.path == "/v1/messages"
    assert sent.json["model"] == "claude-sonnet-4-6"
    assert sent.json["system"] == "Be brief."
    assert sent.json["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Say hello."}]}
    ]
    assert sent.json["max_tokens"] == 4096  # the API requires it
    assert "anthropic-version" in sent.headers

    assert response.model == "anthropic:claude-sonnet-4-6"
    assert response.message.text_content == "Hello there."
    assert response.stop_reason == "end_turn"
    usage = response.usage
    assert (usage.input_tokens, usage.output_tokens) == (100, 20)
    assert (usage.cache_write_tokens, usage.cache_read_tokens) == (1000, 3000)
    expected = (
        100 * SONNET["input"]
        + 20 * SONNET["output"]
        + 1000 * SONNET["cache_write"]
        + 3000 * SONNET["cache_read"]
    ) / 1e6
    assert usage.cost_usd == pytest.approx(expected)
    assert response.provider_meta["served_model"] == "claude-sonnet-4-6-20260217"


async def test_tool_call_round_trip(server: FakeServer) -> None:
    history = (
        Message.text("system", "You are a developer."),
        Message.text("user", "Fix the bug."),
        Message(
            role="assistant",
            parts=(
                TextPart(text="Reading two files."),
                ToolCall(id="toolu_a", name="read_file", arguments={"path": "a.py"}),
                ToolCall(id="toolu_b", name="read_file", arguments={"path": "b.py"}),
            ),
        ),
        Message(
            role="tool",
            parts=(
                ToolResult(tool_call_id="toolu_a", content="print('a')"),
                ToolResult(tool_call_id="toolu_b", content="error: no such file", is_error=True),
            ),
        ),
        Message.text("user", "Also check c.py."),
    )
    server.queue(
        Reply.json(
            wire.message("Checking.", tools=[wire.tool_use("toolu_c", "read_file", path="c.py")])
        )
    )
    response = await provider_for(server).complete(request(*history, tools=(READ_FILE,)))

    sent = server.requests[0].json
    assert sent["tools"] == [
        {
            "name": "read_file",
            "description": "Read a file of the workspace.",
            "input_schema": READ_FILE.parameters,
        }
    ]
    assert sent["system"] == "You are a developer."
    assert [m["role"] for m in sent["messages"]] == ["user", "assistant", "user"]
    assert sent["messages"][1]["content"] == [
        {"type": "text", "text": "Reading two files."},
        {"type": "tool_use", "id": "toolu_a", "name": "read_file", "input": {"path": "a.py"}},
        {"type": "tool_use", "id": "toolu_b", "name": "read_file", "input": {"path": "b.py"}},
    ]
    # the tool results and the next user text are merged into one user turn
    assert sent["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_a", "content": "print('a')"},
        {
            "type": "tool_result",
            "tool_use_id": "toolu_b",
            "content": "error: no such file",
            "is_error": True,
        },
        {"type": "text", "text": "Also check c.py."},
    ]

    assert response.stop_reason == "tool_use"
    assert response.message.text_content == "Checking."
    assert response.message.tool_calls == [
        ToolCall(id="toolu_c", name="read_file", arguments={"path": "c.py"})
    ]


async def test_image_parts_become_image_blocks(server: FakeServer) -> None:
    server.queue(Reply.json(wire.message("A red dot.")))
    message = Message(
        role="user",
        parts=(
            TextPart(text="What is in these?"),
            ImagePart(media_type="image/png", data="iVBORw0KGgo="),
            ImagePart(data="data:image/jpeg;base64,/9j/4AAQ"),
            ImagePart(data="https://example.invalid/cat.jpg"),
        ),
    )
    await provider_for(server).complete(request(message))
    assert server.requests[0].json["messages"][0]["content"] == [
        {"type": "text", "text": "What is in these?"},
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        },
        {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"},
        },
        {"type": "image", "source": {"type": "url", "url": "https://example.invalid/cat.jpg"}},
    ]


async def test_streaming_text_tool_calls_and_usage(server: FakeServer) -> None:
    server.queue(
        wire.stream_reply(
            ["Let me ", "look."],
            tools=[("toolu_s", "read_file", {"path": "src/app.py"})],
            use=wire.usage(input_tokens=40, output_tokens=12, cache_read=500),
        )
    )
    chunks = [
        c
        async for c in provider_for(server).stream(
            request(Message.text("user", "Look at app.py"), tools=(READ_FILE,))
        )
    ]
    assert server.requests[0].json["stream"] is True
    assert [c.type for c in chunks] == ["text", "text", "tool_call", "done"]
    assert "".join(c.text for c in chunks) == "Let me look."
    assert chunks[2].tool_call == ToolCall(
        id="toolu_s", name="read_file", arguments={"path": "src/app.py"}
    )
    done = chunks[-1]
    assert done.stop_reason == "tool_use"
    assert done.usage is not None
    # input and cache usage from message_start, output from message_delta
    assert (done.usage.input_tokens, done.usage.output_tokens) == (40, 12)
    assert done.usage.cache_read_tokens == 500
    expected = (40 * SONNET["input"] + 12 * SONNET["output"] + 500 * SONNET["cache_read"]) / 1e6
    assert done.usage.cost_usd == pytest.approx(expected)


async def test_a_stream_cut_after_text_is_interrupted_with_the_partial_text(
    server: FakeServer,
) -> None:
    # message_start, ping, block start, first delta — then the connection drops
    server.queue(wire.stream_reply(["Half an ", "answer"], cut_after=4))
    received: list[str] = []
    with pytest.raises(StreamInterrupted) as info:
        async for chunk in provider_for(server).stream(request(Message.text("user", "hi"))):
            received.append(chunk.text)
    assert received == ["Half an "]
    assert info.value.details["partial_text"] == "Half an "
    assert f"anthropic at {server.url}" in str(info.value)


async def test_an_error_event_inside_the_stream(server: FakeServer) -> None:
    events = wire.stream_reply(["x"]).events
    assert events is not None
    overloaded = ("error", wire.error_body("Overloaded", "overloaded_error"))
    server.queue(Reply.sse([events[0], overloaded]))
    with pytest.raises(ProviderUnavailable, match="Overloaded"):
        async for _ in provider_for(server).stream(request(Message.text("user", "hi"))):
            pass


@pytest.mark.parametrize(
    ("status", "body", "error_type", "retryable"),
    [
        (529, wire.error_body("Overloaded", "overloaded_error"), ProviderUnavailable, True),
        (500, wire.error_body("Internal server error", "api_error"), ProviderUnavailable, True),
        (429, wire.error_body("Number of requests", "rate_limit_error"), RateLimited, True),
        (
            400,
            wire.error_body(
                "Your credit balance is too low to access the Anthropic API.",
                "invalid_request_error",
            ),
            CreditExhausted,
            False,
        ),
    ],
)
async def test_http_errors(
    server: FakeServer,
    status: int,
    body: dict[str, object],
    error_type: type[Exception],
    retryable: bool,
) -> None:
    server.queue(Reply.json(body, status=status, **{"retry-after": "7"}))
    with pytest.raises(error_type) as info:
        await provider_for(server).complete(request(Message.text("user", "hi")))
    error = info.value
    assert f"anthropic at {server.url}: HTTP {status}:" in str(error)
    assert getattr(error, "retryable", None) is retryable
    assert getattr(error, "retry_after", None) == 7.0


async def test_not_a_message_is_a_bad_response(server: FakeServer) -> None:
    server.queue(Reply.json({"type": "completion", "completion": "hi"}))
    with pytest.raises(BadResponse):
        await provider_for(server).complete(request(Message.text("user", "hi")))


async def test_missing_key_is_a_config_error_naming_the_variable(server: FakeServer) -> None:
    provider = AnthropicProvider("claude-sonnet-4-6", base_url=server.url, api_key=None)
    with pytest.raises(ConfigError, match="ANTHROPIC_API_KEY"):
        await provider.complete(request(Message.text("user", "hi")))
    assert server.requests == []
