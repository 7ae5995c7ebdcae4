"""The real ``openai`` client against a running server: chat completions, streaming, tool
calls both ways, the model list, ``auto`` through the router, and errors."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import openai
import pytest
from openai import AsyncOpenAI, OpenAI

from nexus.domain.messages import ToolResult
from tests.gateway.conftest import WEATHER_TOOL, Live, running_server


def client(live: Live, token: str | None = None) -> OpenAI:
    return OpenAI(base_url=f"{live.url}/v1", api_key=token or live.token, max_retries=0)


def test_chat_completion(live: Live) -> None:
    raw = client(live).chat.completions.with_raw_response.create(
        model="fake:echo",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello there"},
        ],
        max_tokens=64,
    )
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.id.startswith("chatcmpl-")
    assert completion.model == "fake:echo"
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "echo: hello there"
    assert choice.finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (12, 5)
    assert completion.usage.total_tokens == 17
    assert raw.headers["x-nexus-model"] == "fake:echo"
    assert raw.headers["x-nexus-cache"] == "off"
    assert float(raw.headers["x-nexus-cost-usd"]) == pytest.approx(0.001)
    [request] = live.upstream.requests
    assert [m.role for m in request.messages] == ["system", "user"]
    assert request.max_tokens == 64
    assert request.metadata["source"] == "gateway:openai"


def test_tool_calls_both_ways(live: Live) -> None:
    api = client(live)
    question = {"role": "user", "content": "what is the weather in Paris?"}
    first = api.chat.completions.create(
        model="fake:tools", messages=[question], tools=[WEATHER_TOOL]
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    offered = live.upstream.requests[0].tools
    assert [t.name for t in offered] == ["get_weather"]
    assert offered[0].parameters["required"] == ["city"]

    second = api.chat.completions.create(
        model="fake:tools",
        tools=[WEATHER_TOOL],
        messages=[
            question,
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": call.function.arguments},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call.id, "content": "sunny, 21 C"},
        ],
    )
    assert second.choices[0].message.content == "tool said: sunny, 21 C"
    sent = live.upstream.requests[1].messages
    assert sent[1].tool_calls[0].arguments == {"city": "Paris"}
    assert sent[2].role == "tool"
    result = sent[2].parts[0]
    assert isinstance(result, ToolResult) and result.tool_call_id == call.id


def test_streaming_with_usage_chunk(live: Live) -> None:
    chunks = list(
        client(live).chat.completions.create(
            model="fake:echo",
            messages=[{"role": "user", "content": "one two three"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert len({c.id for c in chunks}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: one two three"
    deltas = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(deltas) == 4  # streamed word by word, not in one piece
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finishes[-1] == "stop" and set(finishes[:-1]) == {None}
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens) == (12, 5)


def test_stream_wire_ends_with_done_and_has_no_usage_unless_asked(live: Live) -> None:
    body = {"model": "fake:echo", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with httpx.stream(
        "POST",
        f"{live.url}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {live.token}"},
        timeout=10,
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    events = [json.loads(line[6:]) for line in lines[:-1]]
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all("usage" not in e for e in events)
    assert events[-1]["choices"][0]["finish_reason"] == "stop"


async def test_streamed_tool_call_with_the_async_client(live: Live) -> None:
    api = AsyncOpenAI(base_url=f"{live.url}/v1", api_key=live.token, max_retries=0)
    async with api:
        stream = await api.chat.completions.create(
            model="fake:tools",
            messages=[{"role": "user", "content": "weather in Oslo"}],
            tools=[WEATHER_TOOL],
            stream=True,
        )
        chunks = [c async for c in stream]
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert len(calls) == 1
    assert calls[0].index == 0 and calls[0].id == "call_w1"
    assert calls[0].function is not None and calls[0].function.name == "get_weather"
    assert json.loads(calls[0].function.arguments or "") == {"city": "Oslo"}
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_models_list_and_retrieve(live: Live) -> None:
    api = client(live)
    ids = [m.id for m in api.models.list()]
    assert ids[:2] == ["auto", "router:auto"]
    assert {"router:cost", "router:speed", "offline:replay"} <= set(ids)
    assert not any(i.startswith("openai:") for i in ids)  # no OPENAI_API_KEY here
    model = api.models.retrieve("offline:replay")
    assert (model.id, model.owned_by, model.object) == ("offline:replay", "offline", "model")
    with pytest.raises(openai.NotFoundError):
        api.models.retrieve("nosuch:model")


def test_auto_lets_the_router_choose(tmp_path: Path, nexus_home: Path) -> None:
    nexus_home.mkdir(parents=True, exist_ok=True)
    entry = "{quality: %s, context_window: 100000, ttft_s: %s, tokens_per_s: 100, price: %s}"
    (nexus_home / "catalog.yaml").write_text(
        "models:\n"
        f"  fake:small: {entry % (0.6, 0.2, '{input: 0.1, output: 0.4}')}\n"
        f"  fake:large: {entry % (0.95, 1.5, '{input: 3.0, output: 15.0}')}\n"
        "router:\n  candidates: [fake:small, fake:large]\n"
    )
    with running_server() as live:
        raw = client(live).chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": "say hi"}]
        )
        completion = raw.parse()
        assert completion.model in ("fake:small", "fake:large")
        assert raw.headers["x-nexus-model"] == completion.model
        assert completion.choices[0].message.content == "echo: say hi"
        assert live.upstream.requests[0].model == completion.model
        cheap = client(live).chat.completions.with_raw_response.create(
            model="auto",
            messages=[{"role": "user", "content": "say hi"}],
            extra_headers={"X-Nexus-Priority": "cost"},
        )
        assert cheap.headers["x-nexus-model"] == "fake:small"


def test_errors_in_the_openai_format(live: Live) -> None:
    api = client(live)
    with pytest.raises(openai.NotFoundError) as missing:
        api.chat.completions.create(model="nosuch:m", messages=[{"role": "user", "content": "x"}])
    error = missing.value.body
    assert isinstance(error, dict)
    assert (error["type"], error["code"]) == ("invalid_request_error", "model_not_found")
    assert "nosuch:m" in error["message"]

    with pytest.raises(openai.BadRequestError) as bad:
        api.chat.completions.create(
            model="fake:echo", messages=[{"role": "user", "content": "x"}], n=2
        )
    assert isinstance(bad.value.body, dict) and bad.value.body["param"] == "n"

    reply = httpx.post(
        f"{live.url}/v1/chat/completions",
        json={"model": "fake:echo", "messages": [{"role": "robot", "content": "x"}]},
        headers={"Authorization": f"Bearer {live.token}"},
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "messages[0].role"

    with pytest.raises(openai.AuthenticationError) as wrong:
        client(live, "nx_0123456789ab_" + "A" * 43).models.list()
    assert wrong.value.status_code == 401
    assert isinstance(wrong.value.body, dict) and wrong.value.body["type"] == "authentication_error"

    viewer = client(live, live.key("viewer"))
    assert next(m.id for m in viewer.models.list()) == "auto"
    with pytest.raises(openai.PermissionDeniedError):
        viewer.chat.completions.create(model="fake:e", messages=[{"role": "user", "content": "x"}])
    assert live.upstream.requests == []
