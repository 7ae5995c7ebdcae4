"""Rate limits per key, daily request quotas per tenant, request size limits, and validation
errors that name the field."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from nexus.tenancy.errors import QuotaExceeded
from nexus.tenancy.limits import DailyRequests, utc_day
from tests.tenancy.conftest import World


async def _tenant_with_key(world: World, tenant: str, **limits: float) -> str:
    await world.tenancy.store.create_tenant(tenant, None, "starter", limits)
    _, token = await world.tenancy.store.create_key(tenant, "operator", "limited")
    world.keys[tenant] = token
    return token


async def test_a_key_over_its_rate_gets_429_with_retry_after(world: World) -> None:
    await _tenant_with_key(world, "gamma", rate_per_s=0.5, burst=3)
    statuses = [(await world.call("gamma", "GET", "/api/runs")).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    refused = await world.call("gamma", "GET", "/api/runs")
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == "2"  # one token at 0.5/s
    error = refused.json()["error"]
    assert error["code"] == "rate_limited"
    assert error["details"] == {"retry_after": 2, "limit_per_s": 0.5}
    # the bucket is per key: another key of the same tenant is not held back
    _, other = await world.tenancy.store.create_key("gamma", "viewer", "second")
    assert (await world.client.get("/api/runs", headers={"X-API-Key": other})).status_code == 200


async def test_a_tenant_over_its_daily_requests_gets_429_until_midnight(world: World) -> None:
    await _tenant_with_key(world, "delta", requests_per_day=5)
    for _ in range(5):
        assert (await world.call("delta", "GET", "/api/runs")).status_code == 200
    refused = await world.call("delta", "GET", "/api/runs")
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "quota_exceeded"
    assert 1 <= int(refused.headers["retry-after"]) <= 86_400
    # other tenants are not affected, and the count is in the database
    assert (await world.call("a_viewer", "GET", "/api/runs")).status_code == 200
    await world.tenancy.authenticator.daily.flush()
    assert await world.tenancy.store.request_count("delta", utc_day(time.time())) == 5


async def test_daily_quota_is_shared_by_server_processes(world: World) -> None:
    """Two counters on one database stand for two server processes."""
    store = world.tenancy.store
    await store.create_tenant("eps", None, "starter")
    clock = [1_800_000_000.0]
    first, second = (DailyRequests(store, clock=lambda: clock[0]) for _ in range(2))
    for counter in (first, second):
        counter.flush_every = 1  # every request reaches the database at once
    assert [await first.hit("eps", 5) for _ in range(3)] == [1, 2, 3]
    assert [await second.hit("eps", 5) for _ in range(2)] == [4, 5]
    with pytest.raises(QuotaExceeded):
        await second.hit("eps", 5)
    clock[0] += 2  # the first learns the others' count when it next flushes
    with pytest.raises(QuotaExceeded) as refused:
        await first.hit("eps", 5)
    assert refused.value.retry_after > 0


async def test_request_bodies_over_one_mebibyte_get_413(world: World) -> None:
    big = b'{"task": "' + b"x" * (1 << 20) + b'"}'
    response = await world.call(
        "a_operator",
        "POST",
        "/api/runs",
        content=big,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "request_too_large"
    assert error["details"] == {"limit_bytes": 1 << 20}

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
        yield b'{"task": "'
        for _ in range(20):
            yield b"y" * 65_536
        yield b'"}'

    streamed = await world.call(
        "a_operator", "POST", "/api/runs", content=chunks(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    assert streamed.status_code == 413
    assert "more than" in streamed.json()["error"]["message"]
    # a body under the limit goes through to validation
    fine = await world.call("a_operator", "POST", "/api/runs", json={"task": 5})
    assert fine.status_code == 422


async def test_validation_errors_name_the_field(world: World) -> None:
    bad = await world.call("a_operator", "POST", "/api/runs", json={"inputs": 5, "extra": 1})
    assert bad.status_code == 422
    fields = {f["field"] for f in bad.json()["error"]["details"]["fields"]}
    assert fields == {"body.inputs", "body.extra"}
    tenant = await world.call("root", "POST", "/api/tenants", json={"tenant_id": "Not Valid"})
    assert tenant.status_code == 422, tenant.text
    error = tenant.json()["error"]
    assert [f["field"] for f in error["details"]["fields"]] == ["body.tenant_id"]
    assert "body.tenant_id" in error["message"]
    limit = await world.call(
        "root", "POST", "/api/tenants", json={"tenant_id": "ok", "limits": {"burst": 0}}
    )
    assert [f["field"] for f in limit.json()["error"]["details"]["fields"]] == ["body.limits.burst"]
    query = await world.call("a_viewer", "GET", "/api/runs", params={"limit": 0})
    assert [f["field"] for f in query.json()["error"]["details"]["fields"]] == ["query.limit"]


async def test_the_model_gateway_takes_long_conversations(world: World) -> None:
    """/v1/… bodies (whole conversations) may reach 32 MiB; the REST API keeps 1 MiB."""
    long = b'{"model": "nope:x", "max_tokens": 5, "messages": [{"role": "user", "content": "'
    long += b"x" * (2 << 20) + b'"}]}'
    response = await world.call(
        "a_operator",
        "POST",
        "/v1/messages",
        content=long,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code != 413  # it reaches the gateway (which answers for the model)
    huge = b'{"messages": "' + b"x" * ((32 << 20) + 1) + b'"}'
    response = await world.call(
        "a_operator",
        "POST",
        "/v1/messages",
        content=huge,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["details"] == {"limit_bytes": 32 << 20}
