"""The small parts: tokens, roles, plans, token buckets, day boundaries, --since."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from nexus.errors import ConfigError, NotFoundError
from nexus.tenancy import PLAN_LIMITS, PlanName, Role, Tenant, check_agents, limits_for
from nexus.tenancy.audit import parse_since
from nexus.tenancy.errors import QuotaExceeded, RateLimited
from nexus.tenancy.keys import matches, new_token, parse_token
from nexus.tenancy.limits import RateLimiter, TenantLimits, seconds_to_midnight, use_limits
from nexus.tenancy.models import PlanLimits, check_overrides, check_tenant_id
from nexus.tenancy.store import TenancyStore


def test_tokens_round_trip_and_junk_is_refused() -> None:
    token = new_token()
    text = str(token)
    assert parse_token(text) == token and parse_token(f"  {text}\n") == token
    assert token.secret not in repr(token)
    assert matches(token, token.digest)
    assert not matches(new_token(), token.digest)
    for junk in ("", "nx_", "nx_abc_def", text.upper(), text[:-1], text + "x", "sk_" + text[3:]):
        assert parse_token(junk) is None, junk
    assert len({str(new_token()) for _ in range(100)}) == 100


def test_roles_include_the_ones_below() -> None:
    assert Role.ADMIN.allows("operator") and Role.ADMIN.allows(Role.VIEWER)
    assert Role.OPERATOR.allows("viewer") and not Role.OPERATOR.allows("admin")
    assert not Role.VIEWER.allows("operator")


def test_plans_grow_and_overrides_replace_single_limits() -> None:
    starter, pro, ent = (PLAN_LIMITS[p] for p in PlanName)
    for field in ("max_agents", "requests_per_day", "budget_usd_per_day", "rate_per_s", "burst"):
        assert getattr(starter, field) < getattr(pro, field) < getattr(ent, field)
    tenant = Tenant("acme", "Acme", PlanName.PROFESSIONAL, overrides={"burst": 7})
    assert tenant.limits() == PlanLimits(25, 100_000, 100.0, 20.0, 7)
    assert check_overrides({"rate_per_s": 2, "burst": 3.0, "max_agents": None}) == {
        "rate_per_s": 2.0,
        "burst": 3,
    }
    with pytest.raises(ConfigError, match="unknown plan limit 'agents'"):
        check_overrides({"agents": 3})
    with pytest.raises(ConfigError, match="'burst' must be a whole number"):
        check_overrides({"burst": 2.5})
    with pytest.raises(ConfigError, match="positive"):
        check_overrides({"rate_per_s": 0})
    assert check_tenant_id("team-7") == "team-7"
    for bad in ("", "-x", "Upper", "a" * 41, "a b", "a_b"):
        with pytest.raises(ConfigError):
            check_tenant_id(bad)


def test_token_bucket_allows_bursts_then_the_rate() -> None:
    now = [100.0]
    limiter = RateLimiter(clock=lambda: now[0])
    limits = PlanLimits(1, 1, 1.0, rate_per_s=2.0, burst=3)
    for _ in range(3):
        limiter.check("k", limits)
    with pytest.raises(RateLimited) as refused:
        limiter.check("k", limits)
    assert refused.value.retry_after == 1 and refused.value.headers == {"Retry-After": "1"}
    now[0] += 0.5  # one token back at 2/s
    limiter.check("k", limits)
    with pytest.raises(RateLimited):
        limiter.check("k", limits)
    now[0] += 10  # refills to the burst, not beyond
    for _ in range(3):
        limiter.check("k", limits)
    with pytest.raises(RateLimited):
        limiter.check("k", limits)
    limiter.check("other", limits)  # per key


def test_day_boundaries_are_utc() -> None:
    noon = datetime(2025, 3, 1, 12, 0, tzinfo=UTC).timestamp()
    assert seconds_to_midnight(noon) == 12 * 3600
    assert seconds_to_midnight(noon + 12 * 3600 - 0.2) == 1
    assert seconds_to_midnight(datetime(2025, 3, 2, tzinfo=UTC).timestamp()) == 86_400


def test_since_takes_dates_times_and_durations() -> None:
    assert parse_since(None) is None and parse_since("  ") is None
    assert parse_since("2025-01-31") == datetime(2025, 1, 31, tzinfo=UTC).timestamp()
    assert parse_since("2025-01-31T12:00:00Z") == datetime(2025, 1, 31, 12, tzinfo=UTC).timestamp()
    hour_ago = parse_since("1h")
    assert hour_ago is not None
    assert abs(datetime.now(UTC).timestamp() - 3600 - hour_ago) < 5
    with pytest.raises(ConfigError, match="neither an ISO"):
        parse_since("last week")


async def test_limits_for_the_budget_code() -> None:
    store = TenancyStore("memory://")
    await store.open()
    try:
        assert await limits_for("acme") is None  # no tenancy in this process
        await store.create_tenant("acme", None, "starter", {"max_agents": 2})
        use_limits(TenantLimits(store))
        limits = await limits_for("acme")
        assert limits is not None and limits.max_agents == 2
        assert limits.budget_usd_per_day == PLAN_LIMITS[PlanName.STARTER].budget_usd_per_day
        await check_agents("acme", 1)
        with pytest.raises(QuotaExceeded, match="runs 2 agents, the most its plan allows"):
            await check_agents("acme", 2)
        with pytest.raises(NotFoundError):
            await limits_for("nobody")
    finally:
        use_limits(None)
        await store.close()


def test_keys_are_masked_wherever_text_is_redacted() -> None:
    from nexus.observability.logging import redact

    token = str(new_token())
    assert redact(f"my key is {token}, keep it") == "my key is ***, keep it"
    assert token not in redact({"message": f"use {token}"})["message"]
