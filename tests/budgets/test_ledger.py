"""The ledger: atomic reservations, settle and release, limits with clear refusals, and
spend that survives a restart."""

from __future__ import annotations

import calendar
from pathlib import Path

import pytest

from nexus.budgets import (
    BudgetExceeded,
    BudgetLedger,
    BudgetPolicy,
    Limit,
    MemorySpendLog,
    SqliteSpendLog,
    Totals,
)
from tests.budgets.helpers import run_scopes


def test_reserve_holds_the_estimate_and_settle_replaces_it() -> None:
    ledger = BudgetLedger()
    scopes = run_scopes(usd=1.0)
    reservation = ledger.reserve(scopes, 0.30, 3000)

    for scope in scopes:
        state = ledger.state(scope.key)
        assert (state.reserved_usd, state.reserved_tokens) == (0.30, 3000)
        assert (state.spent.usd, state.spent.tokens, state.spent.calls) == (0.0, 0, 1)

    ledger.settle(reservation, 0.12, 1400)
    state = ledger.state("run:r")
    assert (state.reserved_usd, state.reserved_tokens) == (0.0, 0)
    assert state.spent == Totals(0.12, 1400, 1)
    assert ledger.open_reservations == 0

    ledger.settle(reservation, 5.0, 99)  # a second settle is a no-op
    ledger.release(reservation)
    assert ledger.spent("run:r") == Totals(0.12, 1400, 1)


def test_release_frees_the_reservation_but_counts_the_call() -> None:
    ledger = BudgetLedger()
    scopes = run_scopes(usd=0.5)
    reservation = ledger.reserve(scopes, 0.4, 100)
    with pytest.raises(BudgetExceeded):
        ledger.reserve(scopes, 0.2, 100)  # 0.4 held + 0.2 > 0.5
    ledger.release(reservation)
    assert ledger.spent("run:r") == Totals(0.0, 0, 1)
    ledger.reserve(scopes, 0.2, 100)  # fits again


def test_refusal_names_the_budget_its_limit_spent_reserved_and_need() -> None:
    ledger = BudgetLedger()
    scopes = run_scopes(usd=0.10)
    first = ledger.reserve(scopes, 0.05, 10)
    ledger.settle(first, 0.04, 10)
    ledger.reserve(scopes, 0.03, 10)  # in flight

    with pytest.raises(BudgetExceeded) as refused:
        ledger.reserve(scopes, 0.05, 10)

    error = refused.value
    assert error.code == "budget_exceeded" and error.retryable is False
    assert error.message == (
        "run 'r' budget of $0.1000 would be exceeded: spent $0.0400, reserved $0.0300 by"
        " calls in flight, and this call needs an estimated $0.0500"
    )
    assert error.details == {
        "scope": "run",
        "key": "run:r",
        "unit": "usd",
        "limit": 0.10,
        "spent": 0.04,
        "reserved": 0.03,
        "needed": 0.05,
    }
    # nothing was reserved by the refused call, on any scope
    assert ledger.state("run:r").reserved_usd == pytest.approx(0.03)
    assert ledger.state("tenant:t").reserved_usd == pytest.approx(0.03)
    assert ledger.state("run:r").spent.calls == 2


def test_every_scope_is_checked_and_the_narrowest_that_breaks_is_named() -> None:
    policy = BudgetPolicy(
        tenant_day=Limit(usd=10.0),
        tenant=Limit(usd=100.0),
        run=Limit(usd=5.0),
        agent=Limit(tokens=1000),
    )
    ledger = BudgetLedger()
    scopes = policy.scopes(
        tenant_id="acme",
        run_id="r1",
        agent_id="code",
        now=calendar.timegm((2025, 3, 4, 12, 0, 0)),
    )
    assert [s.key for s in scopes] == [
        "tenant-day:acme:2025-03-04",
        "tenant:acme",
        "run:r1",
        "agent:r1:code",
    ]
    ledger.settle(ledger.reserve(scopes, 0.01, 900), 0.01, 900)
    with pytest.raises(BudgetExceeded) as refused:
        ledger.reserve(scopes, 0.01, 200)
    assert refused.value.details["scope"] == "agent"
    assert refused.value.details["unit"] == "tokens"
    assert refused.value.message.startswith(
        "agent 'code' budget in run 'r1' of 1000 tokens would be exceeded: spent 900,"
    )
    # another agent of the same run has its own token budget
    other = policy.scopes(tenant_id="acme", run_id="r1", agent_id="beta")
    ledger.reserve(other, 0.01, 200)


def test_plan_and_agent_budgets_replace_the_defaults_field_by_field() -> None:
    policy = BudgetPolicy(run=Limit(usd=1.0, tokens=50_000), agent=Limit(usd=0.5))
    scopes = policy.scopes(
        tenant_id="t",
        run_id="r",
        agent_id="a",
        run_budget=Limit(usd=0.2),
        agent_budget=Limit(tokens=10),
    )
    limits = {s.kind: s.limit for s in scopes}
    assert limits["run"] == Limit(usd=0.2, tokens=50_000, calls=200)
    assert limits["agent"] == Limit(usd=0.5, tokens=10)
    assert limits["tenant"].unlimited and limits["tenant_day"].unlimited


def test_calls_per_run_are_capped() -> None:
    ledger = BudgetLedger()
    scopes = BudgetPolicy(max_calls_per_run=3).scopes(tenant_id="t", run_id="r", agent_id="a")
    for _ in range(3):
        ledger.release(ledger.reserve(scopes, 0.0, 0))
    with pytest.raises(BudgetExceeded) as refused:
        ledger.reserve(scopes, 0.0, 0)
    assert refused.value.details["unit"] == "calls"
    assert refused.value.message == (
        "run 'r' budget allows 3 model calls and 3 were made; this call is refused"
    )


def test_spend_survives_a_new_ledger_on_the_same_log(tmp_path: Path) -> None:
    path = tmp_path / "budgets.db"
    day = calendar.timegm((2025, 3, 4, 12, 0, 0))
    policy = BudgetPolicy(tenant_day=Limit(usd=1.0), run=Limit(usd=0.8))
    scopes = policy.scopes(tenant_id="acme", run_id="r1", agent_id="code", now=day)

    first = BudgetLedger(SqliteSpendLog(path))
    first.settle(first.reserve(scopes, 0.5, 1000), 0.45, 900)
    first.spend_log.close()

    again = BudgetLedger(SqliteSpendLog(path))  # a restarted process
    assert again.spent("tenant-day:acme:2025-03-04") == Totals(0.45, 900, 1)
    assert again.spent("run:r1") == Totals(0.45, 900, 1)
    with pytest.raises(BudgetExceeded) as refused:  # 0.45 + 0.6 > 1.0 for the day
        again.reserve(scopes, 0.6, 10)
    assert refused.value.details["scope"] == "tenant_day"
    assert "spent $0.4500" in refused.value.message

    # the run continues on a new day: the daily budget is fresh, the run's is not
    tomorrow = policy.scopes(tenant_id="acme", run_id="r1", agent_id="code", now=day + 86_400)
    with pytest.raises(BudgetExceeded) as refused:
        again.reserve(tomorrow, 0.4, 10)
    assert refused.value.details["scope"] == "run"
    again.settle(again.reserve(tomorrow, 0.3, 10), 0.3, 10)
    assert again.spent("tenant-day:acme:2025-03-05") == Totals(0.3, 10, 1)


def test_sqlite_log_adds_from_several_writers(tmp_path: Path) -> None:
    path = tmp_path / "budgets.db"
    one, two = SqliteSpendLog(path), SqliteSpendLog(path)
    one.add(["tenant:t", "run:a"], Totals(0.25, 100, 1))
    two.add(["tenant:t", "run:b"], Totals(0.5, 10, 1))
    assert one.load("tenant:t") == Totals(0.75, 110, 2)
    assert two.load("run:a") == Totals(0.25, 100, 1)
    assert one.load("unknown") == Totals()


def test_forget_drops_idle_scopes_and_reloads_them_from_the_log() -> None:
    log = MemorySpendLog()
    ledger = BudgetLedger(log)
    scopes = run_scopes(usd=1.0)
    ledger.settle(ledger.reserve(scopes, 0.1, 10), 0.1, 10)
    held = ledger.reserve(run_scopes(usd=1.0), 0.2, 10)
    assert ledger.forget("run:", "agent:r:") == 0  # reservations in flight: kept
    ledger.settle(held, 0.2, 10)
    assert ledger.forget("run:", "agent:r:") == 2
    assert ledger.spent("run:r") == Totals(pytest.approx(0.3), 20, 2)
