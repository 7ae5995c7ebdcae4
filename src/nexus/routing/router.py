"""The router (M4, X3): rules first, then six scoring nodes and a bandit, per decision.

::

    router = Router.open()                       # catalog + what it learned, from NEXUS_HOME
    features = router.analyze("Fix the failing test in slugify.py", role="developer")
    decision = router.decide(features, role="developer", mode="balance")
    decision.model, decision.reason, decision.scores()
    router.record_outcome(decision.id, success=True, cost_usd=0.012, latency_s=8.5)

A decision for a (features, role, mode, candidates) is computed once — hard
constraints (context window, tools), rules, the nodes, the bandit — into a
:class:`RoutePlan` and kept until an outcome changes what the router knows about
that (role, task type). A :class:`Decision` is a numbered reference to its plan
(and, with Thompson sampling, to the model one of the plan's pre-drawn posterior
samples chose), so deciding again costs a dictionary lookup and one small object.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from nexus.errors import ConfigError, ModelError, NotFoundError
from nexus.routing.analyzer import TaskAnalyzer, TaskFeatures
from nexus.routing.bandits import UCB1, Bandit, Thompson
from nexus.routing.catalog import Catalog, ModelSpec, RouterConfig, load_catalog
from nexus.routing.rules import Rule, compile_rules, first_match
from nexus.routing.scoring import (
    MODE_REWARD_SCALE,
    MODE_WEIGHTS,
    NODES,
    ArmStats,
    Calibration,
    PriorRow,
    calibration,
    prior_row,
    score_candidates,
    weights_for,
)
from nexus.routing.state import ArmKey, RouterState

__all__ = ["Decision", "NoRouteError", "RoutePlan", "Router"]

_RING = 4096
_RING_MASK = _RING - 1
_MAX_PLANS = 8192
#: of a candidate set: (smallest window, all call tools, usable names, exclusions)
_Fits = tuple[int, bool, tuple[str, ...], tuple[tuple[str, str], ...]]


class NoRouteError(ModelError):
    """No candidate model can take the request (context window, tools)."""

    code = "no_route"
    retryable = False


class _Group:
    """The arms of one (role, task type); ``version`` grows with every outcome. What
    depends only on the arms (calibrations, Thompson normals) is kept per version."""

    __slots__ = (
        "arms",
        "calibrations",
        "calibrations_version",
        "normals",
        "normals_version",
        "role",
        "task_type",
        "version",
    )

    def __init__(self, role: str, task_type: str) -> None:
        self.role = role
        self.task_type = task_type
        self.arms: dict[str, ArmStats] = {}
        self.version = 0
        self.calibrations: dict[str, Calibration] = {}
        self.calibrations_version = -1
        self.normals: dict[str, list[float]] = {}
        self.normals_version = -1


class RoutePlan:
    """The scored outcome of routing one (features, role, mode, candidates).

    ``candidates``: the models that can take the request; ``nodes[i]``: their six
    node scores; ``totals[i]``: weighted totals; ``index``: the chosen one (a rule's
    model, else the highest total); ``winners``: with Thompson sampling, the
    candidate each pre-drawn posterior sample chose; ``excluded``: models left out
    and why. Reasons are written when first asked for.
    """

    __slots__ = (
        "_nodes",
        "arms",
        "bonuses",
        "calibrations",
        "candidates",
        "config",
        "excluded",
        "features",
        "group",
        "index",
        "mode",
        "notes",
        "reasons",
        "role",
        "rows",
        "rule",
        "strategy",
        "totals",
        "version",
        "weights",
        "winners",
    )

    def __init__(self) -> None:
        self.features: TaskFeatures
        self.role = ""
        self.mode = ""
        self.strategy = ""
        self.candidates: tuple[str, ...] = ()
        self.excluded: Sequence[tuple[str, str]] = ()
        self.config: RouterConfig
        self.rows: list[PriorRow] = []
        self.calibrations: list[Calibration | None] = []
        self.bonuses: list[float] = []
        self._nodes: list[tuple[float, ...]] | None = None
        self.totals: list[float] = []
        self.weights: tuple[float, ...] = ()
        self.arms: list[ArmStats | None] = []
        self.index = 0
        self.rule: Rule | None = None
        self.reasons: dict[int, str] | None = None
        self.notes: Sequence[str] = ()
        self.winners: list[int] | None = None
        self.group: _Group
        self.version = 0

    @property
    def nodes(self) -> list[tuple[float, ...]]:
        """Per candidate, the six node scores in the order of ``NODES`` (worked out when
        first asked for: deciding needs only the totals)."""
        if self._nodes is None:
            nodes: list[tuple[float, ...]] = []
            score_candidates(
                self.rows, self.calibrations, self.bonuses, self.mode, self.config, nodes=nodes
            )
            self._nodes = nodes
        return self._nodes

    def scores(self) -> dict[str, dict[str, float]]:
        """Per candidate: each node's score and the total, rounded for people."""
        result: dict[str, dict[str, float]] = {}
        for name, nodes, total in zip(self.candidates, self.nodes, self.totals, strict=True):
            entry = {node: round(value, 4) for node, value in zip(NODES, nodes, strict=True)}
            entry["total"] = round(total, 4)
            result[name] = entry
        return result

    def reason(self, index: int) -> str:
        """Why candidate ``index`` was chosen, in one line."""
        if self.reasons is None:
            self.reasons = {}
        found = self.reasons.get(index)
        if found is None:
            found = self.reasons[index] = self._reason(index)
        return found

    def _reason(self, index: int) -> str:
        rule = self.rule
        if rule is not None and index == self.index:
            return f"rule {rule.name}: {rule.reason}"
        name = self.candidates[index]
        head = f"{self.mode} mode"
        if self.winners is not None and index != self.index:
            head += f", Thompson draw (expected best {self.candidates[self.index]})"
        text = f"{head}: {name} scored {self.totals[index]:.3f}"
        others = [i for i in range(len(self.candidates)) if i != index]
        if others:
            runner = max(others, key=self.totals.__getitem__)
            gains = sorted(
                (
                    (self.weights[n] * (self.nodes[index][n] - self.nodes[runner][n]), NODES[n])
                    for n in range(len(NODES))
                ),
                reverse=True,
            )
            ahead = ", ".join(f"{node} +{gain:.3f}" for gain, node in gains[:2] if gain > 0.0005)
            text += f" vs {self.candidates[runner]} {self.totals[runner]:.3f}"
            if ahead:
                text += f" (ahead on {ahead})"
        else:
            text += " (the only candidate)"
        arm = self.arms[index]
        if arm is not None and arm.n:
            text += (
                f"; learned from {arm.n:g} outcome(s) as {self.role}/{self.features.task_type},"
                f" {arm.successes / arm.n:.0%} verified"
            )
            if arm.proven:
                text += ", a proven performer"
        else:
            text += "; no outcomes yet, catalog priors"
        return text


class Decision:
    """One routing decision: ``id`` (process-local), the chosen ``model`` and why."""

    __slots__ = ("id", "index", "plan", "recorded")

    def __init__(self, id: int, plan: RoutePlan, index: int) -> None:
        self.id = id
        self.plan = plan
        self.index = index
        self.recorded = False

    @property
    def model(self) -> str:
        return self.plan.candidates[self.index]

    @property
    def reason(self) -> str:
        return self.plan.reason(self.index)

    @property
    def rule(self) -> str | None:
        rule = self.plan.rule
        return None if rule is None or self.index != self.plan.index else rule.name

    @property
    def role(self) -> str:
        return self.plan.role

    @property
    def mode(self) -> str:
        return self.plan.mode

    @property
    def task_type(self) -> str:
        return self.plan.features.task_type

    @property
    def features(self) -> TaskFeatures:
        return self.plan.features

    def scores(self) -> dict[str, dict[str, float]]:
        return self.plan.scores()

    def route_meta(self) -> dict[str, Any]:
        """What a response's ``provider_meta["route"]`` and a step's meta carry."""
        return {
            "model": self.model,
            "reason": self.reason,
            "scores": self.scores(),
            "rule": self.rule,
            "decision_id": self.id,
            "role": self.role,
            "mode": self.mode,
            "task_type": self.task_type,
            "complexity": self.features.complexity,
            "strategy": self.plan.strategy,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.route_meta(),
            "features": self.features.to_dict(),
            "excluded": [{"model": m, "why": why} for m, why in self.plan.excluded],
            "notes": list(self.plan.notes),
        }

    def __repr__(self) -> str:
        return f"Decision({self.id}, {self.model!r}, {self.reason!r})"


class Router:
    """Chooses a model per task. Build with :meth:`open` (persistent) or directly."""

    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        state: RouterState | None = None,
        strategy: str | None = None,
        seed: int | None = None,
        analyzer: TaskAnalyzer | None = None,
    ) -> None:
        self.catalog = catalog or load_catalog()
        self.config = self.catalog.config
        self.state = state
        self.analyzer = analyzer or TaskAnalyzer()
        self.rules: list[Rule] = compile_rules(self.catalog.rules, self.catalog.names())
        self.strategy = strategy or self.config.strategy
        self._bandit: Bandit
        if self.strategy == "ucb1":
            self._bandit = UCB1(self.config.explore)
        elif self.strategy == "thompson":
            self._bandit = Thompson()
        else:
            raise ConfigError(f"unknown router strategy '{self.strategy}'; known: ucb1, thompson")
        self._specs: dict[str, ModelSpec] = dict(self.catalog.models)
        names = self.config.candidates or tuple(self.catalog.names())
        self.default_candidates: tuple[str, ...] = tuple(names)
        self._rng = random.Random(seed)
        pool = self._bandit.pool_size if isinstance(self._bandit, Thompson) else 1
        self._draw_bits = (pool - 1).bit_length()
        self._groups: dict[tuple[str, str], _Group] = {}
        self._plans: dict[tuple[Any, ...], RoutePlan] = {}
        self._priors: dict[tuple[str, float, str], dict[str, PriorRow]] = {}
        self._fits: dict[tuple[str, ...], _Fits] = {}
        self._shared_bonus: dict[int, float] = {}
        self._limits: dict[str, tuple[int, bool, bool]] = {
            name: (spec.context_window, spec.supports_tools, spec.last_resort)
            for name, spec in self._specs.items()
        }
        self._ring: list[Decision | None] = [None] * _RING
        self._seq = 0
        if state is not None:
            self._load(state.load())

    @classmethod
    def open(
        cls,
        home: str | Path | None = None,
        *,
        catalog: Catalog | None = None,
        strategy: str | None = None,
        seed: int | None = None,
    ) -> Router:
        """A router with the catalog of ``home`` (default ``NEXUS_HOME``) and the outcomes
        stored in ``home/router/state.db``."""
        if home is None:
            from nexus.settings import Settings

            home = Settings().home
        state = RouterState(Path(home) / "router" / "state.db")
        return cls(catalog or load_catalog(home), state=state, strategy=strategy, seed=seed)

    # -- deciding ---------------------------------------------------------------------------

    def analyze(self, text: str, role: str | None = None) -> TaskFeatures:
        """The task features of ``text`` (cached per text and role)."""
        return self.analyzer.analyze(text, role)

    def decide(
        self,
        features: TaskFeatures,
        role: str = "default",
        mode: str = "balance",
        candidates: Sequence[str] | None = None,
    ) -> Decision:
        """Choose a model for a task with ``features`` done by an agent of ``role``.

        ``candidates`` (a tuple is fastest) defaults to the catalog's candidates.
        Raises :class:`NoRouteError` when no candidate can take the request and
        ConfigError for an unknown mode or model.
        """
        cands = self.default_candidates if candidates is None else candidates
        if type(cands) is not tuple:
            cands = tuple(cands)
        key = (features.key, role, mode, cands)
        plan = self._plans.get(key)
        if plan is None or plan.version != plan.group.version:
            plan = self._plan(features, role, mode, cands, key)
        winners = plan.winners
        index = plan.index if winners is None else winners[self._rng.getrandbits(self._draw_bits)]
        self._seq = seq = self._seq + 1
        decision = Decision(seq, plan, index)
        self._ring[seq & _RING_MASK] = decision
        return decision

    def decision(self, decision_id: int) -> Decision | None:
        """A recent decision by id (the last 4096 are kept), or None."""
        found = self._ring[decision_id & _RING_MASK]
        return found if found is not None and found.id == decision_id else None

    def _spec(self, name: str) -> ModelSpec:
        spec = self._specs.get(name)
        if spec is None:
            raise ConfigError(
                f"candidate model '{name}' is not in the router catalog; add it to"
                f" catalog.yaml (known: {', '.join(self._specs)})"
            )
        return spec

    def _fits_of(self, cands: tuple[str, ...]) -> _Fits:
        """(smallest window, all call tools, usable names, exclusions) of a candidate set,
        for requests that every candidate can take."""
        for name in cands:
            self._spec(name)  # raises, naming an unknown model
        names = tuple(dict.fromkeys(cands))
        main = [n for n in names if not self._limits[n][2]]
        resort = [n for n in names if self._limits[n][2]]
        chosen = main or resort
        fits = (
            min(self._limits[n][0] for n in chosen),
            all(self._limits[n][1] for n in chosen),
            tuple(chosen),
            tuple((n, "last resort only") for n in resort) if main else (),
        )
        if len(self._fits) >= _MAX_PLANS:
            self._fits.clear()
        self._fits[cands] = fits
        return fits

    def _usable(
        self, features: TaskFeatures, cands: tuple[str, ...], excluded: list[tuple[str, str]]
    ) -> tuple[str, ...]:
        """The candidates that can take a request (its window, tools); why others cannot."""
        usable: list[str] = []
        resort: list[str] = []
        tokens, tools = features.context_tokens, features.needs_tools
        for name in dict.fromkeys(cands):
            window, has_tools, last_resort = self._limits[name]
            if tokens > window:
                excluded.append((name, f"context {tokens} tokens > window {window}"))
            elif tools and not has_tools:
                excluded.append((name, "no tool calls"))
            elif last_resort:
                resort.append(name)
            else:
                usable.append(name)
        if not usable:
            usable = resort
        else:
            excluded.extend((name, "last resort only") for name in resort)
        if not usable:
            raise NoRouteError(
                f"no candidate model can take this request ({tokens} tokens"
                f"{', with tools' if tools else ''}); candidates: "
                + "; ".join(f"{m}: {why}" for m, why in excluded),
                task_type=features.task_type,
            )
        return tuple(usable)

    def _prior_rows(self, features: TaskFeatures, mode: str) -> dict[str, PriorRow]:
        key = (features.task_type, features.complexity, mode)
        rows = self._priors.get(key)
        if rows is None:
            try:
                weights_for(mode)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
            rows = {
                name: prior_row(spec, features, mode, self.config)
                for name, spec in self._specs.items()
            }
            self._priors[key] = rows
        return rows

    def _plan(
        self,
        features: TaskFeatures,
        role: str,
        mode: str,
        cands: tuple[str, ...],
        key: tuple[Any, ...],
    ) -> RoutePlan:
        rows_by_name = self._prior_rows(features, mode)
        weights = MODE_WEIGHTS[mode]
        plan = RoutePlan()
        plan.features, plan.role, plan.mode, plan.strategy = features, role, mode, self.strategy
        plan.weights, plan.config = weights, self.config
        tokens, tools = features.context_tokens, features.needs_tools
        fits = self._fits.get(cands)
        if fits is None:
            fits = self._fits_of(cands)
        if tokens <= fits[0] and (fits[1] or not tools):
            # the request fits every candidate: the usual case, worked out once per set
            names = fits[2]
            plan.excluded = fits[3]
        else:
            excluded: list[tuple[str, str]] = []
            names = self._usable(features, cands, excluded)
            plan.excluded = excluded
        plan.candidates = names
        group = self._group(role, features.task_type)
        plan.group, plan.version = group, group.version
        plan.rows = rows = [rows_by_name[n] for n in names]
        count = len(names)
        known = group.arms
        k = self.config.prior_strength
        thompson = isinstance(self._bandit, Thompson)
        cals: list[Calibration | None] = [None] * count
        if known:
            by_name = self._calibrations(group)
            cals = [by_name.get(n) for n in names]
        plan.calibrations = cals
        if not known or (cals.count(None) == count and not thompson):
            # no outcomes: History is the expected reward plus one shared bonus
            plan.arms = [None] * count
            shared = self._shared_bonus.get(count)
            if shared is None:
                shared = self._shared_bonus[count] = self._bandit.bonuses([k] * count)[0]
            plan.bonuses = bonuses = [shared] * count
            w_bonus = weights[4] * shared
            plan.totals = totals = [row[8] + w_bonus for row in rows]
        else:
            arms = [known.get(n) for n in names]
            plan.arms = arms
            counts = [k if arm is None else arm.n + k for arm in arms]
            plan.bonuses = bonuses = self._bandit.bonuses(counts)
            if thompson:
                expected: list[tuple[float, float, float]] = []
                plan.totals = totals = score_candidates(
                    rows, cals, bonuses, mode, self.config, expectations=expected
                )
            else:
                plan.totals = totals = score_candidates(rows, cals, bonuses, mode, self.config)
        rule = None
        if self.rules:
            rule, plan.notes = first_match(self.rules, features, role, mode, names.__contains__)
        if rule is not None:
            plan.rule = rule
            plan.index = names.index(rule.model)
        else:
            plan.index = totals.index(max(totals))
            if thompson:
                if not known:
                    expected = []
                    score_candidates(rows, cals, bonuses, mode, self.config, expectations=expected)
                    counts = [k] * count
                plan.winners = self._thompson_winners(plan, expected, counts)
        if len(self._plans) >= _MAX_PLANS:
            self._plans.clear()
        self._plans[key] = plan
        return plan

    def _calibrations(self, group: _Group) -> dict[str, Calibration]:
        """The group's arm calibrations, worked out once per outcome."""
        if group.calibrations_version != group.version:
            k = self.config.prior_strength
            group.calibrations = {
                name: calibration(arm, k, self._specs[name].confidence)
                for name, arm in group.arms.items()
                if arm.n and name in self._specs
            }
            group.calibrations_version = group.version
        return group.calibrations

    def _thompson_winners(
        self,
        plan: RoutePlan,
        expected: list[tuple[float, float, float]],
        counts: list[float],
    ) -> list[int]:
        """The candidate each of the group's pre-drawn posterior samples makes the best."""
        bandit = self._bandit
        assert isinstance(bandit, Thompson)
        group = plan.group
        if group.normals_version != group.version:
            group.normals = {}
            group.normals_version = group.version
        normals = []
        for name in plan.candidates:
            zs = group.normals.get(name)
            if zs is None:
                zs = group.normals[name] = bandit.normals(self._rng)
            normals.append(zs)
        scale = self.config.reward_scale_usd * MODE_REWARD_SCALE[plan.mode]
        columns = bandit.draws(
            [e[0] for e in expected], [e[1] for e in expected], counts, scale, normals
        )
        w_history = plan.weights[4]
        totals = [
            [e[2] + w_history * h for h in column]
            for e, column in zip(expected, columns, strict=True)
        ]
        return [row.index(max(row)) for row in zip(*totals, strict=True)]

    # -- learning ---------------------------------------------------------------------------

    def _group(self, role: str, task_type: str) -> _Group:
        group = self._groups.get((role, task_type))
        if group is None:
            group = self._groups[(role, task_type)] = _Group(role, task_type)
        return group

    def _load(self, arms: dict[ArmKey, ArmStats]) -> None:
        for (role, task_type, model), stats in arms.items():
            group = self._group(role, task_type)
            group.arms[model] = stats
            group.version += 1

    def reload(self) -> None:
        """Read the stored sums again (outcomes other processes recorded)."""
        if self.state is None:
            return
        for group in self._groups.values():
            group.arms.clear()
            group.version += 1
        self._load(self.state.load())

    def record_outcome(
        self,
        decision: Decision | int | tuple[str, str, str],
        success: bool,
        cost_usd: float,
        latency_s: float,
        *,
        confidence: float | None = None,
        complexity: float | None = None,
        source: str | None = None,
    ) -> ArmStats:
        """Learn from a verified outcome of a routed step; returns the arm's new sums.

        ``decision`` is a :class:`Decision`, a recent decision id, or ``(role, task type,
        model)`` — then ``complexity`` (0..1, default 0.5) says how hard the task was, so
        that the outcome is compared with what the catalog expected. A decision's outcome
        counts once. ``confidence`` is the confidence the step's answer stated (0..1).
        """
        if cost_usd < 0 or latency_s < 0:
            raise ValueError("an outcome's cost_usd and latency_s cannot be negative")
        if confidence is not None and not 0.0 <= confidence <= 1.0:
            raise ValueError(f"confidence must be within 0..1, not {confidence}")
        if isinstance(decision, int):
            found = self.decision(decision)
            if found is None:
                raise NotFoundError(
                    f"routing decision {decision} is not among the last {_RING} of this"
                    " process; record the outcome by (role, task_type, model)"
                )
            decision = found
        if isinstance(decision, Decision):
            key: ArmKey = (decision.role, decision.task_type, decision.model)
            if decision.recorded:
                return self._group(key[0], key[1]).arms[key[2]]
            row = decision.plan.rows[decision.index]
        else:
            role, task_type, model = decision
            key = (str(role), str(task_type), str(model))
            spec = self._specs.get(key[2])
            if spec is None:
                raise ConfigError(
                    f"outcome for model '{key[2]}', which is not in the router catalog"
                )
            features = TaskFeatures(key[1], 0.5 if complexity is None else complexity, False, 0)
            row = prior_row(spec, features, "balance", self.config)
        group = self._group(key[0], key[1])
        arm = group.arms.get(key[2])
        if arm is None:
            arm = group.arms[key[2]] = ArmStats()
        expected = (row[1], row[6], row[7])
        arm.add(success, cost_usd, latency_s, confidence, expected)
        group.version += 1
        if isinstance(decision, Decision):
            decision.recorded = True
        if self.state is not None:
            self.state.record(key, success, cost_usd, latency_s, confidence, expected, source)
        return arm

    def arms(self, role: str | None = None) -> list[dict[str, Any]]:
        """What the router learned: one row per (role, task type, model)."""
        rows = []
        for (group_role, task_type), group in sorted(self._groups.items()):
            if role is not None and group_role != role:
                continue
            for model, arm in sorted(group.arms.items()):
                rows.append(
                    {
                        "role": group_role,
                        "task_type": task_type,
                        "model": model,
                        **arm.to_dict(),
                        "success_rate": round(arm.success_rate, 4),
                        "proven": arm.proven,
                    }
                )
        return rows

    # -- explaining -------------------------------------------------------------------------

    def explain(
        self,
        task: str | TaskFeatures,
        role: str = "default",
        mode: str = "balance",
        candidates: Iterable[str] | None = None,
    ) -> dict[str, Any]:
        """Route ``task`` and say why: features, rule, every candidate's node scores."""
        features = task if isinstance(task, TaskFeatures) else self.analyze(task, role)
        decision = self.decide(
            features, role, mode, None if candidates is None else tuple(candidates)
        )
        plan = decision.plan
        scores = plan.scores()
        draws: dict[str, float] = {}
        if plan.winners:
            for index in plan.winners:
                name = plan.candidates[index]
                draws[name] = draws.get(name, 0.0) + 1.0 / len(plan.winners)
        group = plan.group
        ranking = sorted(range(len(plan.candidates)), key=lambda i: -plan.totals[i])
        return {
            "task": task if isinstance(task, str) else None,
            "role": role,
            "mode": mode,
            "strategy": self.strategy,
            "features": features.to_dict(),
            "weights": dict(zip(NODES, weights_for(mode), strict=True)),
            "rule": plan.rule.name if plan.rule is not None else None,
            "rule_description": plan.rule.describe() if plan.rule is not None else None,
            "notes": list(plan.notes),
            "model": decision.model,
            "reason": decision.reason,
            "candidates": [
                {
                    "model": plan.candidates[i],
                    **scores[plan.candidates[i]],
                    "outcomes": group.arms[plan.candidates[i]].n
                    if plan.candidates[i] in group.arms
                    else 0.0,
                    **(
                        {"thompson_share": round(draws.get(plan.candidates[i], 0.0), 4)}
                        if plan.winners
                        else {}
                    ),
                }
                for i in ranking
            ],
            "excluded": [{"model": m, "why": why} for m, why in plan.excluded],
        }

    def candidates_where(self, available: Callable[[str], bool]) -> tuple[str, ...]:
        """The default candidates for which ``available(model)`` holds."""
        return tuple(name for name in self.default_candidates if available(name))

    def close(self) -> None:
        if self.state is not None:
            self.state.close()
