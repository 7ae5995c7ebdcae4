"""Circuit breakers per endpoint and failover between the endpoints of one model."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from nexus.domain.messages import Message, ModelRequest
from nexus.providers.errors import CircuitOpen, ProviderUnavailable, RateLimited
from nexus.providers.openai_provider import OpenAIProvider
from nexus.providers.reliability import (
    BreakerBoard,
    BreakerPolicy,
    CircuitBreaker,
    Endpoint,
    ReliableProvider,
    RetryPolicy,
)
from tests.providers.fakes import openai_wire
from tests.providers.fakes.server import FakeServer, Reply


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def primary() -> Iterator[FakeServer]:
    with FakeServer(default=Reply.json(openai_wire.error_body("down"), 503)) as fake:
        yield fake


@pytest.fixture
def backup() -> Iterator[FakeServer]:
    ok = Reply.json(openai_wire.chat_completion("from backup", use=openai_wire.usage(4, 2)))
    with FakeServer(default=ok) as fake:
        yield fake


def hello() -> ModelRequest:
    return ModelRequest(model="openai:gpt-4o-mini", messages=(Message.text("user", "hello"),))


def two_endpoints(primary: FakeServer, backup: FakeServer, board: BreakerBoard) -> ReliableProvider:
    urls = [primary.url + "/v1", backup.url + "/v1"]
    return ReliableProvider(
        "openai",
        "gpt-4o-mini",
        [
            Endpoint(u, OpenAIProvider("gpt-4o-mini", base_url=u, api_key="k", timeout_s=5))
            for u in urls
        ],
        policy=RetryPolicy(max_attempts=3, base_delay_s=0.01),
        breakers=board,
    )


def test_breaker_opens_after_n_failures_and_half_opens_after_the_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker("http://a", BreakerPolicy(failure_threshold=3, cooldown_s=30), clock)
    for _ in range(2):
        breaker.begin()
        breaker.record_failure()
    assert breaker.state == "closed" and breaker.available()
    breaker.record_success()  # a success resets the count
    for _ in range(3):
        breaker.record_failure()
    assert breaker.state == "open" and not breaker.available()
    assert breaker.remaining_s() == 30
    clock.now += 29.9
    assert not breaker.available()
    clock.now += 0.2
    assert breaker.state == "half_open" and breaker.available()
    breaker.begin()  # the one trial call
    assert not breaker.available()  # nobody else while the trial runs
    breaker.record_failure()  # the trial failed: open again for a full cool-down
    assert breaker.state == "open" and breaker.remaining_s() == 30
    clock.now += 31
    breaker.begin()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.failures == 0


def test_a_released_trial_lets_the_next_one_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker("http://a", BreakerPolicy(failure_threshold=1, cooldown_s=5), clock)
    breaker.record_failure()
    clock.now += 6
    breaker.begin()
    breaker.release()  # e.g. a 400: says nothing about the endpoint
    assert breaker.available()


async def test_an_unhealthy_endpoint_is_skipped_during_its_cooldown(
    primary: FakeServer, backup: FakeServer
) -> None:
    clock = Clock()
    board = BreakerBoard(BreakerPolicy(failure_threshold=2, cooldown_s=30), clock)
    provider = two_endpoints(primary, backup, board)

    for _ in range(2):  # each call: primary fails, backup answers
        response = await provider.complete(hello())
        assert response.message.text_content == "from backup"
    assert len(primary.requests) == 2
    assert board.states()[primary.url + "/v1"] == "open"

    response = await provider.complete(hello())  # primary skipped: straight to the backup
    assert len(primary.requests) == 2 and len(backup.requests) == 3
    assert "attempts" not in response.provider_meta
    assert response.usage.input_tokens == 4  # one answer, counted once

    clock.now += 31  # cool-down over: primary gets one trial, recovers
    primary.default = Reply.json(openai_wire.chat_completion("primary is back"))
    response = await provider.complete(hello())
    assert response.message.text_content == "primary is back"
    assert board.states()[primary.url + "/v1"] == "closed"


async def test_every_endpoint_open_is_a_circuit_open_error(
    primary: FakeServer, backup: FakeServer
) -> None:
    clock = Clock()
    board = BreakerBoard(BreakerPolicy(failure_threshold=1, cooldown_s=60), clock)
    backup.default = primary.default
    provider = two_endpoints(primary, backup, board)
    with pytest.raises(ProviderUnavailable) as first:
        await provider.complete(hello())
    assert "failed after 2 attempts and every endpoint is now cooling down" in str(first.value)
    assert "HTTP 503: down" in str(first.value)
    with pytest.raises(CircuitOpen) as info:
        await provider.complete(hello())
    message = str(info.value)
    assert "every endpoint is cooling down" in message
    assert f"{primary.url}/v1 (skipped for 60s more)" in message
    assert len(primary.requests) + len(backup.requests) == 2  # nothing sent while open


async def test_breakers_are_shared_by_every_model_on_an_endpoint(
    primary: FakeServer, backup: FakeServer
) -> None:
    board = BreakerBoard(BreakerPolicy(failure_threshold=1, cooldown_s=60), Clock())
    await two_endpoints(primary, backup, board).complete(hello())
    other = two_endpoints(primary, backup, board)  # another model, same endpoints
    await other.complete(hello())
    assert len(primary.requests) == 1


async def test_rate_limited_endpoint_fails_over_without_waiting(
    primary: FakeServer, backup: FakeServer
) -> None:
    primary.default = Reply.json(
        openai_wire.error_body("Rate limit", "requests"), 429, **{"Retry-After": "30"}
    )
    provider = two_endpoints(primary, backup, BreakerBoard())
    response = await provider.complete(hello())  # would time out the test if it waited 30 s
    assert response.message.text_content == "from backup"
    [attempt] = response.provider_meta["attempts"]
    assert attempt["status"] == 429 and attempt["delay_s"] == 0.0


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    policy = RetryPolicy(base_delay_s=0.5, multiplier=2, max_delay_s=3, jitter=0.2)
    rng = random.Random(7)
    for retry, base in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (6, 3.0)]:
        delays = [policy.backoff_s(retry, rng) for _ in range(50)]
        assert all(base * 0.8 <= d <= base * 1.2 for d in delays)
        assert len({round(d, 6) for d in delays}) > 1  # jittered, not constant
    error = RateLimited.at("openai", "http://x", "slow", status=429, retry_after=2.5)
    assert policy.delay_s(1, error, rng) == 2.5  # Retry-After beats a shorter backoff
    error = RateLimited.at("openai", "http://x", "slow", status=429, retry_after=0.1)
    assert 0.4 <= (policy.delay_s(1, error, rng) or 0) <= 0.6
