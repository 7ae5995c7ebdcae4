"""The API's authenticator: an API key → the caller (:class:`~nexus.api.auth.Principal`).

For each request that presents a key (``Authorization: Bearer nx_…``,
``X-API-Key: nx_…`` or, for browsers' streams, ``?api_key=nx_…``):

1. the key must parse, exist, not be revoked and match its stored digest
   (constant-time), else 401 — the client is told only "invalid API key",
   the audit log gets the reason;
2. the key's token bucket must hold a token, else 429 with ``Retry-After``;
3. the tenant must have requests left today, else 429 with ``Retry-After``;
4. the caller becomes ``Principal(tenant, role, key id)``; the admin keys of
   the default tenant see every tenant (``all_tenants``). For any other key
   :data:`~nexus.tenancy.rls.read_tenant` is set, so run store reads on
   PostgreSQL go through row level security for the rest of the request.

Keys are cached for ``key_ttl_s`` seconds (2 by default): a key revoked
through this process stops working at once, one revoked elsewhere within
that time. What each request did is left in ``request.state`` for the audit
middleware (``auth_failure``, ``auth_key_id``, ``authenticated``).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import NoReturn

from starlette.requests import HTTPConnection

from nexus.api.auth import Principal, presented_key
from nexus.api.errors import Unauthorized
from nexus.tenancy.keys import matches, parse_token
from nexus.tenancy.limits import DailyRequests, RateLimiter, TenantLimits
from nexus.tenancy.models import DEFAULT_TENANT, ApiKey, Role
from nexus.tenancy.rls import read_tenant
from nexus.tenancy.store import TenancyStore

__all__ = ["KeyAuthenticator"]

Clock = Callable[[], float]

_INVALID = "invalid API key"


class KeyAuthenticator:
    """Authenticates API keys from a :class:`TenancyStore`; implements the API's
    ``Authenticator`` protocol (``authenticate`` and ``has_keys``)."""

    #: how often last-used times are written (seconds)
    touch_interval_s = 30.0

    def __init__(
        self,
        store: TenancyStore,
        *,
        limits: TenantLimits | None = None,
        rate: RateLimiter | None = None,
        daily: DailyRequests | None = None,
        key_ttl_s: float = 2.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.store = store
        self.limits = limits or TenantLimits(store)
        self.rate = rate or RateLimiter()
        self.daily = daily or DailyRequests(store)
        self._ttl = key_ttl_s
        self._clock = clock
        self._keys: OrderedDict[str, tuple[float, ApiKey | None]] = OrderedDict()
        self._has_keys: tuple[float, bool] | None = None
        self._used: dict[str, float] = {}
        self._touched_at = clock()

    async def authenticate(self, conn: HTTPConnection) -> Principal | None:
        read_tenant.set(None)  # nothing of an earlier request in the same task carries over
        raw = presented_key(conn)
        if raw is None:
            return None
        token = parse_token(raw)
        if token is None:
            self._fail(conn, "malformed key")
        conn.state.auth_key_id = token.key_id
        key = await self._key(token.key_id)
        if key is None:
            self._fail(conn, "unknown key")
        conn.state.auth_tenant = key.tenant_id
        if key.revoked:
            self._fail(conn, "revoked key")
        if not matches(token, key.secret_hash):
            self._fail(conn, "wrong secret")
        principal = Principal(
            tenant_id=key.tenant_id,
            role=key.role.value,
            key_id=key.key_id,
            all_tenants=key.tenant_id == DEFAULT_TENANT and key.role is Role.ADMIN,
        )
        conn.state.authenticated = principal
        limits = await self.limits.limits(key.tenant_id)
        self.rate.check(key.key_id, limits)
        await self.daily.hit(key.tenant_id, limits.requests_per_day)
        await self._touch(key.key_id)
        read_tenant.set(None if principal.all_tenants else principal.tenant_id)
        return principal

    async def has_keys(self) -> bool:
        now = self._clock()
        if self._has_keys is None or now - self._has_keys[0] >= self._ttl:
            self._has_keys = (now, await self.store.has_active_keys())
        return self._has_keys[1]

    def forget(self, key_id: str | None = None) -> None:
        """Drop cached keys (one, or all) after a change made through this process."""
        self._has_keys = None
        if key_id is None:
            self._keys.clear()
        else:
            self._keys.pop(key_id, None)
            self.rate.forget(key_id)

    async def close(self) -> None:
        """Write pending request counts and last-used times."""
        await self.daily.flush()
        used, self._used = self._used, {}
        await self.store.touch_keys(used)

    # -- internals -------------------------------------------------------------------------

    async def _key(self, key_id: str) -> ApiKey | None:
        now = self._clock()
        hit = self._keys.get(key_id)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        key = await asyncio.to_thread(self.store.get_key_sync, key_id)
        self._keys[key_id] = (now, key)
        self._keys.move_to_end(key_id)
        while len(self._keys) > 10_000:
            self._keys.popitem(last=False)
        return key

    async def _touch(self, key_id: str) -> None:
        self._used[key_id] = time.time()
        now = self._clock()
        if now - self._touched_at >= self.touch_interval_s:
            self._touched_at = now
            used, self._used = self._used, {}
            await self.store.touch_keys(used)

    @staticmethod
    def _fail(conn: HTTPConnection, reason: str) -> NoReturn:
        conn.state.auth_failure = reason
        raise Unauthorized(_INVALID)
