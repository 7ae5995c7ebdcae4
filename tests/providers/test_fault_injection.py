"""Fault injection: real adapters behind the reliability layer, against loopback fakes that fail.

For each fault: what happens (retry, fail over, or fail with a message naming the
provider, the endpoint and the status), and that usage counts only the attempt
that answered.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from nexus.domain.messages import Message, ModelRequest, ModelResponse
from nexus.providers.anthropic_provider import AnthropicProvider
from nexus.providers.base import ModelProvider, StreamChunk
from nexus.providers.errors import (
    BadResponse,
    CreditExhausted,
    ProviderUnavailable,
    RateLimited,
    StreamInterrupted,
)
from nexus.providers.openai_provider import OpenAIProvider
from nexus.providers.reliability import BreakerBoard, Endpoint, ReliableProvider, RetryPolicy
from tests.providers.fakes import anthropic_wire, openai_wire
from tests.providers.fakes.server import FakeServer, Reply

FAST = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.05)
Events = list[tuple[str, dict[str, Any]]]


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


@pytest.fixture
def second() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


def dead_url() -> str:
    """A loopback URL where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def openai_at(url: str, timeout_s: float = 5.0) -> OpenAIProvider:
    return OpenAIProvider("gpt-4o-mini", base_url=url, api_key="sk-test", timeout_s=timeout_s)


def anthropic_at(url: str, timeout_s: float = 5.0) -> AnthropicProvider:
    return AnthropicProvider(
        "claude-haiku-4-5", base_url=url, api_key="sk-ant-test", timeout_s=timeout_s
    )


def reliable(
    *adapters: OpenAIProvider | AnthropicProvider,
    policy: RetryPolicy = FAST,
    events: Events | None = None,
    breakers: BreakerBoard | None = None,
) -> ReliableProvider:
    first = adapters[0]
    return ReliableProvider(
        first.name,
        first.model,
        [Endpoint(a.base_url, a) for a in adapters],
        policy=policy,
        breakers=breakers,
        on_event=(lambda t, d: events.append((t, d))) if events is not None else None,
    )


def hello(model: str = "openai:gpt-4o-mini") -> ModelRequest:
    return ModelRequest(model=model, messages=(Message.text("user", "hello"),))


def ok_openai(prompt: int = 30, completion: int = 7) -> Reply:
    return Reply.json(openai_wire.chat_completion("Hi!", use=openai_wire.usage(prompt, completion)))


async def collect(provider: ModelProvider, request: ModelRequest) -> list[StreamChunk]:
    return [chunk async for chunk in provider.stream(request)]


def assert_counted_once(response: ModelResponse, prompt: int, completion: int) -> None:
    assert (response.usage.input_tokens, response.usage.output_tokens) == (prompt, completion)
    assert response.usage.cost_usd == pytest.approx((prompt * 0.15 + completion * 0.60) / 1e6)


async def test_429_waits_for_retry_after_then_succeeds(server: FakeServer) -> None:
    events: Events = []
    server.queue(
        Reply.json(
            openai_wire.error_body("Rate limit reached", "requests"), 429, **{"Retry-After": "1"}
        ),
        ok_openai(30, 7),
    )
    provider = reliable(openai_at(server.url + "/v1"), events=events)
    response = await provider.complete(hello())

    assert response.message.text_content == "Hi!"
    assert_counted_once(response, 30, 7)
    first, retried = server.requests
    assert retried.at - first.at >= 0.9  # the backoff alone would be ~0.01 s
    [(kind, event)] = events
    assert kind == "model.retry" and event["status"] == 429 and event["code"] == "rate_limited"
    assert event["delay_s"] >= 1.0
    assert response.provider_meta["attempt"] == 2
    assert [a["status"] for a in response.provider_meta["attempts"]] == [429]


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
async def test_500_and_529_are_retried_and_only_the_answer_is_counted(
    server: FakeServer, wire: str
) -> None:
    if wire == "openai":
        server.queue(
            Reply.json(openai_wire.error_body("boom"), 500),
            Reply.json(openai_wire.error_body("overloaded"), 503),
            ok_openai(12, 3),
        )
        provider = reliable(openai_at(server.url + "/v1"))
        request = hello()
    else:
        body = anthropic_wire.message(
            "Hi!", use=anthropic_wire.usage(input_tokens=12, output_tokens=3)
        )
        server.queue(
            Reply.json(anthropic_wire.error_body("Internal error", "api_error"), 500),
            Reply.json(anthropic_wire.error_body("Overloaded", "overloaded_error"), 529),
            Reply.json(body),
        )
        provider = reliable(anthropic_at(server.url))
        request = hello("anthropic:claude-haiku-4-5")
    response = await provider.complete(request)

    assert len(server.requests) == 3
    assert response.message.text_content == "Hi!"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (12, 3)
    assert [a["status"] for a in response.provider_meta["attempts"]] == [
        500,
        503 if wire == "openai" else 529,
    ]


async def test_persistent_500_fails_naming_provider_endpoint_and_status(
    server: FakeServer,
) -> None:
    server.default = Reply.json(openai_wire.error_body("The server had an error"), 500)
    with pytest.raises(ProviderUnavailable) as info:
        await reliable(openai_at(server.url + "/v1")).complete(hello())
    message = str(info.value)
    assert message.startswith("openai:gpt-4o-mini failed after 4 attempts: ")
    assert f"openai at {server.url}/v1: HTTP 500: The server had an error" in message
    assert len(server.requests) == 4
    assert info.value.retryable  # the step's own retry policy may try again later


async def test_connection_refused_fails_over_to_the_next_endpoint_at_once(
    server: FakeServer,
) -> None:
    events: Events = []
    dead = dead_url() + "/v1"
    server.queue(ok_openai(5, 2))
    provider = reliable(openai_at(dead), openai_at(server.url + "/v1"), events=events)
    response = await provider.complete(hello())

    assert response.provider_meta["endpoint"] == server.url + "/v1"
    [(_, event)] = events
    assert event["endpoint"] == dead and event["code"] == "provider_unavailable"
    assert event["delay_s"] == 0.0 and event["next_endpoint"] == server.url + "/v1"
    assert "connection failed" in event["message"]


async def test_connection_refused_everywhere_fails_clearly() -> None:
    dead = dead_url() + "/v1"
    with pytest.raises(ProviderUnavailable) as info:
        await reliable(
            openai_at(dead), policy=RetryPolicy(max_attempts=2, base_delay_s=0.01)
        ).complete(hello())
    assert f"openai at {dead}: connection failed" in str(info.value)
    assert "failed after 2 attempts" in str(info.value)


async def test_read_timeout_is_retried(server: FakeServer) -> None:
    server.queue(Reply(delay_s=3.0), ok_openai(8, 1))
    provider = reliable(openai_at(server.url + "/v1", timeout_s=0.3))
    response = await provider.complete(hello())
    assert response.message.text_content == "Hi!"
    [attempt] = response.provider_meta["attempts"]
    assert attempt["code"] == "provider_unavailable" and "timeout" in attempt["message"]
    assert_counted_once(response, 8, 1)


async def test_malformed_json_is_retried(server: FakeServer) -> None:
    server.queue(Reply(body=b"<html>502 Bad Gateway</html>"), ok_openai(9, 4))
    response = await reliable(openai_at(server.url + "/v1")).complete(hello())
    [attempt] = response.provider_meta["attempts"]
    assert attempt["code"] == "bad_response"
    assert_counted_once(response, 9, 4)


async def test_malformed_json_every_time_is_a_bad_response(server: FakeServer) -> None:
    server.default = Reply(body=b"{oops")
    policy = RetryPolicy(max_attempts=2, base_delay_s=0.01)
    with pytest.raises(BadResponse, match="unreadable response"):
        await reliable(openai_at(server.url + "/v1"), policy=policy).complete(hello())


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
async def test_a_stream_cut_before_any_output_is_retried(server: FakeServer, wire: str) -> None:
    if wire == "openai":
        full = openai_wire.stream_reply(["Hel", "lo"], use=openai_wire.usage(20, 2))
        # only the role chunk gets through before the connection drops
        server.queue(openai_wire.stream_reply(["Hel", "lo"], cut_after=1), full)
        provider = reliable(openai_at(server.url + "/v1"))
    else:
        use = anthropic_wire.usage(input_tokens=20, output_tokens=2)
        full = anthropic_wire.stream_reply(["Hel", "lo"], use=use)
        server.queue(anthropic_wire.stream_reply(["Hel", "lo"], cut_after=2), full)
        provider = reliable(anthropic_at(server.url))
    chunks = await collect(provider, hello())

    assert len(server.requests) == 2
    assert "".join(c.text for c in chunks) == "Hello"  # nothing doubled
    done = chunks[-1]
    assert done.usage is not None and done.usage.input_tokens == 20
    assert done.provider_meta is not None and done.provider_meta["attempt"] == 2


@pytest.mark.parametrize("wire", ["openai", "anthropic"])
async def test_a_stream_cut_in_the_middle_fails_with_the_partial_text(
    server: FakeServer, wire: str
) -> None:
    if wire == "openai":
        server.queue(openai_wire.stream_reply(["Half an ", "answer"], cut_after=2))
        provider = reliable(openai_at(server.url + "/v1"))
    else:
        server.queue(anthropic_wire.stream_reply(["Half an ", "answer"], cut_after=4))
        provider = reliable(anthropic_at(server.url))
    received: list[StreamChunk] = []
    with pytest.raises(StreamInterrupted) as info:
        async for chunk in provider.stream(hello()):
            received.append(chunk)
    assert [c.text for c in received] == ["Half an "]
    assert len(server.requests) == 1  # no silent retry once the caller has output
    assert info.value.details["partial_text"] == "Half an "
    assert "the stream broke after 8 characters" in str(info.value)


async def test_credit_exhausted_is_not_retried(server: FakeServer) -> None:
    body = anthropic_wire.error_body(
        "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing.",
        "invalid_request_error",
    )
    server.default = Reply.json(body, 400)
    with pytest.raises(CreditExhausted) as info:
        await reliable(anthropic_at(server.url)).complete(hello("anthropic:claude-haiku-4-5"))
    assert len(server.requests) == 1
    assert f"anthropic at {server.url}: HTTP 400: Your credit balance is too low" in str(info.value)
    assert info.value.retryable is False


async def test_402_is_credit_exhausted(server: FakeServer) -> None:
    server.default = Reply.json(openai_wire.error_body("Payment required", "billing"), 402)
    with pytest.raises(CreditExhausted):
        await reliable(openai_at(server.url + "/v1")).complete(hello())
    assert len(server.requests) == 1


async def test_a_retry_after_beyond_the_limit_fails_at_once(server: FakeServer) -> None:
    server.default = Reply.json(
        openai_wire.error_body("Slow down", "requests"), 429, **{"Retry-After": "600"}
    )
    with pytest.raises(RateLimited, match="asks to wait 600s, more than the 60s limit"):
        await reliable(openai_at(server.url + "/v1")).complete(hello())
    assert len(server.requests) == 1


async def test_streamed_call_counts_usage_once_after_a_429(server: FakeServer) -> None:
    server.queue(
        Reply.json(
            openai_wire.error_body("Rate limit", "requests"), 429, **{"retry-after-ms": "50"}
        ),
        openai_wire.stream_reply(["ok"], use=openai_wire.usage(11, 1)),
    )
    chunks = await collect(reliable(openai_at(server.url + "/v1")), hello())
    done = [c for c in chunks if c.type == "done"]
    assert len(done) == 1 and done[0].usage is not None
    assert (done[0].usage.input_tokens, done[0].usage.output_tokens) == (11, 1)
    assert done[0].provider_meta is not None
    assert [a["status"] for a in done[0].provider_meta["attempts"]] == [429]
