"""The OpenAI adapter against a loopback server that speaks the chat completions wire format."""

from __future__ import annotations

import asyncio
import json
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
from nexus.providers.base import complete_via_stream
from nexus.providers.errors import (
    AuthFailed,
    BadResponse,
    CreditExhausted,
    RateLimited,
    RequestRejected,
)
from nexus.providers.openai_provider import OpenAIProvider
from tests.providers.fakes import openai_wire as wire
from tests.providers.fakes.server import FakeServer, Reply

READ_FILE = ToolSpec(
    name="read_file",
    description="Read a file of the workspace.",
    parameters={"type": "object", "properties": {"path": {"type": "string"}}},
)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


def provider_for(server: FakeServer, **kwargs: object) -> OpenAIProvider:
    return OpenAIProvider(
        "gpt-4o-mini",
        base_url=server.url + "/v1",
        api_key="sk-test-123",
        timeout_s=5.0,
        **kwargs,  # type: ignore[arg-type]
    )


def request(*messages: Message, tools: tuple[ToolSpec, ...] = ()) -> ModelRequest:
    return ModelRequest(model="openai:gpt-4o-mini", messages=messages, tools=tools, max_tokens=256)


async def test_plain_completion(server: FakeServer) -> None:
    server.queue(Reply.json(wire.chat_completion("Hello there.")))
    response = await provider_for(server).complete(
        request(Message.text("system", "Be brief."), Message.text("user", "Say hello."))
    )

    sent = server.requests[0]
    assert sent.method == "POST" and sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test-123"
    assert sent.json["model"] == "gpt-4o-mini"
    assert sent.json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say hello."},
    ]
    assert sent.json["max_completion_tokens"] == 256
    assert "tools" not in sent.json and "stream" not in sent.json

    assert response.model == "openai:gpt-4o-mini"
    assert response.message.role == "assistant"
    assert response.message.text_content == "Hello there."
    assert response.stop_reason == "end_turn"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (10, 5)
    # gpt-4o-mini: 0.15 in, 0.60 out per million tokens
    assert response.usage.cost_usd == pytest.approx((10 * 0.15 + 5 * 0.60) / 1e6)
    assert response.provider_meta["served_model"] == "gpt-4o-mini-2024-07-18"
    assert response.provider_meta["endpoint"] == server.url + "/v1"


async def test_cached_and_reasoning_tokens_are_split_out_and_priced_once(
    server: FakeServer,
) -> None:
    use = wire.usage(prompt=1000, completion=500, cached=400, reasoning=200)
    server.queue(Reply.json(wire.chat_completion("ok", use=use)))
    response = await provider_for(server).complete(request(Message.text("user", "hi")))
    usage = response.usage
    assert (usage.input_tokens, usage.cache_read_tokens) == (600, 400)
    assert (usage.output_tokens, usage.reasoning_tokens) == (300, 200)
    expected = (600 * 0.15 + 400 * 0.075 + (300 + 200) * 0.60) / 1e6
    assert usage.cost_usd == pytest.approx(expected)


async def test_tool_call_round_trip(server: FakeServer) -> None:
    history = (
        Message.text("user", "Fix the bug."),
        Message(
            role="assistant",
            parts=(
                TextPart(text="Reading two files."),
                ToolCall(id="call_a", name="read_file", arguments={"path": "a.py"}),
                ToolCall(id="call_b", name="read_file", arguments={"path": "b.py"}),
            ),
        ),
        Message(
            role="tool",
            parts=(
                ToolResult(tool_call_id="call_a", content="print('a')"),
                ToolResult(tool_call_id="call_b", content="error: no such file", is_error=True),
            ),
        ),
    )
    server.queue(
        Reply.json(
            wire.chat_completion(
                None, tool_calls=[wire.tool_call("call_c", "read_file", path="c.py")]
            )
        )
    )
    response = await provider_for(server).complete(request(*history, tools=(READ_FILE,)))

    sent = server.requests[0].json
    assert sent["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "read_file",
                "description": "Read a file of the workspace.",
                "parameters": READ_FILE.parameters,
            },
        }
    ]
    assistant = sent["messages"][1]
    assert assistant["role"] == "assistant" and assistant["content"] == "Reading two files."
    assert [c["id"] for c in assistant["tool_calls"]] == ["call_a", "call_b"]
    assert assistant["tool_calls"][0]["type"] == "function"
    assert json.loads(assistant["tool_calls"][1]["function"]["arguments"]) == {"path": "b.py"}
    assert sent["messages"][2:] == [
        {"role": "tool", "tool_call_id": "call_a", "content": "print('a')"},
        {"role": "tool", "tool_call_id": "call_b", "content": "error: no such file"},
    ]

    assert response.stop_reason == "tool_use"
    assert response.message.tool_calls == [
        ToolCall(id="call_c", name="read_file", arguments={"path": "c.py"})
    ]
    assert response.message.text_content == ""


async def test_image_parts_become_image_urls(server: FakeServer) -> None:
    server.queue(Reply.json(wire.chat_completion("A red dot.")))
    message = Message(
        role="user",
        parts=(
            TextPart(text="What is in these?"),
            ImagePart(media_type="image/png", data="iVBORw0KGgo="),
            ImagePart(data="https://example.invalid/cat.jpg"),
        ),
    )
    await provider_for(server).complete(request(message))
    content = server.requests[0].json["messages"][0]["content"]
    assert content == [
        {"type": "text", "text": "What is in these?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.invalid/cat.jpg"}},
    ]


async def test_streaming_text_tool_calls_and_usage(server: FakeServer) -> None:
    server.queue(
        wire.stream_reply(
            ["Let me ", "look."],
            tool_calls=[("call_s", "read_file", json.dumps({"path": "src/app.py"}))],
            use=wire.usage(prompt=40, completion=12),
        )
    )
    chunks = [
        c
        async for c in provider_for(server).stream(
            request(Message.text("user", "Look at app.py"), tools=(READ_FILE,))
        )
    ]
    sent = server.requests[0].json
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}

    assert [c.type for c in chunks] == ["text", "text", "tool_call", "done"]
    assert "".join(c.text for c in chunks) == "Let me look."
    assert chunks[2].tool_call == ToolCall(
        id="call_s", name="read_file", arguments={"path": "src/app.py"}
    )
    done = chunks[-1]
    assert done.stop_reason == "tool_use" and done.model == "openai:gpt-4o-mini"
    assert done.usage is not None
    assert (done.usage.input_tokens, done.usage.output_tokens) == (40, 12)
    assert done.usage.cost_usd == pytest.approx((40 * 0.15 + 12 * 0.60) / 1e6)


async def test_a_streamed_answer_collects_into_a_response(server: FakeServer) -> None:
    server.queue(wire.stream_reply(["Hel", "lo"], use=wire.usage(prompt=3, completion=2)))
    provider = provider_for(server)
    response = await complete_via_stream(provider, request(Message.text("user", "hi")))
    assert response.message.text_content == "Hello"
    assert response.stop_reason == "end_turn"
    assert response.usage.input_tokens == 3 and response.usage.output_tokens == 2


@pytest.mark.parametrize(
    ("status", "body", "error_type", "retryable"),
    [
        (400, wire.error_body("bad 'messages'", "invalid_request_error"), RequestRejected, False),
        (401, wire.error_body("Incorrect API key", "invalid_request_error"), AuthFailed, False),
        (402, wire.error_body("Payment required", "billing_error"), CreditExhausted, False),
        (
            429,
            wire.error_body("You exceeded your current quota", "insufficient_quota"),
            CreditExhausted,
            False,
        ),
        (429, wire.error_body("Rate limit reached", "requests"), RateLimited, True),
    ],
)
async def test_http_errors_name_provider_endpoint_and_status(
    server: FakeServer,
    status: int,
    body: dict[str, object],
    error_type: type[Exception],
    retryable: bool,
) -> None:
    server.queue(Reply.json(body, status=status))
    with pytest.raises(error_type) as info:
        await provider_for(server).complete(request(Message.text("user", "hi")))
    error = info.value
    assert f"openai at {server.url}/v1: HTTP {status}:" in str(error)
    assert getattr(error, "status", None) == status
    assert getattr(error, "retryable", None) is retryable


async def test_malformed_json_is_a_bad_response(server: FakeServer) -> None:
    server.queue(Reply(body=b'{"id": "chatcmpl-1", "choices": [', status=200))
    with pytest.raises(BadResponse, match="unreadable response") as info:
        await provider_for(server).complete(request(Message.text("user", "hi")))
    assert info.value.endpoint == server.url + "/v1" and info.value.retryable


async def test_tool_arguments_that_are_not_json_are_a_bad_response(server: FakeServer) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "read_file", "arguments": "{"}}
    server.queue(Reply.json(wire.chat_completion(None, tool_calls=[call])))
    with pytest.raises(BadResponse, match="read_file"):
        await provider_for(server).complete(request(Message.text("user", "hi")))


async def test_missing_key_is_a_config_error_naming_the_variable(server: FakeServer) -> None:
    provider = OpenAIProvider("gpt-4o-mini", base_url=server.url + "/v1", api_key=None)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        await provider.complete(request(Message.text("user", "hi")))
    assert server.requests == []


def test_one_provider_serves_successive_event_loops(server: FakeServer) -> None:
    """A CLI or worker may run several event loops; the SDK client belongs to one."""
    server.default = Reply.json(wire.chat_completion("again"))
    provider = provider_for(server)
    for _ in range(3):
        response = asyncio.run(provider.complete(request(Message.text("user", "hi"))))
        assert response.message.text_content == "again"
    assert len(server.requests) == 3
