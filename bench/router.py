"""Router benchmark: (a) decision latency, (b) routing quality on a simulated task stream.

    .venv/bin/python bench/router.py                 # both parts, printed as tables
    .venv/bin/python bench/router.py --part latency  # or --part quality; --json for one document

(a) Decision latency over the shipped catalog's 10 real models (``offline:replay``
left out), measured with ``time.perf_counter_ns`` around each call (the figures include
the clock's own overhead, reported as *timer*).

*A decision* is one ``Router.decide(features, role, mode, candidates)`` call on features
the caller already has: the cache lookups, the hard constraints (context window, tools)
and rules when the request is new to the router, the scoring (UCB1's totals, or the
winner of one pooled Thompson sample) when an outcome changed what the router knows,
and the ``Decision`` object it returns (kept in the ring of recent decisions). It does
not include the text analysis (``Router.analyze``, cached per text), the explanation
(``Decision.reason``, ``scores()``, ``route_meta()``, worked out when asked for) nor
``record_outcome``; those are timed as cases of their own:

- *repeat*: the same step asks again — the hot path;
- *new task*: every decision has features the router has not seen (a new context size),
  no outcomes yet; the router has decided tasks of every (task type, complexity) before;
- *new task, learned*: the same after every arm has outcomes;
- *learning*: a stream in which every decision's outcome is recorded before the next
  decision (random task type and complexity; each role in its own priority mode, four
  modes in all), so that every decision follows an outcome — what a router that
  verifies every step sees; ``record_outcome`` (in memory, no SQLite file) is timed
  separately. *Any mode* is the same with a random mode per decision, so that every
  (role, task type) has four times as many cells for an outcome to update (a stress
  case: an agent's mode is part of its definition);
- *new cell, learned*: the first decision for a (role, task type, complexity, mode)
  whose arms already have outcomes (the calibrated scores of that cell are worked out);
- *first of its kind*: the first decision for a (task type, complexity) in a new
  router, which also works out the prior rows of all 11 catalog models;
- Thompson sampling: repeat, new task (learned), learning, and its ``record_outcome``
  (which redraws the group's pool of posterior normals);
- the analyzer on a task text it has not seen, and *analyze + decide* for a new text
  and for a text seen before (the analyzer caches per text and role).

Every case runs with the garbage collector on (the default) and, labelled
``gc_off``, with it off.

(b) Routing quality. Ten models with *hidden* success rates per task type (the
catalog's quality priors, each shifted by a seeded random amount up to ±0.12) and
hidden token appetites (×0.7–1.5 the expected tokens); a stream of tasks of seven
types and random complexity. Policies: always the strongest catalog model, the
learning router (UCB1 and Thompson; balance and quality modes), the router without
learning (priors only), and two oracles that know the hidden rates: the one that
maximises the bandit reward (verified success per dollar) and the cheapest model
within 95 % of the strongest model's success on each task. Figures: success rate,
share of the strongest model's success, cost, cost saved against the strongest
model, and regret against the reward oracle (expected reward lost, in %).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from nexus.routing import TASK_TYPES, Router, TaskFeatures
from nexus.routing.analyzer import analyze_text
from nexus.routing.catalog import Catalog, ModelSpec, load_catalog
from nexus.routing.scoring import MODE_REWARD_SCALE, MODE_WEIGHTS, step_shape

#: the role that usually does each task type (bandits learn per role and task type)
ROLE_OF = {
    "code": "developer",
    "debug": "developer",
    "test": "test_creator",
    "review": "test_validator",
    "analysis": "coordinator",
    "docs": "writer",
    "chat": "assistant",
}
#: each role's priority mode (an agent's ``priority_mode`` is part of its definition)
ROLE_MODE = {
    "developer": "balance",
    "test_creator": "cost",
    "test_validator": "quality",
    "coordinator": "quality",
    "writer": "cost",
    "assistant": "speed",
}
TYPE_SHARE = {
    "code": 0.25,
    "debug": 0.15,
    "test": 0.2,
    "review": 0.1,
    "analysis": 0.1,
    "docs": 0.1,
    "chat": 0.1,
}
_TEXTS = [
    "Implement a slugify function in textkit/slug.py that handles unicode",
    "Fix the failing test in tests/test_slug.py: TypeError when the title is None",
    "Write pytest tests for the CSV parser, including quoted fields and empty lines",
    "Review the change to the retry policy and give a verdict",
    "Design the architecture of a distributed, concurrent job scheduler with leases",
    "Document the public API of the storage module in the README",
    "hello, what can you do?",
]


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def _stats_us(samples: list[int]) -> dict[str, float]:
    return {
        "median_us": round(statistics.median(samples) / 1000, 3),
        "p99_us": round(percentile(samples, 0.99) / 1000, 3),
        "max_us": round(max(samples) / 1000, 1),
        "n": len(samples),
    }


def models_of(catalog: Catalog) -> tuple[str, ...]:
    """The catalog's real models (the offline replay model left out)."""
    return tuple(n for n, s in catalog.models.items() if not s.last_resort)


def _features_stream(count: int, seed: int) -> list[tuple[TaskFeatures, str]]:
    rng = random.Random(seed)
    stream = []
    for i in range(count):
        task_type = TASK_TYPES[i % len(TASK_TYPES)]
        # distinct features: every (complexity, size) pair is new to the router
        features = TaskFeatures(task_type, rng.randint(0, 100) / 100, True, 1000 + i)
        stream.append((features, ROLE_OF[task_type]))
    return stream


def _mixed_stream(
    count: int, seed: int, modes: tuple[str, ...] | None = None
) -> list[tuple[Any, ...]]:
    """(features, role, mode) with random task type and complexity, new sizes; the role's
    own mode, or (``modes``) any of them at random."""
    rng = random.Random(seed)
    calls = []
    for i in range(count):
        task_type = rng.choice(TASK_TYPES)
        features = TaskFeatures(task_type, rng.randint(0, 100) / 100, True, 1000 + i)
        role = ROLE_OF[task_type]
        calls.append((features, role, ROLE_MODE[role] if modes is None else rng.choice(modes)))
    return calls


def _time_decisions(
    decide: Callable[..., Any], calls: list[tuple[Any, ...]], repeat: int = 1
) -> list[int]:
    clock = time.perf_counter_ns
    samples = [0] * (len(calls) * repeat)
    i = 0
    for _ in range(repeat):
        for args in calls:
            start = clock()
            decide(*args)
            samples[i] = clock() - start
            i += 1
    return samples


def _time_learning(
    router: Router, calls: list[tuple[Any, ...]], cands: tuple[str, ...], seed: int
) -> tuple[list[int], list[int]]:
    """Decide, then record that decision's outcome, for every call: (decide, record) times."""
    clock = time.perf_counter_ns
    rng = random.Random(seed)
    decide, record = router.decide, router.record_outcome
    decided = [0] * len(calls)
    recorded = [0] * len(calls)
    for i, (features, role, mode) in enumerate(calls):
        success, cost = rng.random() < 0.8, rng.random() * 0.05
        start = clock()
        decision = decide(features, role, mode, cands)
        decided[i] = clock() - start
        start = clock()
        record(decision, success, cost, 10.0)
        recorded[i] = clock() - start
    return decided, recorded


def _learn_everything(
    router: Router, cands: tuple[str, ...], seed: int, roles: dict[str, str] = ROLE_OF
) -> None:
    rng = random.Random(seed)
    for task_type, role in roles.items():
        for model in cands:
            for _ in range(3):
                router.record_outcome(
                    (role, task_type, model), rng.random() < 0.8, rng.random() * 0.05, 10.0
                )


def _warm(
    router: Router, cands: tuple[str, ...], modes: tuple[str, ...] | None = ("balance",)
) -> None:
    """Decide once for every (task type, complexity, mode), as a running router has; with
    ``modes`` None, in each role's own mode."""
    for task_type, role in ROLE_OF.items():
        for mode in (ROLE_MODE[role],) if modes is None else modes:
            for c in range(101):
                features = TaskFeatures(task_type, c / 100, True, 25_000 + c)
                router.decide(features, role, mode, cands)


def _kinds(seed: int, roles: dict[str, str] = ROLE_OF) -> list[tuple[Any, ...]]:
    """Every (task type, complexity) once, in a seeded random order."""
    calls = [
        (TaskFeatures(t, c / 100, True, 2_000 + c), roles[t], "balance")
        for t in TASK_TYPES
        for c in range(101)
    ]
    random.Random(seed).shuffle(calls)
    return calls


def _texts(count: int) -> list[str]:
    return [f"{_TEXTS[i % len(_TEXTS)]} (ticket {i})" for i in range(count)]


def latency(decisions: int, seed: int, collector: bool = True) -> dict[str, Any]:
    """Part (a): decision latency figures in µs, with the garbage collector on or off."""
    catalog = load_catalog()
    cands = models_of(catalog)
    results: dict[str, Any] = {
        "models": len(cands),
        "python": sys.version.split()[0],
        "load_average": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "gc": "on" if collector else "off",
    }
    gc.collect()
    if not collector:
        gc.disable()
    try:
        _latency_cases(results, catalog, cands, decisions, seed)
    finally:
        gc.enable()
    return results


def _latency_cases(
    results: dict[str, Any], catalog: Catalog, cands: tuple[str, ...], decisions: int, seed: int
) -> None:
    stream = _features_stream(decisions, seed)
    features, role = stream[0]
    same = [(features, role, "balance", cands)] * decisions
    modes = tuple(MODE_WEIGHTS)
    results["timer"] = _stats_us(_time_decisions(lambda: None, [()] * decisions))

    router = Router(catalog, seed=seed)
    router.decide(features, role, "balance", cands)
    results["repeat"] = _stats_us(_time_decisions(router.decide, same, repeat=3))

    router = Router(catalog, seed=seed)
    kinds = [(*call, cands) for call in _kinds(seed)]
    results["first_of_its_kind"] = _stats_us(_time_decisions(router.decide, kinds))
    _warm(router, cands)
    fresh = [(f, r, "balance", cands) for f, r in _features_stream(decisions, seed + 1)]
    results["new_task"] = _stats_us(_time_decisions(router.decide, fresh))

    router = Router(catalog, seed=seed)
    _warm(router, cands)
    _learn_everything(router, cands, seed)
    fresh = [(f, r, "balance", cands) for f, r in _features_stream(decisions, seed + 2)]
    results["new_task_learned"] = _stats_us(_time_decisions(router.decide, fresh))
    seniors = {t: f"senior_{r}" for t, r in ROLE_OF.items()}
    _learn_everything(router, cands, seed, seniors)
    kinds = [(*call, cands) for call in _kinds(seed + 1, seniors)]
    results["new_cell_learned"] = _stats_us(_time_decisions(router.decide, kinds))

    for suffix, stream_modes in (("", None), ("_any_mode", modes)):
        router = Router(catalog, seed=seed)
        _warm(router, cands, stream_modes)
        _learn_everything(router, cands, seed)
        decided, recorded = _time_learning(
            router, _mixed_stream(decisions, seed + 4, stream_modes), cands, seed
        )
        results["learning" + suffix] = _stats_us(decided)
        results["record_outcome" + suffix] = _stats_us(recorded)

    router = Router(catalog, strategy="thompson", seed=seed)
    router.decide(features, role, "balance", cands)
    results["thompson_repeat"] = _stats_us(_time_decisions(router.decide, same, repeat=3))
    _warm(router, cands)
    _learn_everything(router, cands, seed)
    fresh = [(f, r, "balance", cands) for f, r in _features_stream(decisions // 4, seed + 3)]
    results["thompson_new_task_learned"] = _stats_us(_time_decisions(router.decide, fresh))

    router = Router(catalog, strategy="thompson", seed=seed)
    _warm(router, cands, None)
    _learn_everything(router, cands, seed)
    decided, recorded = _time_learning(router, _mixed_stream(decisions // 4, seed + 5), cands, seed)
    results["thompson_learning"] = _stats_us(decided)
    results["thompson_record_outcome"] = _stats_us(recorded)

    texts = _texts(max(200, decisions // 20))
    clock = time.perf_counter_ns
    samples = []
    for text in texts:
        start = clock()
        analyze_text(text, "developer")
        samples.append(clock() - start)
    results["analyzer_new_text"] = _stats_us(samples)
    router = Router(catalog, seed=seed)
    _warm(router, cands)

    def analyze_decide(text: str) -> Any:
        return router.decide(router.analyze(text, "developer"), "developer", "balance", cands)

    calls = [(text,) for text in texts]
    results["analyze_decide_new_text"] = _stats_us(_time_decisions(analyze_decide, calls))
    results["analyze_decide_seen_text"] = _stats_us(_time_decisions(analyze_decide, calls, 5))


# -- routing quality -------------------------------------------------------------------------


@dataclass
class World:
    """The hidden truth of the simulation."""

    specs: dict[str, ModelSpec]
    quality_shift: dict[tuple[str, str], float]
    token_appetite: dict[str, float]

    def success_rate(self, model: str, features: TaskFeatures) -> float:
        spec = self.specs[model]
        shifted = spec.quality + self.quality_shift[(model, features.task_type)]
        shifted = min(0.99, max(0.05, shifted))
        fit = spec.fit(features.task_type)
        base = min(0.99, max(0.01, shifted + 0.25 * (fit - 0.8)))
        return float(base ** (0.5 + 1.5 * features.complexity))

    def expected_cost(self, model: str, features: TaskFeatures) -> float:
        _calls, tokens_in, tokens_out = step_shape(features.complexity)
        appetite = self.token_appetite[model]
        return self.specs[model].cost_usd(tokens_in * appetite, tokens_out * appetite)

    def latency(self, model: str, features: TaskFeatures) -> float:
        calls, _tin, tokens_out = step_shape(features.complexity)
        return self.specs[model].latency_s(calls, tokens_out * self.token_appetite[model])


def make_world(catalog: Catalog, seed: int) -> World:
    rng = random.Random(seed)
    specs = {n: catalog.models[n] for n in models_of(catalog)}
    shift = {(m, t): rng.uniform(-0.12, 0.12) for m in specs for t in TASK_TYPES}
    appetite = {m: rng.uniform(0.7, 1.5) for m in specs}
    return World(specs, shift, appetite)


def task_stream(count: int, seed: int) -> list[TaskFeatures]:
    rng = random.Random(seed)
    types = list(TYPE_SHARE)
    weights = list(TYPE_SHARE.values())
    return [
        TaskFeatures(rng.choices(types, weights)[0], rng.randint(0, 20) / 20, True, 3000)
        for _ in range(count)
    ]


@dataclass
class Tally:
    name: str
    successes: int = 0
    expected_successes: float = 0.0
    cost: float = 0.0
    value: float = 0.0
    values: list[float] = field(default_factory=list)
    picks: dict[str, int] = field(default_factory=dict)

    def add(self, model: str, success: bool, p: float, cost: float, value: float) -> None:
        self.successes += int(success)
        self.expected_successes += p
        self.cost += cost
        self.value += value
        self.values.append(value)
        self.picks[model] = self.picks.get(model, 0) + 1


def utility(world: World, model: str, features: TaskFeatures, mode: str, catalog: Catalog) -> float:
    """The router's objective for ``mode`` computed with the hidden truth: the weighted nodes,
    History being the true expected reward (no exploration)."""
    cfg = catalog.config
    weights = MODE_WEIGHTS[mode]
    spec = world.specs[model]
    p = world.success_rate(model, features)
    cost = world.expected_cost(model, features)
    lat = world.latency(model, features)
    scale = cfg.reward_scale_usd * MODE_REWARD_SCALE[mode]
    nodes = (
        spec.fit(features.task_type),
        p,
        cfg.latency_scale_s / (cfg.latency_scale_s + lat),
        cfg.reward_scale_usd / (cfg.reward_scale_usd + cost),
        p * scale / (scale + cost),
        spec.confidence,
    )
    return sum(w * n for w, n in zip(weights, nodes, strict=True))


def simulate(
    world: World,
    tasks: list[TaskFeatures],
    choose: Callable[[TaskFeatures], tuple[str, Any]],
    learn: Callable[[Any, bool, float, float], None] | None,
    name: str,
    value: Callable[[str, TaskFeatures], float],
    seed: int,
) -> Tally:
    rng = random.Random(seed)  # the same outcome draws for every policy
    tally = Tally(name)
    for features in tasks:
        model, handle = choose(features)
        p = world.success_rate(model, features)
        expected = world.expected_cost(model, features)
        success = rng.random() < p
        cost = expected * rng.lognormvariate(0.0, 0.3) / 1.046  # mean-preserving noise
        tally.add(model, success, p, cost, value(model, features))
        if learn is not None:
            learn(handle, success, cost, world.latency(model, features))
    return tally


def quality(tasks_count: int, seed: int) -> dict[str, Any]:
    """Part (b): the routing-quality simulation."""
    catalog = load_catalog()
    cands = models_of(catalog)
    world = make_world(catalog, seed)
    tasks = task_stream(tasks_count, seed + 1)
    strongest = max(cands, key=lambda m: catalog.models[m].quality)
    rows: list[dict[str, Any]] = []
    for mode in ("balance", "quality", "cost"):

        def value(
            model: str,
            f: TaskFeatures,
            mode: str = mode,
            memo: dict[tuple[str, tuple[Any, ...]], float] = {},  # noqa: B006 - one per mode
        ) -> float:
            key = (model, f.key)
            found = memo.get(key)
            if found is None:
                found = memo[key] = utility(world, model, f, mode, catalog)
            return found

        def fixed(model: str) -> Callable[[TaskFeatures], tuple[str, Any]]:
            return lambda _f: (model, None)

        def oracle(f: TaskFeatures) -> tuple[str, Any]:
            return max(cands, key=lambda m: value(m, f)), None

        def within_95(f: TaskFeatures) -> tuple[str, Any]:
            floor = 0.95 * world.success_rate(strongest, f)
            fine = [m for m in cands if world.success_rate(m, f) >= floor]
            return min(fine, key=lambda m: world.expected_cost(m, f)), None

        policies = [
            simulate(world, tasks, fixed(strongest), None, f"always {strongest}", value, seed),
            simulate(world, tasks, oracle, None, "oracle (knows the hidden rates)", value, seed),
            simulate(world, tasks, within_95, None, "cheapest within 95% (oracle)", value, seed),
        ]
        for strategy in ("ucb1", "thompson"):
            router = Router(catalog, strategy=strategy, seed=seed)

            def route(
                f: TaskFeatures, router: Router = router, mode: str = mode
            ) -> tuple[str, Any]:
                decision = router.decide(f, ROLE_OF[f.task_type], mode, cands)
                return decision.model, decision

            def learn(d: Any, ok: bool, cost: float, lat: float, router: Router = router) -> None:
                router.record_outcome(d, ok, cost, lat)

            policies.append(simulate(world, tasks, route, learn, f"router {strategy}", value, seed))
        static = Router(catalog, seed=seed)

        def route_static(
            f: TaskFeatures, router: Router = static, mode: str = mode
        ) -> tuple[str, Any]:
            return router.decide(f, ROLE_OF[f.task_type], mode, cands).model, None

        policies.append(
            simulate(world, tasks, route_static, None, "router, priors only", value, seed)
        )
        base, best = policies[0], policies[1]
        tail = min(1000, len(tasks) // 5)
        for tally in policies:
            rows.append(
                {
                    "mode": mode,
                    "policy": tally.name,
                    "success_rate": round(tally.successes / len(tasks), 4),
                    "of_strongest_success": round(
                        tally.expected_successes / base.expected_successes, 4
                    ),
                    "cost_usd": round(tally.cost, 2),
                    "cost_saved": round(1 - tally.cost / base.cost, 4),
                    "regret_per_task": round((best.value - tally.value) / len(tasks), 5),
                    "regret_last_tasks": round(
                        (sum(best.values[-tail:]) - sum(tally.values[-tail:])) / tail, 5
                    ),
                    "top_models": sorted(tally.picks.items(), key=lambda kv: -kv[1])[:3],
                }
            )
    return {"tasks": len(tasks), "strongest": strongest, "seed": seed, "rows": rows}


# -- output ----------------------------------------------------------------------------------


LATENCY_CASES: tuple[tuple[str, str], ...] = (
    ("repeat", "repeat (same features)"),
    ("new_task", "new task, no outcomes"),
    ("new_task_learned", "new task, learned"),
    ("learning", "learning (outcome before each)"),
    ("learning_any_mode", "learning, any mode (stress)"),
    ("new_cell_learned", "new cell, learned"),
    ("first_of_its_kind", "first of its kind"),
    ("thompson_repeat", "Thompson, repeat"),
    ("thompson_new_task_learned", "Thompson, new task, learned"),
    ("thompson_learning", "Thompson, learning"),
    ("record_outcome", "record_outcome (in memory)"),
    ("record_outcome_any_mode", "record_outcome, any mode"),
    ("thompson_record_outcome", "Thompson record_outcome"),
    ("analyzer_new_text", "analyzer, new text"),
    ("analyze_decide_new_text", "analyze + decide, new text"),
    ("analyze_decide_seen_text", "analyze + decide, seen text"),
    ("timer", "timer (empty call)"),
)


def print_latency(result: dict[str, Any]) -> None:
    print(
        f"(a) decision latency, {result['models']} models, Python {result['python']},"
        f" {result['cpus']} CPUs, load average {result['load_average']}"
    )
    off = result.get("gc_off")
    head = f"  {'case':<32}{'median µs':>10}{'p99 µs':>9}{'max µs':>9}{'n':>7}"
    print(head + ("  | gc off: median   p99" if off else ""))
    for case, label in LATENCY_CASES:
        if case not in result:
            continue
        row = result[case]
        line = (
            f"  {label:<32}{row['median_us']:>10.3f}{row['p99_us']:>9.2f}"
            f"{row['max_us']:>9.1f}{row['n']:>7}"
        )
        if off and case in off:
            line += f"  | {off[case]['median_us']:>14.3f}{off[case]['p99_us']:>6.2f}"
        print(line)


def print_quality(result: dict[str, Any]) -> None:
    print(
        f"(b) routing quality: {result['tasks']} tasks, strongest = {result['strongest']},"
        f" seed {result['seed']}"
    )
    header = (
        f"  {'mode':<8}{'policy':<34}{'success':>8}{'of strongest':>13}{'cost $':>9}"
        f"{'saved':>8}{'regret':>8}{'last':>8}  most chosen"
    )
    print(header)
    for row in result["rows"]:
        top = ", ".join(f"{m.split(':', 1)[1]} {n}" for m, n in row["top_models"])
        print(
            f"  {row['mode']:<8}{row['policy']:<34}{row['success_rate']:>8.1%}"
            f"{row['of_strongest_success']:>13.1%}{row['cost_usd']:>9.2f}"
            f"{row['cost_saved']:>8.1%}{row['regret_per_task']:>8.4f}"
            f"{row['regret_last_tasks']:>8.4f}  {top}"
        )


def spread(worlds: list[dict[str, Any]]) -> dict[str, Any]:
    """Min, median and max of each router policy's figures over several simulated worlds."""
    figures: dict[tuple[str, str], dict[str, list[float]]] = {}
    for world in worlds:
        for row in world["rows"]:
            if not row["policy"].startswith("router"):
                continue
            entry = figures.setdefault((row["mode"], row["policy"]), {})
            for name in ("of_strongest_success", "cost_saved", "regret_last_tasks"):
                entry.setdefault(name, []).append(row[name])
    rows = []
    for (mode, policy), entry in figures.items():
        summary: dict[str, Any] = {"mode": mode, "policy": policy}
        for name, values in entry.items():
            summary[name] = [min(values), statistics.median(values), max(values)]
        rows.append(summary)
    return {"seeds": [w["seed"] for w in worlds], "rows": rows}


def print_spread(result: dict[str, Any]) -> None:
    seeds = result["seeds"]
    print(f"(b) over {len(seeds)} worlds (seeds {seeds[0]}–{seeds[-1]}): min / median / max")
    print(f"  {'mode':<8}{'policy':<22}{'of strongest':>24}{'saved':>22}{'regret, last':>26}")
    for row in result["rows"]:
        cells = [
            " / ".join(f"{v:.1%}" for v in row["of_strongest_success"]),
            " / ".join(f"{v:.0%}" for v in row["cost_saved"]),
            " / ".join(f"{v:.4f}" for v in row["regret_last_tasks"]),
        ]
        print(f"  {row['mode']:<8}{row['policy']:<22}{cells[0]:>24}{cells[1]:>22}{cells[2]:>26}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("latency", "quality", "both"), default="both")
    parser.add_argument("--decisions", type=int, default=20000, help="timed decisions per case")
    parser.add_argument("--tasks", type=int, default=5000, help="tasks in the simulated stream")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--seeds", type=int, default=1, help="also simulate worlds seed+1 … seed+N-1 (spread)"
    )
    parser.add_argument(
        "--gc", choices=("on", "off", "both"), default="both", help="garbage collector (latency)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    out: dict[str, Any] = {}
    if args.part in ("latency", "both"):
        out["latency"] = latency(args.decisions, args.seed, collector=args.gc != "off")
        if args.gc == "both":
            out["latency"]["gc_off"] = latency(args.decisions, args.seed, collector=False)
        gc.collect()
    if args.part in ("quality", "both"):
        out["quality"] = quality(args.tasks, args.seed)
        if args.seeds > 1:
            worlds = [out["quality"]] + [
                quality(args.tasks, args.seed + i) for i in range(1, args.seeds)
            ]
            out["spread"] = spread(worlds)
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    if "latency" in out:
        print_latency(out["latency"])
    if "quality" in out:
        print_quality(out["quality"])
    if "spread" in out:
        print_spread(out["spread"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
