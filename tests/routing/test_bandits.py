"""Learning from verified outcomes: rewards, UCB1, Thompson, and convergence on a stream."""

from __future__ import annotations

import math
import random

import pytest

from nexus.routing import Router, TaskFeatures
from nexus.routing.bandits import UCB1, Bandit, Thompson, cost_factor, reward
from nexus.routing.catalog import Catalog

from .conftest import entry

#: hidden truth: success rate and cost per step. Per dollar, "good-cheap" is best.
HIDDEN = {
    "t:dear-best": (0.95, 0.20),
    "t:flaky-cheap": (0.55, 0.01),
    "t:good-cheap": (0.85, 0.01),
}


@pytest.fixture
def lookalikes() -> Catalog:
    """Three models the catalog cannot tell apart: same priors, same listed price."""
    return Catalog.from_mapping(
        {"models": {name: entry(0.8, 1.0, 4.0) for name in HIDDEN}}, "lookalikes"
    )


def test_reward_is_verified_success_per_dollar() -> None:
    assert reward(False, 0.0, 0.1) == 0.0
    assert reward(True, 0.0, 0.1) == 1.0
    assert reward(True, 0.1, 0.1) == 0.5
    assert reward(True, 0.3, 0.1) == pytest.approx(0.25)
    assert cost_factor(-1.0, 0.1) == 1.0


def test_ucb1_bonus_shrinks_with_outcomes() -> None:
    bandit = UCB1(explore=0.5)
    counts = [50 + 2.0, 0 + 2.0]  # outcomes plus the prior's weight
    values = bandit.values([0.8, 0.8], [0.0, 0.0], counts, 0.1)
    assert values[1] > values[0]  # same mean, the untried arm gets the larger bonus
    assert values[0] == pytest.approx(0.8 + 0.5 * math.sqrt(2 * math.log(54) / 52))
    assert Bandit().bonuses(counts) == [0.0, 0.0]


def test_thompson_draws_spread_with_uncertainty() -> None:
    bandit = Thompson(pool_size=64)
    rng = random.Random(1)
    normals = [bandit.normals(rng), bandit.normals(rng)]
    columns = bandit.draws([0.7, 0.7], [0.0, 0.0], [1002.0, 2.0], 0.1, normals)
    spread = [max(c) - min(c) for c in columns]
    assert spread[1] > 5 * spread[0]
    assert all(0.0 <= v <= 1.0 for c in columns for v in c)
    with pytest.raises(ValueError, match="power of two"):
        Thompson(pool_size=48)


@pytest.mark.parametrize("strategy", ["ucb1", "thompson"])
def test_bandits_converge_to_the_best_model_per_dollar(lookalikes: Catalog, strategy: str) -> None:
    router = Router(lookalikes, strategy=strategy, seed=11)
    outcomes = random.Random(5)
    picks: list[str] = []
    for i in range(600):
        features = TaskFeatures("code", 0.5, True, 1_000 + i)
        decision = router.decide(features, "developer", "balance")
        p, cost = HIDDEN[decision.model]
        router.record_outcome(
            decision, outcomes.random() < p, cost * outcomes.uniform(0.8, 1.2), 5.0
        )
        picks.append(decision.model)
    last = picks[-200:]
    assert last.count("t:good-cheap") / len(last) >= 0.85, {m: last.count(m) for m in HIDDEN}
    # it did try the others, and learned their price
    assert all(picks.count(m) >= 1 for m in HIDDEN)
    report = router.explain(TaskFeatures("code", 0.5, True, 5_000), "developer", "balance")
    by_model = {row["model"]: row for row in report["candidates"]}
    assert by_model["t:good-cheap"]["cost"] > by_model["t:dear-best"]["cost"]
    assert by_model["t:good-cheap"]["quality"] > by_model["t:flaky-cheap"]["quality"]
    assert "learned from" in report["reason"]


def test_quality_mode_pays_for_the_best_model_when_the_gap_is_worth_it(
    lookalikes: Catalog,
) -> None:
    hidden = {
        "t:dear-best": (0.97, 0.05),
        "t:flaky-cheap": (0.5, 0.01),
        "t:good-cheap": (0.7, 0.01),
    }
    router = Router(lookalikes, seed=2)
    outcomes = random.Random(9)
    picks = []
    for i in range(500):
        decision = router.decide(TaskFeatures("code", 0.5, True, i), "developer", "quality")
        p, cost = hidden[decision.model]
        router.record_outcome(decision, outcomes.random() < p, cost, 5.0)
        picks.append(decision.model)
    assert picks[-150:].count("t:dear-best") / 150 >= 0.85


def test_outcomes_learned_per_role_and_task_type(lookalikes: Catalog) -> None:
    router = Router(lookalikes, seed=1)
    for _ in range(30):
        router.record_outcome(("tester", "test", "t:flaky-cheap"), True, 0.001, 1.0)
        router.record_outcome(("tester", "test", "t:good-cheap"), False, 0.001, 1.0)
    features = TaskFeatures("test", 0.5, True, 500)
    assert router.decide(features, "tester", "balance").model == "t:flaky-cheap"
    rows = router.arms("tester")
    assert {(r["model"], r["n"], r["successes"]) for r in rows} == {
        ("t:flaky-cheap", 30.0, 30.0),
        ("t:good-cheap", 30.0, 0.0),
    }
    assert rows[0]["proven"] is True
    # another role has learned nothing: the priors decide, all three tie on fit
    other = router.decide(features, "developer", "balance")
    assert "no outcomes yet" in other.reason


def test_outcome_by_key_is_compared_with_what_the_prior_expected(lookalikes: Catalog) -> None:
    router = Router(lookalikes)
    easy = router.record_outcome(("dev", "code", "t:dear-best"), True, 0.01, 2.0, complexity=0.0)
    hard_router = Router(lookalikes)
    hard = hard_router.record_outcome(
        ("dev", "code", "t:dear-best"), True, 0.01, 2.0, complexity=1.0
    )
    assert easy.expected_successes > hard.expected_successes
    features = TaskFeatures("code", 1.0, True, 1_000)
    p_easy = router.decide(features, "dev").scores()["t:dear-best"]["quality"]
    p_hard = hard_router.decide(features, "dev").scores()["t:dear-best"]["quality"]
    assert p_hard > p_easy  # a success on a hard task says more
