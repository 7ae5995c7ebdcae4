"""The two wire formats on their own: requests to canonical form (and the field a problem is
in), canonical answers to bodies and stream events, errors in each API's shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nexus.budgets.ledger import BudgetExceeded
from nexus.domain.messages import (
    ImagePart,
    Message,
    ModelResponse,
    TextPart,
    ToolCall,
    ToolResult,
    Usage,
)
from nexus.gateway.anthropic_wire import EventEncoder, message_body, parse_messages_request
from nexus.gateway.errors import InvalidRequest, describe_error
from nexus.gateway.openai_wire import ChunkEncoder, completion_body, parse_chat_request
from nexus.providers.base import StreamChunk
from nexus.providers.errors import AllProvidersFailed, CircuitOpen, RateLimited, RequestRejected
from nexus.tenancy.errors import RateLimited as KeyRateLimited


def chat(**body: Any) -> Any:
    body.setdefault("model", "fake:m")
    body.setdefault("messages", [{"role": "user", "content": "hi"}])
    return parse_chat_request(body)


def test_openai_request_to_canonical() -> None:
    parsed = chat(
        messages=[
            {"role": "developer", "content": [{"type": "text", "text": "Rules."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Look: "},
                    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,AAAA"}},
                ],
            },
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "done"},
        ],
        max_completion_tokens=50,
        temperature=0,
        seed=7,
        user="someone",
        functions=[{"name": "g"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    request = parsed.request
    assert [m.role for m in request.messages] == ["system", "user", "assistant", "tool"]
    image = request.messages[1].parts[1]
    assert isinstance(image, ImagePart) and image.media_type == "image/jpeg"
    assert request.messages[2].parts == (ToolCall(id="c1", name="f", arguments={}),)
    assert request.messages[3].parts == (ToolResult(tool_call_id="c1", content="done"),)
    assert (request.max_tokens, request.temperature) == (50, 0.0)
    assert [t.name for t in request.tools] == ["g"]
    assert request.tools[0].parameters == {"type": "object", "properties": {}}
    assert (parsed.stream, parsed.include_usage, parsed.params) == (True, True, {"seed": 7})


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": ""}, "model"),
        ({"messages": []}, "messages"),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio"}]}]},
            "messages[0].content[0]",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [{"function": {"name": "f", "arguments": "{oops"}}],
                    }
                ]
            },
            "messages[0].tool_calls[0].function.arguments",
        ),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].tool_call_id"),
        ({"tools": [{"type": "code_interpreter"}]}, "tools[0].type"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": 3}, "temperature"),
        ({"temperature": True}, "temperature"),
        ({"stream": "yes"}, "stream"),
    ],
)
def test_openai_request_problems_name_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        chat(**body)
    assert caught.value.param == param
    assert caught.value.message.startswith(param)


def test_anthropic_request_to_canonical() -> None:
    parsed = parse_messages_request(
        {
            "model": "claude-x",
            "max_tokens": 99,
            "system": [{"type": "text", "text": "A"}, {"type": "text", "text": "B"}],
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "see", "cache_control": {"type": "ephemeral"}},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/gif", "data": "R0"},
                        },
                    ],
                },
                {
                    "role": "assistant",
                    "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}],
                },
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t1",
                            "is_error": True,
                            "content": [
                                {"type": "text", "text": "no"},
                                {"type": "text", "text": "!"},
                            ],
                        },
                        {"type": "text", "text": "try again"},
                    ],
                },
            ],
            "top_k": 5,
            "metadata": {"user_id": "u"},
        }
    )
    messages = parsed.request.messages
    assert messages[0] == Message.text("system", "A\n\nB")
    assert messages[1].parts[1] == ImagePart(media_type="image/gif", data="R0")
    assert messages[2].parts == (ToolCall(id="t1", name="f", arguments={"a": 1}),)
    assert messages[3].role == "user"  # a result and text: stays a user turn
    assert messages[3].parts[0] == ToolResult(tool_call_id="t1", content="no\n!", is_error=True)
    assert parsed.request.max_tokens == 99
    assert parsed.params == {"top_k": 5}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"max_tokens": None}, "max_tokens"),
        ({"messages": [{"role": "system", "content": "x"}]}, "messages[0].role"),
        (
            {"messages": [{"role": "user", "content": [{"type": "document"}]}]},
            "messages[0].content[0].type",
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "tool_use"}]}]},
            "messages[0].content[0].type",
        ),
        ({"tools": [{"name": "web", "type": "web_search_20250305"}]}, "tools[0].type"),
        ({"temperature": 1.5}, "temperature"),
        ({"system": [{"type": "image"}]}, "system[0]"),
    ],
)
def test_anthropic_request_problems_name_the_field(body: dict[str, Any], param: str) -> None:
    full = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}], **body}
    if full["max_tokens"] is None:
        del full["max_tokens"]
    with pytest.raises(InvalidRequest) as caught:
        parse_messages_request(full)
    assert caught.value.param == param


def answer(*parts: Any, stop: str = "end_turn") -> ModelResponse:
    return ModelResponse(
        model="fake:m",
        message=Message(role="assistant", parts=parts),
        stop_reason=stop,  # type: ignore[arg-type]
        usage=Usage(input_tokens=10, output_tokens=4, cache_read_tokens=6, reasoning_tokens=2),
    )


def test_bodies_count_usage_each_api_s_way() -> None:
    response = answer(TextPart(text="hi"), ToolCall(id="c", name="f", arguments={"x": 1}),
                      stop="tool_use")  # fmt: skip
    body = completion_body(response, completion_id="chatcmpl-1", created=5, model="fake:m")
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"] == '{"x":1}'
    assert body["usage"]["prompt_tokens"] == 16  # cached tokens are inside prompt_tokens
    assert body["usage"]["completion_tokens"] == 6  # reasoning inside completion
    assert body["usage"]["prompt_tokens_details"] == {"cached_tokens": 6}
    message = message_body(response, message_id="msg_1", model="fake:m")
    assert [b["type"] for b in message["content"]] == ["text", "tool_use"]
    assert message["stop_reason"] == "tool_use"
    assert message["usage"] == {
        "input_tokens": 10,
        "output_tokens": 6,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 6,
    }
    truncated = completion_body(answer(stop="max_tokens"), completion_id="c", created=1, model="m")
    assert truncated["choices"][0]["finish_reason"] == "length"
    assert truncated["choices"][0]["message"]["content"] == ""


def test_chunk_encoder_numbers_tool_calls_and_ends_with_done() -> None:
    encoder = ChunkEncoder("chatcmpl-1", 5, "router:auto", include_usage=True)
    call = ToolCall(id="c", name="f", arguments={})
    out = b"".join(
        [
            encoder.start(),
            encoder.encode(StreamChunk.call(call)),
            encoder.encode(StreamChunk.call(call)),
            encoder.encode(StreamChunk.final(Usage(input_tokens=1), "end_turn", model="fake:x")),
        ]
    )
    frames = out.decode().strip().split("\n\n")
    assert frames[-1] == "data: [DONE]"
    events = [json.loads(f[6:]) for f in frames[:-1]]
    indexes = [e["choices"][0]["delta"]["tool_calls"][0]["index"] for e in events[1:3]]
    assert indexes == [0, 1]
    assert events[3]["choices"][0]["finish_reason"] == "tool_calls"
    assert events[3]["model"] == "fake:x"
    assert events[4]["choices"] == [] and events[4]["usage"]["prompt_tokens"] == 1


def test_event_encoder_opens_and_closes_blocks() -> None:
    encoder = EventEncoder("msg_1", "fake:m")
    out = b"".join(
        [
            encoder.start(),
            encoder.encode(StreamChunk.delta("a")),
            encoder.encode(StreamChunk.delta("b")),
            encoder.encode(StreamChunk.final(Usage(output_tokens=2), "max_tokens")),
        ]
    ).decode()
    names = [f.split("\n")[0][7:] for f in out.strip().split("\n\n")]
    assert names == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert '"stop_reason":"max_tokens"' in out


@pytest.mark.parametrize(
    ("error", "status", "openai_type", "anthropic_type"),
    [
        (BudgetExceeded("over"), 402, "insufficient_quota", "billing_error"),
        (RateLimited.at("openai", "u", "slow", status=429, retry_after=2.5), 429,
         "rate_limit_error", "rate_limit_error"),
        (RequestRejected.at("openai", "u", "no such model", status=404), 404,
         "invalid_request_error", "not_found_error"),
        (RequestRejected.at("openai", "u", "odd", status=418), 418,
         "invalid_request_error", "invalid_request_error"),
        (CircuitOpen.at("openai", "u", "cooling"), 503, "server_error", "api_error"),
        (AllProvidersFailed("all failed", []), 502, "server_error", "api_error"),
        (KeyRateLimited("too fast", retry_after=3), 429, "rate_limit_error", "rate_limit_error"),
        (RuntimeError("secret detail"), 500, "server_error", "api_error"),
    ],
)  # fmt: skip
def test_error_mapping(
    error: Exception, status: int, openai_type: str, anthropic_type: str
) -> None:
    info = describe_error(error, "r-1")
    assert (info.status, info.openai_type, info.anthropic_type) == (
        status,
        openai_type,
        anthropic_type,
    )
    if status == 429:
        assert int(info.headers["Retry-After"]) >= 3
    if status == 500:
        assert "secret detail" not in info.message and "r-1" in info.message
    assert info.anthropic_body()["type"] == "error"
    assert info.openai_body()["error"]["code"] == info.code
