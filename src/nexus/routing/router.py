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

from nexus.errors import ConfigError, NotFoundError
from nexus.routing.analyzer import TaskAnalyzer, TaskFeatures
from nexus.routing.bandits import UCB1, Bandit, Thompson
from nexus.routing.catalog import Catalog, ModelSpec, load_catalog
from nexus.routing.decision import (
    ArmGroup,
    Decision,
    Fits,
    Limits,
    NoRouteError,
    RoutePlan,
    explain_report,
    fits_of,
    usable_candidates,
)
from nexus.routing.rules import Rule, compile_rules, first_match
from nexus.routing.scoring import (
    MODE_REWARD_SCALE,
    MODE_WEIGHTS,
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
        self._groups: dict[tuple[str, str], ArmGroup] = {}
        self._plans: dict[tuple[Any, ...], RoutePlan] = {}
        self._priors: dict[tuple[str, float, str], dict[str, PriorRow]] = {}
        self._fits: dict[tuple[str, ...], Fits] = {}
        self._shared_bonus: dict[int, float] = {}
        self._limits: Limits = {
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
            for name in cands:
                self._spec(name)  # raises, naming an unknown model
            if len(self._fits) >= _MAX_PLANS:
                self._fits.clear()
            fits = self._fits[cands] = fits_of(self._limits, cands)
        if tokens <= fits[0] and (fits[1] or not tools):
            # the request fits every candidate: the usual case, worked out once per set
            names = fits[2]
            plan.excluded = fits[3]
        else:
            excluded: list[tuple[str, str]] = []
            names = usable_candidates(self._limits, features, cands, excluded)
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

    def _calibrations(self, group: ArmGroup) -> dict[str, Calibration]:
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

    def _group(self, role: str, task_type: str) -> ArmGroup:
        group = self._groups.get((role, task_type))
        if group is None:
            group = self._groups[(role, task_type)] = ArmGroup(role, task_type)
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
        return explain_report(decision, task if isinstance(task, str) else None)

    def candidates_where(self, available: Callable[[str], bool]) -> tuple[str, ...]:
        """The default candidates for which ``available(model)`` holds."""
        return tuple(name for name in self.default_candidates if available(name))

    def close(self) -> None:
        if self.state is not None:
            self.state.close()
