"""Enforcing plan limits: per-key rate limits, per-tenant daily requests, and the limits
themselves for the budget and agent code.

- :class:`RateLimiter`: a token bucket per key, in the memory of this process
  (each server process enforces the rate on its own; N processes behind a
  balancer allow up to N times the rate).
- :class:`DailyRequests`: requests per tenant and UTC day, counted in the
  database so every process sees every other's requests. To keep the database
  off the hot path a process adds its requests in batches (at least once a
  second, or every :attr:`DailyRequests.flush_every` requests) and learns the
  others' total from each batch: across processes the quota may overshoot by
  what they served since their last batch (a second's worth at most).
- :class:`TenantLimits`: a tenant's effective :class:`PlanLimits` (plan plus
  overrides), cached briefly; :func:`limits_for` and :func:`check_agents` are
  what the budget and agent code call.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NoReturn

from nexus.tenancy.errors import QuotaExceeded, RateLimited
from nexus.tenancy.models import PlanLimits, Tenant
from nexus.tenancy.store import TenancyStore

__all__ = [
    "DailyRequests",
    "RateLimiter",
    "TenantLimits",
    "TokenBucket",
    "check_agents",
    "limits_for",
    "seconds_to_midnight",
    "use_limits",
    "utc_day",
]

Clock = Callable[[], float]


@dataclass(slots=True)
class TokenBucket:
    """``burst`` tokens at most, refilled at ``rate`` per second; a request takes one."""

    rate: float
    burst: int
    tokens: float
    stamp: float

    def take(self, now: float) -> float:
        """0.0 when a token was taken, else the seconds until one is there."""
        self.tokens = min(float(self.burst), self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class RateLimiter:
    """Token buckets per key, at most ``max_keys`` of them (the least recently used go)."""

    def __init__(self, clock: Clock = time.monotonic, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._max = max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def check(self, key_id: str, limits: PlanLimits) -> None:
        """Take a token for ``key_id`` or raise :class:`RateLimited` with ``retry_after``."""
        now = self._clock()
        bucket = self._buckets.get(key_id)
        if bucket is None or bucket.rate != limits.rate_per_s or bucket.burst != limits.burst:
            bucket = TokenBucket(limits.rate_per_s, limits.burst, float(limits.burst), now)
            self._buckets[key_id] = bucket
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key_id)
        wait = bucket.take(now)
        if wait > 0:
            retry = max(1, int(wait + 0.999))
            raise RateLimited(
                f"rate limit of key '{key_id}' reached: {limits.rate_per_s:g} requests/s, "
                f"bursts of {limits.burst}; retry in {retry} s",
                retry_after=retry,
                limit_per_s=limits.rate_per_s,
            )

    def forget(self, key_id: str) -> None:
        self._buckets.pop(key_id, None)


def utc_day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def seconds_to_midnight(ts: float) -> int:
    """Whole seconds from ``ts`` to the next midnight UTC (at least 1)."""
    now = datetime.fromtimestamp(ts, UTC)
    midnight = (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((midnight - now).total_seconds() + 0.999))


@dataclass(slots=True)
class _Count:
    day: str
    stored: int = 0  # the total in the database after our last flush (all processes)
    pending: int = 0  # served here, not yet added to the database
    flushed_at: float = 0.0


class DailyRequests:
    """Counts each tenant's API requests per UTC day and refuses those over the quota."""

    flush_every = 200
    flush_interval_s = 1.0

    def __init__(self, store: TenancyStore, clock: Clock = time.time) -> None:
        self._store = store
        self._clock = clock
        self._counts: dict[str, _Count] = {}

    async def hit(self, tenant_id: str, limit: int) -> int:
        """Count one request of ``tenant_id``; raise :class:`QuotaExceeded` when the tenant
        has used its ``limit`` for today. Returns the count including this request."""
        now = self._clock()
        day = utc_day(now)
        count = self._counts.get(tenant_id)
        if count is None or count.day != day:
            if count is not None and count.pending:
                await self._store.add_requests(tenant_id, count.day, count.pending)
            count = _Count(day, await self._store.request_count(tenant_id, day), 0, now)
            self._counts[tenant_id] = count
        if count.stored + count.pending >= limit:
            if now - count.flushed_at >= self.flush_interval_s:
                await self._flush(tenant_id, count, now)  # learn what the others served
            if count.stored + count.pending >= limit:
                self._refuse(tenant_id, limit, now)
        count.pending += 1
        total = count.stored + count.pending
        if count.pending >= self.flush_every or now - count.flushed_at >= self.flush_interval_s:
            await self._flush(tenant_id, count, now)
            total = count.stored  # every process's requests, this one included
            if total > limit:  # the others used the rest meanwhile
                self._refuse(tenant_id, limit, now)
        return total

    @staticmethod
    def _refuse(tenant_id: str, limit: int, now: float) -> NoReturn:
        raise QuotaExceeded(
            f"tenant '{tenant_id}' has used its {limit} requests for today (UTC); "
            "the quota resets at midnight UTC",
            retry_after=seconds_to_midnight(now),
            limit=limit,
        )

    async def _flush(self, tenant_id: str, count: _Count, now: float) -> None:
        n, count.pending = count.pending, 0
        count.flushed_at = now
        try:
            count.stored = await self._store.add_requests(tenant_id, count.day, n)
        except BaseException:
            count.pending += n
            raise

    async def flush(self) -> None:
        """Add every pending count to the database (on shutdown)."""
        now = self._clock()
        for tenant_id, count in self._counts.items():
            if count.pending:
                await self._flush(tenant_id, count, now)


class TenantLimits:
    """Tenants' effective limits, read from the store and cached for ``ttl_s`` seconds."""

    def __init__(self, store: TenancyStore, ttl_s: float = 5.0, clock: Clock = time.monotonic):
        self._store = store
        self._ttl = ttl_s
        self._clock = clock
        self._cache: dict[str, tuple[float, Tenant]] = {}

    async def tenant(self, tenant_id: str) -> Tenant:
        """The tenant (:class:`~nexus.errors.NotFoundError` when unknown)."""
        now = self._clock()
        hit = self._cache.get(tenant_id)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        tenant = await self._store.get_tenant(tenant_id)
        self._cache[tenant_id] = (now, tenant)
        return tenant

    async def limits(self, tenant_id: str) -> PlanLimits:
        return (await self.tenant(tenant_id)).limits()

    def forget(self, tenant_id: str | None = None) -> None:
        if tenant_id is None:
            self._cache.clear()
        else:
            self._cache.pop(tenant_id, None)


_current: list[TenantLimits] = []


def use_limits(limits: TenantLimits | None) -> None:
    """Make ``limits`` the process's source for :func:`limits_for` (None: forget it)."""
    _current.clear()
    if limits is not None:
        _current.append(limits)


async def limits_for(tenant_id: str) -> PlanLimits | None:
    """The effective limits of ``tenant_id`` for the budget and agent code, or None when this
    process enforces no tenancy (no API server with keys: the CLI, the Python SDK)."""
    if not _current:
        return None
    return await _current[0].limits(tenant_id)


async def check_agents(tenant_id: str, running: int) -> None:
    """Raise :class:`QuotaExceeded` when ``tenant_id`` already runs its plan's maximum of
    agents (``running`` counts those at work now, before the one about to start)."""
    limits = await limits_for(tenant_id)
    if limits is not None and running >= limits.max_agents:
        raise QuotaExceeded(
            f"tenant '{tenant_id}' runs {running} agents, the most its plan allows "
            f"({limits.max_agents}); wait for one to finish",
            retry_after=5,
            limit=limits.max_agents,
        )
