"""The real ``anthropic`` client against a running server: messages, streaming (the six
event types in order), tool use both ways, both ways of sending the key, Claude model
names, token counting and errors in the Anthropic format."""

from __future__ import annotations

import json

import anthropic
import httpx
import pytest
from anthropic import Anthropic, AsyncAnthropic

from nexus.domain.messages import ToolResult
from tests.gateway.conftest import Live, running_server

TOOL = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}


def client(live: Live, **kwargs: str) -> Anthropic:
    if "auth_token" not in kwargs:
        kwargs.setdefault("api_key", live.token)
    return Anthropic(base_url=live.url, max_retries=0, **kwargs)  # type: ignore[arg-type]


def test_message(live: Live) -> None:
    raw = client(live).messages.with_raw_response.create(
        model="fake:echo",
        max_tokens=100,
        system=[{"type": "text", "text": "Be brief."}],
        messages=[{"role": "user", "content": "hello there"}],
    )
    message = raw.parse()
    assert message.type == "message" and message.role == "assistant"
    assert message.id.startswith("msg_")
    assert message.model == "fake:echo"
    assert [b.type for b in message.content] == ["text"]
    assert message.content[0].text == "echo: hello there"  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (12, 5)
    assert raw.headers["x-nexus-model"] == "fake:echo"
    assert raw.headers["request-id"]
    [request] = live.upstream.requests
    assert [m.role for m in request.messages] == ["system", "user"]
    assert request.messages[0].text_content == "Be brief."
    assert request.max_tokens == 100
    assert request.metadata["source"] == "gateway:anthropic"


def test_bearer_and_x_api_key_both_work(live: Live) -> None:
    for api in (client(live), client(live, auth_token=live.token)):
        message = api.messages.create(
            model="fake:echo", max_tokens=10, messages=[{"role": "user", "content": "hi"}]
        )
        assert message.content[0].text == "echo: hi"  # type: ignore[union-attr]
    assert len(live.upstream.requests) == 2


def test_tool_use_both_ways(live: Live) -> None:
    api = client(live)
    question = {"role": "user", "content": "what is the weather in Rome?"}
    first = api.messages.create(
        model="fake:tools",
        max_tokens=200,
        tools=[TOOL],  # type: ignore[list-item]
        messages=[question],  # type: ignore[list-item]
    )
    assert first.stop_reason == "tool_use"
    [use] = first.content
    assert use.type == "tool_use"
    assert (use.name, use.input, use.id) == ("get_weather", {"city": "Rome"}, "call_w1")

    second = api.messages.create(
        model="fake:tools",
        max_tokens=200,
        tools=[TOOL],  # type: ignore[list-item]
        messages=[
            question,  # type: ignore[list-item]
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "I should look it up", "signature": "s"},
                    {"type": "tool_use", "id": use.id, "name": use.name, "input": use.input},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": use.id,
                        "content": [{"type": "text", "text": "rain, 14 C"}],
                    }
                ],
            },
        ],
    )
    assert second.content[0].text == "tool said: rain, 14 C"  # type: ignore[union-attr]
    sent = live.upstream.requests[1].messages
    assert sent[1].role == "assistant" and len(sent[1].parts) == 1  # thinking dropped
    assert sent[2].role == "tool"
    result = sent[2].parts[0]
    assert isinstance(result, ToolResult) and result.tool_call_id == "call_w1"


def test_stream_has_the_six_event_types_in_order(live: Live) -> None:
    body = {
        "model": "fake:tools",
        "max_tokens": 50,
        "stream": True,
        "tools": [TOOL],
        "messages": [{"role": "user", "content": "check the weather in Lima"}],
    }
    with httpx.stream(
        "POST", f"{live.url}/v1/messages", json=body, headers={"x-api-key": live.token}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        text = response.read().decode()
    frames = [f for f in text.split("\n\n") if f]
    names = [f.split("\n")[0].removeprefix("event: ") for f in frames]
    datas = [json.loads(f.split("\n")[1].removeprefix("data: ")) for f in frames]
    assert [d["type"] for d in datas] == names
    assert names == [
        "message_start",
        "content_block_start",  # the text "Let me check." word by word
        *["content_block_delta"] * 3,
        "content_block_stop",
        "content_block_start",  # the tool_use block
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert datas[6]["content_block"]["type"] == "tool_use" and datas[6]["index"] == 1
    assert json.loads(datas[7]["delta"]["partial_json"]) == {"city": "Lima"}
    assert datas[-2]["delta"]["stop_reason"] == "tool_use"
    assert datas[-2]["usage"]["input_tokens"] == 12


async def test_stream_with_the_sdk_helper(live: Live) -> None:
    api = AsyncAnthropic(base_url=live.url, api_key=live.token, max_retries=0)
    async with (
        api,
        api.messages.stream(
            model="fake:echo", max_tokens=50, messages=[{"role": "user", "content": "a b c"}]
        ) as stream,
    ):
        pieces = [text async for text in stream.text_stream]
        final = await stream.get_final_message()
    assert "".join(pieces) == "echo: a b c"
    assert len(pieces) == 4
    assert final.content[0].text == "echo: a b c"  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (12, 5)


def test_claude_model_names_follow_the_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEXUS_GATEWAY_ALIASES", "claude-*=fake:claude")
    with running_server() as live:
        message = client(live).messages.create(
            model="claude-house-model-20250101",
            max_tokens=10,
            messages=[{"role": "user", "content": "hi"}],
        )
        assert message.model == "fake:claude"
        counted = client(live).messages.count_tokens(
            model="claude-haiku-4-5", messages=[{"role": "user", "content": "x" * 400}]
        )
        assert counted.input_tokens == 104  # 400 chars / 4 + 4 for the message


def test_bare_names_go_to_the_anthropic_provider(live: Live) -> None:
    with pytest.raises(anthropic.APIStatusError) as unset:
        client(live).messages.create(
            model="claude-house-model", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    assert unset.value.status_code == 503
    assert isinstance(unset.value.body, dict)
    assert "ANTHROPIC_API_KEY" in unset.value.body["error"]["message"]


def test_errors_in_the_anthropic_format(live: Live) -> None:
    api = client(live)
    with pytest.raises(anthropic.NotFoundError) as missing:
        api.messages.create(
            model="nosuch:m", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    body = missing.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "not_found_error"

    no_max = httpx.post(
        f"{live.url}/v1/messages",
        json={"model": "fake:echo", "messages": [{"role": "user", "content": "x"}]},
        headers={"x-api-key": live.token},
    )
    assert no_max.status_code == 400
    assert no_max.json()["error"] == {
        "type": "invalid_request_error",
        "message": "max_tokens — 'max_tokens' is required",
        "code": "invalid_request",
    }

    with pytest.raises(anthropic.BadRequestError) as server_tool:
        api.messages.create(
            model="fake:echo",
            max_tokens=10,
            tools=[{"type": "web_search_20250305", "name": "web_search"}],  # type: ignore[list-item]
            messages=[{"role": "user", "content": "x"}],
        )
    assert "server tools" in str(server_tool.value)

    with pytest.raises(anthropic.AuthenticationError) as wrong:
        client(live, api_key="sk-ant-not-ours").messages.create(
            model="fake:echo", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        )
    body = wrong.value.body
    assert isinstance(body, dict) and body["error"]["type"] == "authentication_error"
    assert "sk-ant-not-ours" not in wrong.value.response.text
    assert live.upstream.requests == []
