"""Router decisions: rules before scoring, modes, hard constraints, decisions and reasons."""

from __future__ import annotations

import pytest

from nexus.errors import ConfigError, NotFoundError
from nexus.routing import NODES, Router, TaskFeatures
from nexus.routing.catalog import Catalog
from nexus.routing.router import NoRouteError

from .conftest import entry

CODE = TaskFeatures("code", 0.5, True, 2_000)
EASY_DOCS = TaskFeatures("docs", 0.1, False, 1_000)
HARD_DEBUG = TaskFeatures("debug", 0.9, True, 8_000)


def with_rules(catalog: Catalog, rules: list[dict[str, object]]) -> Catalog:
    return Catalog.from_mapping(
        {
            "models": {
                name: {
                    "quality": s.quality,
                    "context_window": s.context_window,
                    "ttft_s": s.ttft_s,
                    "tokens_per_s": s.tokens_per_s,
                    "capabilities": sorted(s.capabilities),
                    "price": {"input": s.price_input, "output": s.price_output},
                    "last_resort": s.last_resort,
                }
                for name, s in catalog.models.items()
            },
            "rules": rules,
        },
        "test",
    )


def test_cost_mode_picks_a_cheap_model_and_quality_mode_a_strong_one(
    three_models: Catalog,
) -> None:
    router = Router(three_models)
    for features in (CODE, EASY_DOCS, HARD_DEBUG):
        cost = router.decide(features, "developer", "cost")
        quality = router.decide(features, "developer", "quality")
        assert cost.model != "test:strong", features
        assert quality.model != "test:cheap", features
        cost_scores, quality_scores = cost.scores(), quality.scores()
        assert cost_scores["test:cheap"]["cost"] > cost_scores["test:strong"]["cost"]
        assert quality_scores["test:strong"]["quality"] > quality_scores["test:cheap"]["quality"]
    assert router.decide(HARD_DEBUG, "developer", "quality").model == "test:strong"
    assert router.decide(EASY_DOCS, "developer", "cost").model == "test:cheap"


def test_modes_move_the_choice_in_the_expected_direction_on_the_shipped_catalog(
    shipped: Catalog,
) -> None:
    router = Router(shipped)
    price = {n: s.cost_usd(30_000, 3_000) for n, s in shipped.models.items()}
    quality = {n: s.quality for n, s in shipped.models.items()}
    for features in (CODE, EASY_DOCS, HARD_DEBUG):
        picks = {m: router.decide(features, "developer", m).model for m in ("cost", "quality")}
        picks["speed"] = router.decide(features, "developer", "speed").model
        picks["balance"] = router.decide(features, "developer", "balance").model
        assert price[picks["cost"]] <= price[picks["quality"]], (features, picks)
        assert quality[picks["quality"]] >= quality[picks["cost"]], (features, picks)
        assert quality[picks["quality"]] >= 0.85, picks
        assert price[picks["cost"]] <= 0.02, picks
        speeds = sorted(s["speed"] for s in router.decide(features).scores().values())
        speed_pick = router.decide(features, "developer", "speed").scores()[picks["speed"]]
        assert speed_pick["speed"] >= speeds[len(speeds) // 2], picks  # a faster half model


def test_rules_beat_scoring(three_models: Catalog) -> None:
    catalog = with_rules(
        three_models,
        [
            {
                "name": "hard-debugging",
                "if": {"task_type": "debug", "complexity": ">=0.8"},
                "model": "test:strong",
                "reason": "hard bugs need the strongest model",
            }
        ],
    )
    router = Router(catalog)
    decision = router.decide(HARD_DEBUG, "developer", "cost")
    best_by_score = max(decision.scores().items(), key=lambda kv: kv[1]["total"])[0]
    assert best_by_score != "test:strong"  # scoring alone would pick another model
    assert decision.model == "test:strong"
    assert decision.rule == "hard-debugging"
    assert decision.reason == "rule hard-debugging: hard bugs need the strongest model"
    # the rule does not fire for easier debugging
    assert router.decide(TaskFeatures("debug", 0.5, True, 2_000), "dev", "cost").rule is None


def test_a_rule_whose_model_cannot_take_the_request_is_skipped(three_models: Catalog) -> None:
    catalog = with_rules(
        three_models,
        [
            {"name": "first", "if": {"role": "developer"}, "model": "test:cheap"},
            {"name": "second", "if": {"role": "developer"}, "model": "test:mid"},
        ],
    )
    router = Router(catalog)
    decision = router.decide(CODE, "developer", "balance", ("test:strong", "test:mid"))
    assert decision.rule == "second"
    assert decision.model == "test:mid"
    assert router.decide(CODE, "reviewer", "balance").rule is None


def test_context_window_and_tools_are_hard_constraints() -> None:
    catalog = Catalog.from_mapping(
        {
            "models": {
                "t:small-window": entry(0.99, 0.0, 0.0, context_window=8_000),
                "t:no-tools": entry(0.99, 0.0, 0.0, capabilities=["streaming"]),
                "t:fallback": entry(0.3, 50.0, 50.0, context_window=1_000_000),
            }
        },
        "t",
    )
    router = Router(catalog)
    big = TaskFeatures("code", 0.5, False, 50_000)
    decision = router.decide(big, "dev", "quality")
    assert decision.model != "t:small-window"
    excluded = dict(decision.plan.excluded)
    assert excluded["t:small-window"] == "context 50000 tokens > window 8000"
    tools = TaskFeatures("code", 0.5, True, 1_000)
    assert router.decide(tools, "dev", "quality").model == "t:small-window"
    both = TaskFeatures("code", 0.5, True, 50_000)
    assert router.decide(both, "dev", "quality").model == "t:fallback"
    with pytest.raises(NoRouteError, match="no candidate model can take this request"):
        router.decide(TaskFeatures("code", 0.5, True, 2_000_000), "dev", "quality")


def test_last_resort_models_only_when_nothing_else_fits(shipped: Catalog) -> None:
    router = Router(shipped)
    assert router.decide(CODE).model != "offline:replay"
    only = router.decide(CODE, candidates=("offline:replay",))
    assert only.model == "offline:replay"
    assert "the only candidate" in only.reason


def test_decision_explains_itself(shipped: Catalog) -> None:
    router = Router(shipped)
    decision = router.decide(CODE, "developer", "balance")
    scores = decision.scores()
    assert set(scores) == set(decision.plan.candidates)
    for node_scores in scores.values():
        assert list(node_scores) == [*NODES, "total"]
    best = max(scores.values(), key=lambda s: s["total"])
    assert scores[decision.model] == best
    assert decision.reason.startswith(f"balance mode: {decision.model} scored")
    assert "no outcomes yet, catalog priors" in decision.reason
    meta = decision.route_meta()
    assert meta["model"] == decision.model and meta["decision_id"] == decision.id
    assert (meta["role"], meta["mode"], meta["task_type"]) == ("developer", "balance", "code")
    assert decision.to_dict()["excluded"] == [
        {"model": "offline:replay", "why": "last resort only"}
    ]


def test_repeated_decisions_share_a_plan_until_an_outcome(three_models: Catalog) -> None:
    router = Router(three_models)
    first = router.decide(CODE, "developer")
    second = router.decide(CODE, "developer")
    assert second.id == first.id + 1
    assert second.plan is first.plan
    router.record_outcome(first, True, 0.01, 5.0)
    third = router.decide(CODE, "developer")
    assert third.plan is not first.plan
    assert router.decide(CODE, "reviewer").plan is not third.plan  # per role


def test_recent_decisions_are_found_by_id(three_models: Catalog) -> None:
    router = Router(three_models)
    decision = router.decide(CODE)
    assert router.decision(decision.id) is decision
    assert router.decision(decision.id + 1) is None
    router.record_outcome(decision.id, True, 0.01, 3.0)
    assert decision.recorded
    arm = router.record_outcome(decision.id, True, 0.01, 3.0)  # counted once
    assert arm.n == 1
    with pytest.raises(NotFoundError, match="by \\(role, task_type, model\\)"):
        router.record_outcome(10_000, True, 0.0, 0.0)


def test_bad_inputs_are_named(three_models: Catalog) -> None:
    router = Router(three_models)
    with pytest.raises(ConfigError, match="unknown priority mode 'fast'"):
        router.decide(CODE, mode="fast")
    with pytest.raises(ConfigError, match="'test:nope' is not in the router catalog"):
        router.decide(CODE, candidates=("test:nope",))
    with pytest.raises(ConfigError, match="not in the router catalog"):
        router.record_outcome(("dev", "code", "test:nope"), True, 0.0, 0.0)
    with pytest.raises(ValueError, match="cannot be negative"):
        router.record_outcome(("dev", "code", "test:mid"), True, -1.0, 0.0)
    with pytest.raises(ValueError, match=r"confidence must be within 0\.\.1"):
        router.record_outcome(("dev", "code", "test:mid"), True, 0.0, 0.0, confidence=2.0)
    with pytest.raises(ConfigError, match="unknown router strategy 'greedy'"):
        Router(three_models, strategy="greedy")


def test_explain_lists_every_candidate_with_its_nodes(shipped: Catalog) -> None:
    router = Router(shipped)
    report = router.explain(
        "Fix the failing test in slugify.py: TypeError on None", "developer", "cost"
    )
    assert report["features"]["task_type"] == "debug"
    assert report["rule"] is None
    assert report["weights"]["cost"] == 0.45
    rows = report["candidates"]
    assert len(rows) == 10 and rows[0]["model"] == report["model"]
    totals = [r["total"] for r in rows]
    assert totals == sorted(totals, reverse=True)
    assert all(set(NODES) <= set(r) for r in rows)
    assert report["excluded"] == [{"model": "offline:replay", "why": "last resort only"}]


def test_thompson_explain_reports_the_share_of_draws(shipped: Catalog) -> None:
    router = Router(shipped, strategy="thompson", seed=3)
    report = router.explain("Implement a CSV parser", "developer", "balance")
    shares = [r["thompson_share"] for r in report["candidates"]]
    assert sum(shares) == pytest.approx(1.0, abs=1e-3)
    assert report["strategy"] == "thompson"
