"""Through a running server: the response cache (deterministic requests reach the upstream
once, per tenant, across a restart), budget refusals in each API's format, and every call
recorded in the usage analytics and the metrics."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest
from openai import OpenAI

from nexus.budgets.policy import utc_day
from tests.gateway.conftest import Live, running_server

HI = [{"role": "user", "content": "hello cache"}]


def client(live: Live, token: str | None = None) -> OpenAI:
    return OpenAI(base_url=f"{live.url}/v1", api_key=token or live.token, max_retries=0)


def ask(live: Live, token: str | None = None, **kwargs: Any) -> Any:
    kwargs.setdefault("messages", HI)
    kwargs.setdefault("model", "fake:echo")
    return client(live, token).chat.completions.with_raw_response.create(**kwargs)


def test_a_repeated_deterministic_request_reaches_the_upstream_once(live: Live) -> None:
    first = ask(live, temperature=0)
    second = ask(live, temperature=0)
    assert len(live.upstream.requests) == 1
    assert (first.headers["x-nexus-cache"], second.headers["x-nexus-cache"]) == ("miss", "hit")
    assert second.parse().choices[0].message.content == "echo: hello cache"
    assert second.parse().usage.prompt_tokens == 12  # the answer's own usage is kept
    assert float(second.headers["x-nexus-cost-usd"]) == 0.0
    assert second.parse().id != first.parse().id

    ask(live, temperature=0, max_tokens=7)  # another request: another key
    assert len(live.upstream.requests) == 2
    stats = live.get("/api/gateway/status").json()["cache"]
    assert (stats["lookups"], stats["memory_hits"], stats["misses"]) == (3, 1, 2)
    assert stats["hit_rate"] == pytest.approx(1 / 3, abs=1e-6)
    metrics = live.get("/metrics").text
    assert 'nexus_response_cache_lookups_total{result="memory_hit"} 1.0' in metrics


def test_only_deterministic_or_opted_in_requests_are_cached(live: Live) -> None:
    assert ask(live).headers["x-nexus-cache"] == "off"
    assert ask(live, temperature=0.7).headers["x-nexus-cache"] == "off"
    assert ask(live, temperature=0.7).headers["x-nexus-cache"] == "off"
    assert len(live.upstream.requests) == 3
    opt_in = {"X-Nexus-Cache": "on"}
    assert ask(live, temperature=0.7, extra_headers=opt_in).headers["x-nexus-cache"] == "miss"
    assert ask(live, temperature=0.7, extra_headers=opt_in).headers["x-nexus-cache"] == "hit"
    bypass = {"X-Nexus-Cache": "off"}
    assert ask(live, temperature=0.7, extra_headers=bypass).headers["x-nexus-cache"] == "off"
    refresh = {"X-Nexus-Cache": "refresh"}
    assert ask(live, temperature=0.7, extra_headers=refresh).headers["x-nexus-cache"] == "miss"
    assert len(live.upstream.requests) == 6
    list(
        client(live).chat.completions.create(
            model="fake:echo", messages=HI, temperature=0, stream=True
        )
    )
    list(
        client(live).chat.completions.create(
            model="fake:echo", messages=HI, temperature=0, stream=True
        )
    )
    assert len(live.upstream.requests) == 8  # streams never come from the cache
    with pytest.raises(openai.BadRequestError):
        ask(live, extra_headers={"X-Nexus-Cache": "maybe"})


def test_tenants_do_not_share_cached_answers(live: Live) -> None:
    live.tenant("beta")
    beta = live.key("operator", tenant_id="beta")
    ask(live, temperature=0)
    assert ask(live, beta, temperature=0).headers["x-nexus-cache"] == "miss"
    assert ask(live, beta, temperature=0).headers["x-nexus-cache"] == "hit"
    assert len(live.upstream.requests) == 2


def test_the_anthropic_api_uses_the_cache_too(live: Live) -> None:
    api = anthropic.Anthropic(base_url=live.url, api_key=live.token, max_retries=0)
    for expected in ("miss", "hit"):
        raw = api.messages.with_raw_response.create(
            model="fake:echo",
            max_tokens=20,
            messages=HI,  # type: ignore[arg-type]
            extra_body={"temperature": 0},  # this SDK version no longer has the argument
        )
        assert raw.headers["x-nexus-cache"] == expected
        assert raw.parse().content[0].text == "echo: hello cache"  # type: ignore[union-attr]
    assert len(live.upstream.requests) == 1


def test_the_cache_persists_across_a_restart() -> None:
    with running_server() as live:
        ask(live, temperature=0)
        assert len(live.upstream.requests) == 1
    with running_server() as again:  # same NEXUS_HOME
        raw = ask(again, temperature=0)
        assert raw.headers["x-nexus-cache"] == "hit"
        assert again.upstream.requests == []
        stats = again.get("/api/gateway/status").json()["cache"]
        assert stats["persistent_hits"] == 1


def test_a_call_over_budget_is_refused_before_the_upstream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEXUS_BUDGET_TENANT_DAY_TOKENS", "200")
    with running_server() as live:
        small = ask(live, max_tokens=50)  # about 10 input + 50 output: within 200
        assert small.parse().choices[0].message.content == "echo: hello cache"
        ledger = live.nx.services.budgets.ledger
        spent = ledger.spent(f"tenant-day:default:{utc_day()}")
        assert (spent.tokens, spent.calls) == (17, 1)
        assert spent.usd == pytest.approx(0.001)

        with pytest.raises(openai.APIStatusError) as refused:
            ask(live)  # 4096 output tokens assumed without max_tokens
        assert refused.value.status_code == 402
        error = refused.value.body
        assert isinstance(error, dict)
        assert (error["type"], error["code"]) == ("insufficient_quota", "budget_exceeded")
        assert "tenant 'default' daily budget" in error["message"]

        api = anthropic.Anthropic(base_url=live.url, api_key=live.token, max_retries=0)
        with pytest.raises(anthropic.APIStatusError) as also:
            api.messages.create(model="fake:echo", max_tokens=4000, messages=HI)  # type: ignore[arg-type]
        assert also.value.status_code == 402
        body = also.value.body
        assert isinstance(body, dict) and body["error"]["type"] == "billing_error"

        with pytest.raises(openai.APIStatusError) as streamed:
            client(live).chat.completions.create(model="fake:echo", messages=HI, stream=True)
        assert streamed.value.status_code == 402
        assert len(live.upstream.requests) == 1
        assert ledger.open_reservations == 0


def wait_for_usage(live: Live, agent: str, steps: int) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        summary: dict[str, Any] = live.get("/api/usage/summary").json()
        found = summary["by_agent"].get(agent, {})
        if found.get("steps", 0) >= steps or time.monotonic() > deadline:
            return summary
        time.sleep(0.05)


def test_every_call_is_recorded_in_the_usage_analytics(live: Live) -> None:
    ask(live)
    list(
        client(live).chat.completions.create(
            model="fake:other", messages=HI, stream=True, stream_options={"include_usage": True}
        )
    )
    ask(live, temperature=0)
    ask(live, temperature=0)  # a cache hit: recorded, free
    api = anthropic.Anthropic(base_url=live.url, api_key=live.token, max_retries=0)
    api.messages.create(model="fake:echo", max_tokens=20, messages=HI)  # type: ignore[arg-type]
    summary = wait_for_usage(live, "gateway", 5)
    gateway = summary["by_agent"]["gateway"]
    assert gateway["steps"] == 5 and gateway["successes"] == 5
    assert gateway["input_tokens"] == 4 * 12  # the cache hit used no tokens
    assert gateway["output_tokens"] == 4 * 5
    assert gateway["cost_usd"] == pytest.approx(0.004)
    assert summary["by_model"]["fake:other"]["steps"] == 1
    assert summary["by_model"]["fake:echo"]["steps"] == 4
    assert summary["by_tenant"]["default"]["steps"] == 5

    rows = live.get("/api/usage?by=model&group_by=hour").json()["rows"]
    assert {r["key"] for r in rows} == {"fake:echo", "fake:other"}

    calls = live.app.state.call_log.read_sync()
    assert [(c.api, c.stream, c.cached) for c in calls] == [
        ("openai", False, False),
        ("openai", True, False),
        ("openai", False, False),
        ("openai", False, True),
        ("anthropic", False, False),
    ]
    assert all(c.key_id and c.latency_s > 0 for c in calls)
    metrics = live.get("/metrics").text
    assert 'nexus_gateway_requests_total{api="openai",outcome="ok"} 3.0' in metrics
    assert 'nexus_gateway_requests_total{api="openai",outcome="cached"} 1.0' in metrics
    assert 'nexus_model_calls_total{model="fake:echo"} 3.0' in metrics


def test_failed_calls_are_recorded_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEXUS_BUDGET_TENANT_DAY_TOKENS", "100")
    with running_server() as live:
        with pytest.raises(openai.APIStatusError):
            ask(live)
        live.tenant("beta")
        beta = live.key("operator", tenant_id="beta")
        ask(live, beta, max_tokens=10)
        deadline = time.monotonic() + 10
        while live.app.state.call_log.written < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        [refused] = live.app.state.call_log.read_sync(tenant_id="default")
        assert (refused.success, refused.error, refused.input_tokens) == (
            False,
            "budget_exceeded",
            0,
        )
        beta_summary = httpx.get(
            f"{live.url}/api/usage/summary", headers={"Authorization": f"Bearer {beta}"}
        ).json()
        assert set(beta_summary["by_tenant"]) == {"beta"}
        assert beta_summary["totals"]["steps"] == 1


def test_the_tenant_plan_caps_the_daily_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("version: 1\nmodels:\n  fake:priced: {input: 10.0, output: 10.0}\n")
    monkeypatch.setenv("NEXUS_PRICES", str(prices))
    with running_server() as live:
        reply = httpx.post(
            f"{live.url}/api/tenants",
            json={
                "tenant_id": "thrifty",
                "plan": "starter",
                "limits": {"budget_usd_per_day": 0.01},
            },
        )
        assert reply.status_code == 201, reply.text
        token = live.key("operator", tenant_id="thrifty")
        small = ask(live, token, model="fake:priced", max_tokens=100)  # about $0.001
        assert small.headers["x-nexus-model"] == "fake:priced"
        with pytest.raises(openai.APIStatusError) as refused:
            ask(live, token, model="fake:priced", max_tokens=4096)  # about $0.04
        assert refused.value.status_code == 402
        assert isinstance(refused.value.body, dict)
        assert "daily budget (" in refused.value.body["message"]
        assert "of $0.0100 would be exceeded" in refused.value.body["message"]
        assert ask(live, model="fake:priced", max_tokens=4096).status_code == 200  # other tenant
