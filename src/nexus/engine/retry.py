"""Retry decisions and backoff with jitter (E2)."""

from __future__ import annotations

import random

from nexus.domain.plan import RetryPolicy
from nexus.errors import NexusError, StepError

DEFAULT_RETRY = RetryPolicy()


def should_retry(policy: RetryPolicy, error: BaseException, attempt: int) -> bool:
    """Whether attempt ``attempt`` (1-based, just failed) may be followed by another."""
    if attempt >= policy.max_attempts:
        return False
    if isinstance(error, StepError):
        if not error.retryable:
            return False
        code = error.code
    elif isinstance(error, NexusError):
        return False  # user errors and store errors are not helped by trying again
    else:
        code = type(error).__name__
    return "*" in policy.retry_on or code in policy.retry_on


def backoff_delay(policy: RetryPolicy, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before attempt ``attempt + 1``: exponential, capped, with jitter."""
    base = min(policy.backoff * policy.multiplier ** (attempt - 1), policy.max_backoff)
    if policy.jitter <= 0 or base <= 0:
        return base
    factor = (rng or random).uniform(1 - policy.jitter, 1 + policy.jitter)
    return max(0.0, base * factor)
