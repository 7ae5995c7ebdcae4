"""Wire translation edge cases, without a server."""

from __future__ import annotations

import pytest

from nexus.domain.messages import Message, ModelRequest, TextPart, ToolCall, ToolResult
from nexus.providers.translate_anthropic import (
    AnthropicStreamAssembler,
    parse_message,
    to_anthropic_messages,
)
from nexus.providers.translate_openai import (
    OpenAIStreamAssembler,
    WireFormatError,
    parse_arguments,
    parse_completion,
    to_openai_messages,
    to_openai_request,
    usage_from_openai,
)


def test_arguments_empty_object_or_invalid() -> None:
    assert parse_arguments("", "t") == {}
    assert parse_arguments(None, "t") == {}
    assert parse_arguments({"a": 1}, "t") == {"a": 1}  # some servers send an object
    assert parse_arguments('{"a": [1, 2]}', "t") == {"a": [1, 2]}
    with pytest.raises(WireFormatError, match="not a JSON object"):
        parse_arguments("[1, 2]", "t")
    with pytest.raises(WireFormatError, match="not JSON"):
        parse_arguments("{", "t")


def test_openai_assistant_with_only_tool_calls_has_no_content() -> None:
    call = ToolCall(id="c1", name="run", arguments={"cmd": "ls"})
    [entry] = to_openai_messages([Message(role="assistant", parts=(call,))])
    assert entry["content"] is None
    assert entry["tool_calls"][0]["function"] == {"name": "run", "arguments": '{"cmd": "ls"}'}


def test_openai_tool_results_inside_a_user_message_come_first() -> None:
    message = Message(
        role="user",
        parts=(ToolResult(tool_call_id="c1", content="ok"), TextPart(text="And now?")),
    )
    assert to_openai_messages([message]) == [
        {"role": "tool", "tool_call_id": "c1", "content": "ok"},
        {"role": "user", "content": "And now?"},
    ]


def test_openai_request_options() -> None:
    request = ModelRequest(
        model="openai:x", messages=(Message.text("user", "hi"),), max_tokens=50, temperature=0.2
    )
    kwargs = to_openai_request(request, "x", stream=True)
    assert kwargs["max_completion_tokens"] == 50 and kwargs["temperature"] == 0.2
    assert kwargs["stream_options"] == {"include_usage": True}
    legacy = to_openai_request(request, "x", stream=False, max_tokens_field="max_tokens")
    assert legacy["max_tokens"] == 50 and "stream" not in legacy


def test_openai_usage_without_details_and_finish_reasons() -> None:
    assert usage_from_openai({"prompt_tokens": 7, "completion_tokens": 3}).input_tokens == 7
    assert usage_from_openai(None).total_tokens == 0
    body = {
        "choices": [{"message": {"role": "assistant", "content": "cut"}, "finish_reason": "length"}]
    }
    assert parse_completion(body).stop_reason == "max_tokens"
    with pytest.raises(WireFormatError, match="without choices"):
        parse_completion({"choices": []})


def test_openai_stream_without_a_finish_is_an_error() -> None:
    assembler = OpenAIStreamAssembler()
    chunk = {"id": "x", "choices": [{"index": 0, "delta": {"content": "Hi"}}]}
    assert [c.text for c in assembler.feed(chunk)] == ["Hi"]
    with pytest.raises(WireFormatError, match="ended before the model finished"):
        assembler.finish()


def test_anthropic_system_messages_are_joined_and_empty_text_dropped() -> None:
    system, messages = to_anthropic_messages(
        [
            Message.text("system", "Rule one."),
            Message.text("system", "Rule two."),
            Message.text("user", ""),
            Message.text("user", "Go."),
            Message.text("user", "Now."),
        ]
    )
    assert system == "Rule one.\n\nRule two."
    assert messages == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Go."}, {"type": "text", "text": "Now."}],
        }
    ]


def test_anthropic_stop_reasons_and_thinking_blocks() -> None:
    body = {
        "type": "message",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "text", "text": "Answer."},
        ],
        "stop_reason": "stop_sequence",
        "usage": {"input_tokens": 3, "output_tokens": 2},
    }
    parsed = parse_message(body)
    assert parsed.message.text_content == "Answer." and parsed.stop_reason == "end_turn"
    refused = parse_message({**body, "stop_reason": "refusal"})
    assert refused.stop_reason == "error"


def test_anthropic_stream_events_out_of_order_or_unfinished() -> None:
    with pytest.raises(WireFormatError, match="before message_start"):
        AnthropicStreamAssembler().feed({"type": "content_block_start", "index": 0})
    assembler = AnthropicStreamAssembler()
    assembler.feed({"type": "message_start", "message": {"id": "m", "usage": {"input_tokens": 4}}})
    with pytest.raises(WireFormatError, match="never started"):
        assembler.feed({"type": "content_block_delta", "index": 3, "delta": {"type": "text_delta"}})
    with pytest.raises(WireFormatError, match="before message_stop"):
        assembler.finish()
