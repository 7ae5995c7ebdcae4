"""The gateway in front of a real provider adapter: ``openai:`` and ``anthropic:`` pointed at
scripted servers on loopback. Requests and tool calls are translated both ways (client
format → canonical → upstream format and back), upstream errors come back with the right
status, and a fallback chain moves on to the next model."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import openai
import pytest
from openai import OpenAI

from tests.gateway.conftest import WEATHER_TOOL, Live, running_server
from tests.providers.fakes import anthropic_wire
from tests.providers.fakes.openai_wire import (
    chat_completion,
    error_body,
    stream_reply,
    tool_call,
    usage,
)
from tests.providers.fakes.server import FakeServer, Reply


@pytest.fixture(params=["sdk", "http"])
def upstream(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FakeServer]:
    """The scripted upstream, reached through each OpenAI transport (SDK and lean HTTP)."""
    monkeypatch.setenv("NEXUS_OPENAI_TRANSPORT", request.param)
    with FakeServer() as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-upstream-key-0000")
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-upstream-0000")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        monkeypatch.setenv("NEXUS_MODEL_MAX_ATTEMPTS", "1")
        yield server


@pytest.fixture
def gateway(upstream: FakeServer) -> Iterator[Live]:
    with running_server() as live:
        yield live


def client(live: Live) -> OpenAI:
    return OpenAI(base_url=f"{live.url}/v1", api_key=live.token, max_retries=0)


def test_openai_upstream_with_tool_calls(upstream: FakeServer, gateway: Live) -> None:
    upstream.queue(
        Reply.json(
            chat_completion(None, tool_calls=[tool_call("call_9", "get_weather", city="Oslo")])
        ),
        Reply.json(chat_completion("Cold.", use=usage(prompt=40, completion=2, cached=8))),
    )
    api = client(gateway)
    first = api.chat.completions.create(
        model="openai:gpt-4o-mini",
        messages=[{"role": "user", "content": "weather in Oslo?"}],
        tools=[WEATHER_TOOL],
        max_tokens=100,
    )
    [call] = first.choices[0].message.tool_calls or []
    assert (call.id, call.function.name) == ("call_9", "get_weather")
    assert json.loads(call.function.arguments) == {"city": "Oslo"}
    sent = upstream.requests[0].json
    assert sent["model"] == "gpt-4o-mini"
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert sent["max_completion_tokens"] == 100
    assert upstream.requests[0].headers["authorization"] == "Bearer sk-test-upstream-key-0000"

    second = api.chat.completions.create(
        model="openai:gpt-4o-mini",
        tools=[WEATHER_TOOL],
        messages=[
            {"role": "user", "content": "weather in Oslo?"},
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": "call_9", "content": "-5 C"},
        ],
    )
    assert second.choices[0].message.content == "Cold."
    assert second.usage is not None
    assert (second.usage.prompt_tokens, second.usage.completion_tokens) == (40, 2)
    assert second.usage.prompt_tokens_details is not None
    assert second.usage.prompt_tokens_details.cached_tokens == 8
    history = upstream.requests[1].json["messages"]
    assert history[1]["tool_calls"][0]["id"] == "call_9"
    assert history[2] == {"role": "tool", "tool_call_id": "call_9", "content": "-5 C"}


def test_openai_upstream_stream_passes_through(upstream: FakeServer, gateway: Live) -> None:
    upstream.queue(stream_reply(["Hel", "lo", "!"], use=usage(prompt=7, completion=3)))
    chunks = list(
        client(gateway).chat.completions.create(
            model="openai:gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert [c.choices[0].delta.content for c in chunks if c.choices][1:4] == ["Hel", "lo", "!"]
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 10
    assert upstream.requests[0].json["stream"] is True


def test_anthropic_client_over_an_openai_upstream(upstream: FakeServer, gateway: Live) -> None:
    upstream.queue(Reply.json(chat_completion("Bonjour.", use=usage(prompt=9, completion=2))))
    api = anthropic.Anthropic(base_url=gateway.url, api_key=gateway.token, max_retries=0)
    message = api.messages.create(
        model="openai:gpt-4o-mini",
        max_tokens=30,
        system="Answer in French.",
        messages=[{"role": "user", "content": "hello"}],
    )
    assert message.content[0].text == "Bonjour."  # type: ignore[union-attr]
    assert (message.usage.input_tokens, message.usage.output_tokens) == (9, 2)
    sent = upstream.requests[0].json["messages"]
    assert sent[0] == {"role": "system", "content": "Answer in French."}


def test_anthropic_upstream_through_the_anthropic_api(upstream: FakeServer, gateway: Live) -> None:
    upstream.queue(Reply.json(anthropic_wire.message("Hi from Claude.")))
    api = anthropic.Anthropic(base_url=gateway.url, api_key=gateway.token, max_retries=0)
    message = api.messages.create(
        model="anthropic:claude-haiku-4-5",
        max_tokens=30,
        messages=[{"role": "user", "content": "hello"}],
    )
    assert message.content[0].text == "Hi from Claude."  # type: ignore[union-attr]
    request = upstream.requests[0]
    assert request.path == "/v1/messages"
    sent_key = request.headers.get("x-api-key") or request.headers.get("authorization", "")
    assert sent_key.endswith("sk-ant-test-upstream-0000")  # the server's key, not the client's
    assert gateway.token not in str(request.headers)
    assert request.json["model"] == "claude-haiku-4-5"
    assert request.json["max_tokens"] == 30


def test_upstream_errors_map_to_statuses(upstream: FakeServer, gateway: Live) -> None:
    api = client(gateway)
    hello = [{"role": "user", "content": "x"}]
    upstream.queue(
        Reply.json(error_body("slow down", "rate_limit_error"), 429, **{"retry-after": "7"})
    )
    with pytest.raises(openai.RateLimitError) as limited:
        api.chat.completions.create(model="openai:gpt-4o-mini", messages=hello)  # type: ignore[arg-type]
    assert limited.value.response.headers["retry-after"] == "7"
    assert "slow down" in limited.value.message

    upstream.queue(Reply.json(error_body("context too long", "invalid_request_error"), 400))
    with pytest.raises(openai.BadRequestError, match="context too long"):
        api.chat.completions.create(model="openai:gpt-4o-mini", messages=hello)  # type: ignore[arg-type]

    upstream.queue(Reply.json(error_body("boom"), 500))
    with pytest.raises(openai.APIStatusError) as down:
        api.chat.completions.create(model="openai:gpt-4o-mini", messages=hello)  # type: ignore[arg-type]
    assert down.value.status_code == 503
    assert "sk-test-upstream-key-0000" not in down.value.response.text


def test_a_fallback_chain_answers_with_the_next_model(upstream: FakeServer, gateway: Live) -> None:
    upstream.queue(Reply.json(error_body("overloaded"), 503))
    raw = client(gateway).chat.completions.with_raw_response.create(
        model="fallback:openai:gpt-4o-mini,fake:backup",
        messages=[{"role": "user", "content": "anyone?"}],
    )
    assert raw.headers["x-nexus-model"] == "fake:backup"
    assert raw.parse().choices[0].message.content == "echo: anyone?"
    assert len(upstream.requests) == 1 and len(gateway.upstream.requests) == 1
