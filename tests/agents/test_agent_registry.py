"""The agent registry: lookup, live status, outcomes."""

from __future__ import annotations

import pytest

from nexus.agents.registry import AgentOutcome, AgentRegistry, AgentStatus
from nexus.errors import NotFoundError


def test_get_and_ids() -> None:
    registry = AgentRegistry.from_team()
    assert registry.ids() == ["prime", "aria", "code", "alpha", "beta"]
    assert registry.get("code").name == "Code"
    assert "beta" in registry and "zed" not in registry
    with pytest.raises(NotFoundError) as info:
        registry.get("zed")
    assert info.value.message == (
        "unknown agent 'zed'; known agents: prime, aria, code, alpha, beta"
    )


def test_live_status_follows_steps_and_notifies() -> None:
    registry = AgentRegistry.from_team()
    seen: list[tuple[str, str, str | None]] = []

    def listener(status: AgentStatus) -> None:
        seen.append((status.agent_id, status.state, status.current_step))

    unsubscribe = registry.subscribe(listener)
    registry.mark_processing("code", "r1", "implement")
    registry.mark_processing("code", "r2", "validate[1]/fix")
    assert registry.status_of("code").steps == ["r1/implement", "r2/validate[1]/fix"]
    registry.mark_done("code", "r2", "validate[1]/fix", error="boom")
    assert registry.status_of("code").state == "processing"  # still busy with r1
    registry.mark_done("code", "r1", "implement")
    assert registry.status_of("code").state == "idle"
    assert registry.status_of("code").last_error == "boom"
    registry.mark_processing("beta", "r1", "test")
    registry.mark_done("beta", "r1", "test", error="did not finish")
    assert registry.status_of("beta").state == "error"
    unsubscribe()
    registry.mark_processing("aria", "r1", "analyse")
    assert seen == [
        ("code", "processing", "r1/implement"),
        ("code", "processing", "r2/validate[1]/fix"),
        ("code", "processing", "r1/implement"),
        ("code", "idle", None),
        ("beta", "processing", "r1/test"),
        ("beta", "error", None),
    ]


def test_outcomes_and_stats_with_a_sink() -> None:
    recorded: list[AgentOutcome] = []

    class Sink:
        def record(self, outcome: AgentOutcome) -> None:
            recorded.append(outcome)

    registry = AgentRegistry.from_team()
    registry.sink = Sink()
    registry.record_outcome(AgentOutcome("code", True, 0.9, latency_s=2.0, cost_usd=0.03))
    registry.record_outcome(AgentOutcome("code", True, 0.7, latency_s=4.0, cost_usd=0.01))
    registry.record_outcome(AgentOutcome("code", False, None, latency_s=3.0, cost_usd=0.02))
    stats = registry.stats("code")
    assert (stats.steps, stats.successes) == (3, 2)
    assert stats.success_rate == pytest.approx(2 / 3)
    assert stats.mean_confidence == pytest.approx(0.8)
    assert stats.mean_latency_s == pytest.approx(3.0)
    assert stats.total_cost_usd == pytest.approx(0.06)
    assert len(recorded) == 3
    assert registry.stats("beta").success_rate is None

    registry.load_outcomes([AgentOutcome("beta", True, 1.0)])
    assert registry.stats("beta").steps == 1 and len(recorded) == 3  # loading skips the sink

    rows = {row["id"]: row for row in registry.status()}
    assert rows["code"]["stats"]["steps"] == 3
    assert rows["code"]["status"]["state"] == "idle"
    assert rows["aria"]["role"] == "coordinator"
