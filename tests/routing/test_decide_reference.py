"""The router's decisions equal a straightforward computation of the documented scoring.

``Router.decide`` reads incrementally kept cells (``nexus.routing.cells``); here every
decision of long random streams — task types, complexities, tools, context sizes around
the windows and rule thresholds, roles, modes, candidate sets, outcomes in between, a
reload — is recomputed from scratch: the hard constraints, the rules, every node of
every candidate from the catalog priors and the arms' sums, UCB1's bonus or the
Thompson draw the decision used, and the first highest total. Model and totals must
be the same, to the bit.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from nexus.routing import TASK_TYPES, Router, TaskFeatures, Thompson
from nexus.routing.catalog import Catalog, load_catalog, merge_catalog_data, shipped_catalog_data
from nexus.routing.decision import Decision, NoRouteError
from nexus.routing.rules import first_match
from nexus.routing.scoring import (
    MODE_REWARD_SCALE,
    MODE_WEIGHTS,
    MODES,
    ArmStats,
    calibration,
    prior_row,
)
from nexus.routing.state import RouterState

ROLES = ("developer", "test_creator", "coordinator", "reviewer")
SIZES = (1_000, 32_767, 32_768, 32_769, 60_000, 128_000, 131_072, 150_000, 200_000, 200_001)
RULES = [
    {"name": "huge", "if": {"context_tokens": ">150000"}, "model": "openai:gpt-4.1"},
    {
        "name": "easy-tests",
        "if": {"role": "test_creator", "level": ["low"], "needs_tools": True},
        "model": "ollama:qwen2.5-coder:7b",
    },
    {"name": "exact", "if": {"context_tokens": 60_000, "mode": "cost"}, "model": "test:tiny"},
]


def catalog_with_rules() -> Catalog:
    """The shipped catalog with rules that compare tokens, and a small-window model."""
    extra = {
        "models": {
            "test:tiny": {
                "quality": 0.7,
                "context_window": 60_000,
                "ttft_s": 0.3,
                "tokens_per_s": 150,
                "capabilities": ["streaming"],
                "price": {"input": 0.05, "output": 0.2},
            }
        },
        "rules": RULES,
    }
    return Catalog.from_mapping(merge_catalog_data(shipped_catalog_data(), extra), "test")


class Reference:
    """What the reference computation found: the model, the totals, Thompson's winners per
    pooled sample and, per candidate, (p, cost, base, reward, bonus, sd, factor)."""

    def __init__(self, model: str, totals: list[float], winners: list[int] | None) -> None:
        self.model, self.totals, self.winners = model, totals, winners
        self.values: list[tuple[float, float, float, float, float, float, float]] = []
        self.columns: list[list[float]] = []


def reference(
    router: Router, features: TaskFeatures, role: str, mode: str, cands: tuple[str, ...]
) -> Reference:
    """The decision computed from scratch."""
    specs, config = router.catalog.models, router.config
    k = config.prior_strength
    tokens, tools = features.context_tokens, features.needs_tools
    usable: list[str] = []
    resort: list[str] = []
    for name in dict.fromkeys(cands):
        spec = specs[name]
        if tokens > spec.context_window or (tools and not spec.supports_tools):
            continue
        (resort if spec.last_resort else usable).append(name)
    names = tuple(usable or resort)
    if not names:
        raise NoRouteError("nothing fits")
    group = router._groups.get((role, features.task_type))
    arms: dict[str, ArmStats] = dict(group.arms) if group is not None else {}
    weights = MODE_WEIGHTS[mode]
    w_fit, w_quality, w_speed, w_cost, w_history, w_conf = weights
    rows = [prior_row(specs[n], features, mode, config) for n in names]
    cals = [
        calibration(arms[n], k, specs[n].confidence) if n in arms and arms[n].n else None
        for n in names
    ]
    counts = [arms[n].n + k if n in arms else k for n in names]
    scale_l, scale_c = config.latency_scale_s, config.reward_scale_usd
    scale_r = scale_c * MODE_REWARD_SCALE[mode]
    expected = []  # (p, cost, base, reward)
    for row, cal in zip(rows, cals, strict=True):
        if cal is None:
            expected.append((row[1], row[6], row[5], row[9]))
            continue
        p = min(row[1] * cal[0], 0.999)
        cost = row[6] * cal[1] if cal[1] >= 0.0 else cal[2]
        speed = scale_l / (scale_l + row[10] * cal[3])
        cost_score = scale_c / (scale_c + cost)
        base = w_fit * row[0] + w_quality * p + w_speed * speed + w_cost * cost_score
        base += w_conf * cal[4]
        expected.append((p, cost, base, p * scale_r / (scale_r + cost)))
    thompson = router.strategy == "thompson"
    if thompson:
        bonuses = [0.0] * len(names)
    else:
        log_total = 2.0 * math.log(max(sum(counts), 1.0))
        bonuses = [config.explore * math.sqrt(log_total / n) for n in counts]
    if not thompson and all(cal is None for cal in cals):
        shared = config.explore * math.sqrt(2.0 * math.log(max(sum([k] * len(names)), 1.0)) / k)
        totals = [row[8] + w_history * shared for row in rows]
    else:
        totals = [e[2] + w_history * (e[3] + b) for e, b in zip(expected, bonuses, strict=True)]
    spreads = [
        math.sqrt(max(e[0] * (1.0 - e[0]), 0.0) / (n + 1.0))
        for e, n in zip(expected, counts, strict=True)
    ]
    factors = [scale_r / (scale_r + max(0.0, e[1])) for e in expected]
    values = [
        (*e, b, sd, f) for e, b, sd, f in zip(expected, bonuses, spreads, factors, strict=True)
    ]
    rule, _notes = first_match(router.rules, features, role, mode, names.__contains__)
    if rule is not None:
        found = Reference(rule.model, totals, None)
    elif not thompson:
        found = Reference(names[totals.index(max(totals))], totals, None)
    else:
        snapshot = router._groups[(role, features.task_type)].snapshot
        columns = []
        for j in range(router._scorer.pool_size):
            sampled = []
            for name, (p, _c, base, _r, _b, sd, factor) in zip(names, values, strict=True):
                v = (p + snapshot.normals[name][j] * sd) * factor
                sampled.append(base + w_history * min(max(v, 0.0), factor))
            columns.append(sampled)
        winners = [column.index(max(column)) for column in columns]
        found = Reference(names[winners[0]], totals, winners)
        found.columns = columns
    found.values = values
    return found


def check_cell(router: Router, decision: Decision, found: Reference) -> None:
    """The fast path's own numbers equal the reference's, to the bit."""
    cell = decision.route.cell
    if cell is None:
        assert decision.rule is not None
        return
    bases = [v[2] for v in found.values]
    assert list(cell.bases) == bases
    assert list(cell.rewards) == [v[3] for v in found.values]
    if router.strategy == "thompson":
        assert list(cell.p) == [v[0] for v in found.values]
        assert list(cell.sd) == [v[5] for v in found.values]
        assert list(cell.factor) == [v[6] for v in found.values]
        if cell.totals:
            assert cell.totals in found.columns
    else:
        if cell.lineup.mixed:
            assert list(cell.lineup.bonuses) == [v[4] for v in found.values]
        assert cell.totals == found.totals


class Requests:
    """Random requests that come back often enough for the router's cells to be reused
    and updated in between: a few candidate sets, complexities and roles most of the time,
    anything some of the time."""

    def __init__(self, rng: random.Random, models: list[str]) -> None:
        self.rng, self.models = rng, models
        shuffled = rng.sample(models, len(models))
        self.sets = [tuple(models), tuple(shuffled), tuple(shuffled[:5])]

    def next(self) -> tuple[TaskFeatures, str, str, tuple[str, ...]]:
        rng = self.rng
        often = rng.random() < 0.85
        features = TaskFeatures(
            rng.choice(TASK_TYPES),
            rng.choice((0.1, 0.45, 0.8)) if often else rng.randint(0, 100) / 100,
            rng.random() < 0.7,
            rng.choice(SIZES) + rng.choice((0, 0, 0, 1, -1)),
        )
        if often:
            cands = rng.choice(self.sets)
        else:
            cands = tuple(rng.sample(self.models, rng.randint(1, len(self.models))))
        role = rng.choice(ROLES[:2] if often else ROLES)
        return features, role, rng.choice(MODES), cands


def check_stream(router: Router, steps: int, seed: int, home: Path | None = None) -> dict[str, int]:
    rng = random.Random(seed)
    models = list(router.catalog.models)
    requests = Requests(rng, models)
    seen = {"decisions": 0, "rules": 0, "no_route": 0, "learned": 0, "incremental": 0}
    cells: dict[int, object] = {}  # cell → the snapshot it was last decided on
    for step in range(steps):
        features, role, mode, cands = requests.next()
        try:
            decision = router.decide(features, role, mode, cands)
        except NoRouteError:
            seen["no_route"] += 1
            with pytest.raises(NoRouteError):
                reference(router, features, role, mode, cands)
            continue
        found = reference(router, features, role, mode, cands)
        seen["decisions"] += 1
        seen["rules"] += decision.rule is not None
        plan = decision.plan
        assert plan.totals == found.totals, (features, role, mode, cands)
        winners = found.winners
        if winners is None:
            assert decision.model == found.model, (features, role, mode, cands, step)
            assert decision.index == plan.index
        else:
            assert decision.draw is not None
            assert plan.winners == winners
            assert decision.index == winners[decision.draw]
        check_cell(router, decision, found)
        if decision.snapshot.entries:
            seen["learned"] += 1
        cell = decision.route.cell
        if cell is not None:
            last = cells.get(id(cell))
            if last is not None and last is not decision.snapshot and cell.snapshot is not None:
                seen["incremental"] += 1  # outcomes came in since: updated, not rebuilt
            cells[id(cell)] = decision.snapshot
        if rng.random() < 0.6:  # outcomes in between, by decision and by key
            success, cost = rng.random() < 0.75, rng.random() * 0.08
            if rng.random() < 0.8:
                router.record_outcome(decision, success, cost, rng.uniform(1, 60))
            else:
                key = (rng.choice(ROLES), rng.choice(TASK_TYPES), rng.choice(models))
                router.record_outcome(
                    key,
                    success,
                    cost,
                    rng.uniform(1, 60),
                    complexity=rng.random(),
                    confidence=rng.random(),
                )
        if home is not None and step == steps // 2:
            other = Router.open(home, catalog=router.catalog)  # another process learns
            for _ in range(20):
                other.record_outcome(
                    (rng.choice(ROLES), rng.choice(TASK_TYPES), rng.choice(models)),
                    rng.random() < 0.5,
                    0.01,
                    5.0,
                )
            other.close()
            router.reload()
    return seen


@pytest.mark.parametrize("strategy", ["ucb1", "thompson"])
def test_decisions_equal_the_reference_on_the_shipped_catalog(strategy: str) -> None:
    router = Router(load_catalog(), strategy=strategy, seed=5)
    seen = check_stream(router, 3000, seed=17)
    assert seen["decisions"] > 2500 and seen["learned"] > 2000 and seen["incremental"] > 800
    assert seen["rules"] == 0  # none ship; some random candidate sets fit nothing


@pytest.mark.parametrize("strategy", ["ucb1", "thompson"])
def test_decisions_equal_the_reference_with_rules_windows_and_a_reload(
    strategy: str, tmp_path: Path
) -> None:
    catalog = catalog_with_rules()
    state = RouterState(tmp_path / "router" / "state.db")
    router = Router(catalog, strategy=strategy, seed=3, state=state)
    seen = check_stream(router, 3000, seed=23, home=tmp_path)
    assert seen["rules"] > 100 and seen["no_route"] > 10 and seen["decisions"] > 1500
    assert seen["incremental"] > 300
    router.close()


def test_identical_models_tie_to_the_first_candidate_as_the_reference_does() -> None:
    entry = {"quality": 0.8, "context_window": 100_000, "ttft_s": 0.5, "tokens_per_s": 80}
    catalog = Catalog.from_mapping(
        {
            "models": {
                f"t:m{i}": {**entry, "price": {"input": 1.0, "output": 4.0}} for i in range(4)
            }
        },
        "ties",
    )
    router = Router(catalog, seed=1)
    features = TaskFeatures("code", 0.5, True, 1_000)
    for cands in (("t:m2", "t:m0", "t:m1"), ("t:m3", "t:m1")):
        assert router.decide(features, "dev", "balance", cands).model == cands[0]
    router.record_outcome(("dev", "code", "t:m1"), False, 0.0, 1.0)
    router.record_outcome(("dev", "code", "t:m3"), False, 0.0, 1.0)
    decision = router.decide(features, "dev", "balance", ("t:m3", "t:m1", "t:m2", "t:m0"))
    found = reference(router, features, "dev", "balance", decision.route.candidates)
    assert decision.model == found.model
    assert decision.model == "t:m2"  # untried arms lead; of those the first listed


def test_a_decision_is_explained_with_what_the_router_knew_when_it_decided() -> None:
    router = Router(load_catalog(), seed=2)
    features = TaskFeatures("debug", 0.6, True, 3_000)
    first = router.decide(features, "developer", "quality")
    before = first.scores()
    for _ in range(5):
        router.record_outcome(("developer", "debug", first.model), False, 0.5, 30.0)
    later = router.decide(features, "developer", "quality")
    assert later.snapshot is not first.snapshot
    assert later.scores()[first.model] != before[first.model]
    assert Decision(0, first.route, first.snapshot, first.index, features).scores() == before
    assert (
        "no outcomes yet" in first.reason
        and "learned from 5 outcome(s)"
        in router.decide(features, "developer", "quality", (first.model,)).reason
    )


def test_only_the_last_4096_decisions_are_found_by_id() -> None:
    router = Router(load_catalog(), seed=1)
    features = TaskFeatures("code", 0.4, True, 1_000)
    ids = [router.decide(features, "developer").id for _ in range(5_000)]
    assert router.decision(ids[-1]) is not None
    assert router.decision(ids[-4096]) is not None
    assert router.decision(ids[-4097]) is None
    router.record_outcome(ids[-1], True, 0.01, 2.0)  # lets go of the older ones
    assert router.decision(ids[-4096]) is not None and router.decision(ids[0]) is None


def test_thompson_pools_are_the_numbers_gauss_would_draw() -> None:
    for size in (1, 2, 32):
        a, b = random.Random(9), random.Random(9)
        assert Thompson(pool_size=size).normals(a) == [b.gauss(0.0, 1.0) for _ in range(size)]
