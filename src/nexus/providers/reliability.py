"""Reliable model calls (M3): retries with backoff, circuit breakers, endpoint failover.

A :class:`ReliableProvider` serves one model from one or more endpoints (base
URLs, e.g. regions), each an adapter such as
:class:`~nexus.providers.openai_provider.OpenAIProvider`. A call goes to the
first endpoint whose :class:`CircuitBreaker` lets it through. When it fails
with a retryable :class:`~nexus.providers.errors.ProviderError` the next try
goes to another healthy endpoint at once, or — when only the same endpoint is
left — after an exponential backoff with jitter that is never shorter than the
server's ``Retry-After``. Errors that retrying cannot fix (credit exhausted,
auth, a rejected request) are raised at once.

After ``failure_threshold`` consecutive failures an endpoint's breaker opens and
the endpoint is skipped for ``cooldown_s``; then one trial call is let through
(half-open): success closes it, failure opens it again.

A failed attempt yields no usage, so a retried call counts only the usage of
the attempt that answered. The failed attempts are listed in the response's
``provider_meta["attempts"]`` and logged on ``nexus.providers.reliability``.
Streams are retried only while nothing has been handed on to the caller.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from nexus.domain.messages import ModelRequest, ModelResponse
from nexus.providers.base import ModelProvider, StreamChunk
from nexus.providers.errors import (
    BadResponse,
    CircuitOpen,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)

__all__ = [
    "BreakerBoard",
    "BreakerPolicy",
    "CircuitBreaker",
    "Endpoint",
    "EventFn",
    "ReliableProvider",
    "RetryPolicy",
]

log = logging.getLogger("nexus.providers.reliability")

EventFn = Callable[[str, dict[str, Any]], None]
SleepFn = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a call to one model is retried.

    ``max_attempts``: calls in all, the first included (1 = no retry).
    Before retry *n* the wait is ``base_delay_s * multiplier**(n-1)``, at most
    ``max_delay_s``, times a random factor in ``[1 - jitter, 1 + jitter]``, and
    never shorter than the server's Retry-After. A Retry-After longer than
    ``max_retry_after_s`` is not waited for: the call fails at once, so that a
    fallback chain can move on.
    """

    max_attempts: int = 4
    base_delay_s: float = 0.5
    multiplier: float = 2.0
    max_delay_s: float = 20.0
    jitter: float = 0.2
    max_retry_after_s: float = 60.0

    def backoff_s(self, retry: int, rng: random.Random) -> float:
        """The jittered exponential backoff before retry number ``retry`` (1, 2, …)."""
        raw = min(self.max_delay_s, self.base_delay_s * self.multiplier ** max(0, retry - 1))
        return raw * rng.uniform(1.0 - self.jitter, 1.0 + self.jitter)

    def delay_s(self, retry: int, error: ProviderError, rng: random.Random) -> float | None:
        """The wait before retrying after ``error``; None when its Retry-After is too long."""
        backoff = self.backoff_s(retry, rng)
        if error.retry_after is None:
            return backoff
        if error.retry_after > self.max_retry_after_s:
            return None
        return max(error.retry_after, backoff)


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """``failure_threshold`` consecutive failures open an endpoint for ``cooldown_s``."""

    failure_threshold: int = 5
    cooldown_s: float = 30.0


BreakerState = Literal["closed", "open", "half_open"]


@dataclass(slots=True)
class CircuitBreaker:
    """The health of one endpoint: closed (in use), open (skipped), half-open (one trial)."""

    endpoint: str
    policy: BreakerPolicy = field(default_factory=BreakerPolicy)
    clock: Clock = time.monotonic
    failures: int = 0
    opened_at: float | None = None
    trial_in_flight: bool = False

    @property
    def state(self) -> BreakerState:
        if self.opened_at is None:
            return "closed"
        if self.clock() - self.opened_at >= self.policy.cooldown_s:
            return "half_open"
        return "open"

    def remaining_s(self) -> float:
        """Seconds left of the cool-down (0 when not open)."""
        if self.opened_at is None:
            return 0.0
        return max(0.0, self.policy.cooldown_s - (self.clock() - self.opened_at))

    def available(self) -> bool:
        """Whether a call may go to this endpoint now (no side effect)."""
        state = self.state
        return state == "closed" or (state == "half_open" and not self.trial_in_flight)

    def begin(self) -> None:
        """A call goes out; in the half-open state it is the one trial."""
        if self.state == "half_open":
            self.trial_in_flight = True

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.trial_in_flight = False

    def record_failure(self) -> None:
        self.failures += 1
        was_trial = self.trial_in_flight
        self.trial_in_flight = False
        if was_trial or self.failures >= self.policy.failure_threshold:
            self.opened_at = self.clock()

    def release(self) -> None:
        """A call ended without saying anything about the endpoint's health."""
        self.trial_in_flight = False


class BreakerBoard:
    """One circuit breaker per endpoint URL, shared by every model served there."""

    def __init__(self, policy: BreakerPolicy | None = None, clock: Clock = time.monotonic) -> None:
        self.policy = policy or BreakerPolicy()
        self.clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, endpoint: str) -> CircuitBreaker:
        breaker = self._breakers.get(endpoint)
        if breaker is None:
            breaker = CircuitBreaker(endpoint, self.policy, self.clock)
            self._breakers[endpoint] = breaker
        return breaker

    def states(self) -> dict[str, BreakerState]:
        return {url: breaker.state for url, breaker in sorted(self._breakers.items())}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One place a model is served: its base URL and the adapter bound to it."""

    url: str
    provider: ModelProvider


def _hurts_endpoint(error: ProviderError) -> bool:
    """Failures that say the endpoint is unhealthy (not the request, key or account)."""
    return isinstance(error, (ProviderUnavailable, RateLimited, BadResponse))


class ReliableProvider:
    """One model over one or more endpoints, with retries, backoff, breakers and failover.

    ``name`` is the provider prefix (``openai``); responses keep the adapter's model name.
    ``on_event`` receives ``("model.retry", {...})`` for every failed attempt that is retried.
    """

    def __init__(
        self,
        name: str,
        model: str,
        endpoints: Sequence[Endpoint],
        *,
        policy: RetryPolicy | None = None,
        breakers: BreakerBoard | None = None,
        sleep: SleepFn = asyncio.sleep,
        rng: random.Random | None = None,
        on_event: EventFn | None = None,
    ) -> None:
        if not endpoints:
            raise ValueError(f"{name}:{model} needs at least one endpoint")
        self.name = name
        self.model = model
        self.endpoints = tuple(endpoints)
        self.policy = policy or RetryPolicy()
        self.breakers = breakers or BreakerBoard()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._on_event = on_event

    @property
    def full_name(self) -> str:
        return f"{self.name}:{self.model}"

    def _pick(self, failed: dict[str, ProviderError]) -> Endpoint | None:
        """The first available endpoint, preferring one that has not failed in this call."""
        available = [e for e in self.endpoints if self.breakers.get(e.url).available()]
        fresh = [e for e in available if e.url not in failed]
        if fresh:
            return fresh[0]
        if not available:
            return None
        # every available endpoint already failed in this call: retry the one that failed first
        return min(available, key=lambda e: list(failed).index(e.url))

    def _no_endpoint(
        self, last: ProviderError | None, attempts: list[dict[str, Any]]
    ) -> ProviderError:
        """The error when every endpoint's breaker is open."""
        waits = ", ".join(
            f"{e.url} (skipped for {self.breakers.get(e.url).remaining_s():.0f}s more)"
            for e in self.endpoints
        )
        if last is not None:
            return last.with_prefix(
                f"{self.full_name} failed after {len(attempts)} attempts and every endpoint"
                f" is now cooling down: {waits}",
                attempts=attempts,
            )
        return CircuitOpen(
            f"{self.full_name}: every endpoint is cooling down after repeated failures: {waits}",
            provider=self.name,
            endpoint=", ".join(e.url for e in self.endpoints),
        )

    async def _after_failure(
        self,
        error: ProviderError,
        endpoint: Endpoint,
        attempt: int,
        failed: dict[str, ProviderError],
        attempts: list[dict[str, Any]],
    ) -> None:
        """Record a failed attempt; wait before the next one, or raise when it is over."""
        breaker = self.breakers.get(endpoint.url)
        if _hurts_endpoint(error):
            breaker.record_failure()
        else:
            breaker.release()
        failed.pop(endpoint.url, None)
        failed[endpoint.url] = error
        record: dict[str, Any] = {
            "attempt": attempt,
            "endpoint": endpoint.url,
            "code": error.code,
            "status": error.status,
            "message": error.message,
        }
        attempts.append(record)
        if not error.retryable:
            raise error
        if attempt >= self.policy.max_attempts:
            raise error.with_prefix(
                f"{self.full_name} failed after {attempt} attempts", attempts=attempts
            ) from error
        following = self._pick(failed)
        delay = 0.0
        if following is not None and following.url in failed:
            wait = self.policy.delay_s(attempt, failed[following.url], self._rng)
            if wait is None:
                raise error.with_prefix(
                    f"{self.full_name}: the server asks to wait {error.retry_after:g}s, more than"
                    f" the {self.policy.max_retry_after_s:g}s limit",
                    attempts=attempts,
                ) from error
            delay = wait
        record["delay_s"] = round(delay, 3)
        record["next_endpoint"] = following.url if following is not None else None
        log.warning(
            "%s: attempt %d at %s failed (%s); retrying in %.2fs",
            self.full_name,
            attempt,
            endpoint.url,
            error.message,
            delay,
        )
        if self._on_event is not None:
            self._on_event("model.retry", {"model": self.full_name, **record})
        if delay > 0:
            await self._sleep(delay)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        failed: dict[str, ProviderError] = {}
        attempts: list[dict[str, Any]] = []
        last: ProviderError | None = None
        for attempt in range(1, self.policy.max_attempts + 1):
            endpoint = self._pick(failed)
            if endpoint is None:
                raise self._no_endpoint(last, attempts) from last
            breaker = self.breakers.get(endpoint.url)
            breaker.begin()
            try:
                response = await endpoint.provider.complete(request)
            except ProviderError as error:
                last = error
                await self._after_failure(error, endpoint, attempt, failed, attempts)
                continue
            except BaseException:
                breaker.release()
                raise
            breaker.record_success()
            meta = {**response.provider_meta, "endpoint": endpoint.url, "attempt": attempt}
            if attempts:
                meta["attempts"] = attempts
            return response.model_copy(update={"provider_meta": meta})
        raise AssertionError("unreachable: the last attempt raises")  # pragma: no cover

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]:
        failed: dict[str, ProviderError] = {}
        attempts: list[dict[str, Any]] = []
        last: ProviderError | None = None
        for attempt in range(1, self.policy.max_attempts + 1):
            endpoint = self._pick(failed)
            if endpoint is None:
                raise self._no_endpoint(last, attempts) from last
            breaker = self.breakers.get(endpoint.url)
            breaker.begin()
            handed_on = False
            try:
                async for chunk in endpoint.provider.stream(request):
                    if chunk.type == "done":
                        meta = {
                            **(chunk.provider_meta or {}),
                            "endpoint": endpoint.url,
                            "attempt": attempt,
                        }
                        if attempts:
                            meta["attempts"] = attempts
                        chunk = chunk.model_copy(update={"provider_meta": meta})
                    handed_on = True
                    yield chunk
            except ProviderError as error:
                last = error
                if handed_on:  # the caller already has part of the answer: no silent retry
                    if _hurts_endpoint(error):
                        breaker.record_failure()
                    else:
                        breaker.release()
                    raise
                await self._after_failure(error, endpoint, attempt, failed, attempts)
                continue
            except BaseException:
                breaker.release()
                raise
            breaker.record_success()
            return
        raise AssertionError("unreachable: the last attempt raises")  # pragma: no cover
