"""The router (M4, X3): rules first, then six scoring nodes and a bandit, per decision.

::

    router = Router.open()                       # catalog + what it learned, from NEXUS_HOME
    features = router.analyze("Fix the failing test in slugify.py", role="developer")
    decision = router.decide(features, role="developer", mode="balance")
    decision.model, decision.reason, decision.scores()
    router.record_outcome(decision.id, success=True, cost_usd=0.012, latency_s=8.5)

What a request needs is worked out once per kind of request — a (task type,
complexity, tools, size class, role, mode, candidates), the size class being the
stretch between two context windows or rule thresholds that the request's tokens fall
in — into a :class:`~nexus.routing.plan.Route`: the candidates that can take it, the
rule that fired, and a scoring cell (:mod:`nexus.routing.cells`). ``record_outcome``
brings the cells of the outcome's (role, task type) up to date, so a decision reads
a cached choice, or adds up ten totals after an outcome. Why a decision chose its
model is worked out only when asked (:class:`~nexus.routing.plan.RoutePlan`).
"""

from __future__ import annotations

import random
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from nexus.errors import ConfigError, NotFoundError
from nexus.routing.analyzer import TaskAnalyzer, TaskFeatures
from nexus.routing.bandits import UCB1, Bandit, Thompson
from nexus.routing.catalog import Catalog, ModelSpec, load_catalog
from nexus.routing.decision import (
    Decision,
    Fits,
    Limits,
    NoRouteError,
    explain_report,
    fits_of,
    usable_candidates,
)
from nexus.routing.plan import ArmGroup, Route, RoutePlan
from nexus.routing.rules import Rule, compile_rules, first_match
from nexus.routing.scorer import Scorer
from nexus.routing.scoring import ArmStats, PriorRow, prior_row, prior_rows, weights_for
from nexus.routing.state import ArmKey, RouterState

__all__ = ["Decision", "NoRouteError", "RoutePlan", "Router"]

#: how many recent decisions are found by id; the ring has room for twice as many, so
#: that ``record_outcome`` can let go of the old ones (see ``_let_go``)
_KEEP = 4096
_RING = 2 * _KEEP
_RING_MASK = _RING - 1
#: how many kinds of request (routes) and scoring cells are kept
_MAX_ROUTES = 32768
_MAX_CELLS = 16384


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
        self._scorer = Scorer(self._specs, self.config, self._bandit, self._rng)
        self._thompson = self._scorer.thompson
        self._pool_size = self._scorer.pool_size
        self._draw_bits = (self._pool_size - 1).bit_length()
        self._getrandbits = self._rng.getrandbits
        self._groups: dict[tuple[str, str], ArmGroup] = {}
        #: kind of request (see the module doc) → its route
        self._routes: dict[tuple[Any, ...], Route] = {}
        #: candidate sets by number, and the one asked with last
        self._cand_ids: dict[tuple[str, ...], int] = {}
        self._cands: tuple[str, ...] = ()
        self._cands_id = -1
        self._cands_seen: Sequence[str] | None = None
        self._priors: dict[tuple[str, float, str], dict[str, PriorRow]] = {}
        self._fits: dict[tuple[str, ...], Fits] = {}
        self._limits: Limits = {
            name: (spec.context_window, spec.supports_tools, spec.last_resort)
            for name, spec in self._specs.items()
        }
        self._sizes = _size_thresholds(self._limits, self.rules)
        self._size_floor = self._sizes[0]
        self._ring: list[Decision | None] = [None] * _RING
        self._seq = 0
        self._let_go_upto = 0
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
        if cands is not self._cands_seen:
            self._candidate_set(cands)
        tokens = features.context_tokens
        key = (
            features.task_type,
            features.complexity,
            features.needs_tools,
            0 if tokens < self._size_floor else self._size_class(tokens),
            role,
            mode,
            self._cands_id,
        )
        route = self._routes.get(key)
        if route is None:
            route = self._route(features, role, mode, self._cands, key)
        snapshot = route.group.snapshot
        cell = route.cell
        draw = None
        if cell is None:
            index = route.index  # a rule decided
        elif self._thompson:
            if cell.scored is not snapshot:
                if cell.snapshot is snapshot and cell.lineup.snapshot is snapshot:
                    cell.winners = [-1] * self._pool_size
                    cell.scored = snapshot
                else:
                    self._scorer.restart(cell, snapshot)
            draw = self._getrandbits(self._draw_bits)
            index = cell.winners[draw]
            if index < 0:
                index = self._scorer.winner(cell, draw)
        elif cell.scored is snapshot:
            index = cell.index
        else:
            index = self._scorer.score(cell, snapshot)
        self._seq = seq = self._seq + 1
        decision = Decision(seq, route, snapshot, index, features, draw)
        self._ring[seq & _RING_MASK] = decision
        return decision

    def decision(self, decision_id: int) -> Decision | None:
        """A recent decision by id (the last 4096 are kept), or None."""
        if not 0 <= self._seq - decision_id < _KEEP:
            return None
        found = self._ring[decision_id & _RING_MASK]
        return found if found is not None and found.id == decision_id else None

    def _let_go(self) -> None:
        """Drop the ring's decisions older than the last 4096, so that freeing them (and
        what only they still hold: an old snapshot, features) happens here, after an
        outcome, rather than in :meth:`decide` when it reuses their slot."""
        upto = self._seq - _KEEP
        start = max(self._let_go_upto, upto - _RING)
        if upto > start:
            ring = self._ring
            for seq in range(start + 1, upto + 1):
                ring[seq & _RING_MASK] = None
            self._let_go_upto = upto

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
            rows = self._priors[key] = prior_rows(self._specs.values(), features, mode, self.config)
        return rows

    def _candidate_set(self, cands: Sequence[str]) -> None:
        """Make ``cands`` the candidate set of the decision at hand (``_cands``, and its
        number in ``_cands_id``); a tuple is remembered, so that asking with the same tuple
        again costs one identity check."""
        names = cands if type(cands) is tuple else tuple(cands)
        found = self._cand_ids.get(names)
        if found is None:
            if len(self._cand_ids) >= _MAX_ROUTES:
                self._cand_ids.clear()
                self._routes.clear()
            found = self._cand_ids[names] = len(self._cand_ids)
        self._cands, self._cands_id = names, found
        self._cands_seen = cands if type(cands) is tuple else None

    def _size_class(self, tokens: int) -> int:
        """Which stretch between the context windows and rule thresholds ``tokens`` is in
        (a threshold itself is a stretch of its own)."""
        sizes = self._sizes
        i = bisect_left(sizes, tokens)
        return 2 * i + (i < len(sizes) and sizes[i] == tokens)

    def _route(
        self,
        features: TaskFeatures,
        role: str,
        mode: str,
        cands: tuple[str, ...],
        key: tuple[Any, ...],
    ) -> Route:
        route = self._new_route(features, role, mode, cands)
        if len(self._routes) >= _MAX_ROUTES:
            self._routes.clear()
        self._routes[key] = route
        return route

    def _new_route(
        self, features: TaskFeatures, role: str, mode: str, cands: tuple[str, ...]
    ) -> Route:
        rows_by_name = self._prior_rows(features, mode)
        tokens, tools = features.context_tokens, features.needs_tools
        fits = self._fits.get(cands)
        if fits is None:
            for name in cands:
                self._spec(name)  # raises, naming an unknown model
            if len(self._fits) >= _MAX_ROUTES:
                self._fits.clear()
            fits = self._fits[cands] = fits_of(self._limits, cands)
        excluded: Sequence[tuple[str, str]]
        if tokens <= fits[0] and (fits[1] or not tools):
            # the request fits every candidate: the usual case, worked out once per set
            names, excluded = fits[2], fits[3]
        else:
            excluded = []
            names = usable_candidates(self._limits, features, cands, excluded)
        group = self._group(role, features.task_type)
        rows = [rows_by_name[n] for n in names]
        route = Route(
            features,
            role,
            mode,
            cands,
            names,
            excluded,
            rows,
            group,
            self._bandit,
            self.config,
            self._limits,
        )
        if self.rules:
            rule, route.notes = first_match(self.rules, features, role, mode, names.__contains__)
            if rule is not None:
                route.rule = rule
                route.index = names.index(rule.model)
                return route
        if self._scorer.cell_count >= _MAX_CELLS:
            self._forget()
        route.cell = self._scorer.cell(group, features.complexity, mode, names, rows)
        return route

    def _forget(self) -> None:
        """Drop the routes and cells (they are made again when next needed)."""
        self._routes.clear()
        self._scorer.forget(list(self._groups.values()))

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
        for group in self._groups.values():
            self._scorer.reset(group)
        self._routes.clear()

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
                    f"routing decision {decision} is not among the last {_KEEP} of this"
                    " process; record the outcome by (role, task_type, model)"
                )
            decision = found
        if isinstance(decision, Decision):
            key: ArmKey = (decision.role, decision.task_type, decision.model)
            if decision.recorded:
                return self._group(key[0], key[1]).arms[key[2]]
            row = decision.route.rows[decision.index]
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
        self._scorer.learned(group, key[2], arm)
        if isinstance(decision, Decision):
            decision.recorded = True
        if self.state is not None:
            self.state.record(key, success, cost_usd, latency_s, confidence, expected, source)
        self._let_go()
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


def _size_thresholds(limits: Limits, rules: Sequence[Rule]) -> list[float]:
    """The token counts at which a request may change what it can use or which rule
    fires: every model's context window and every number a rule compares tokens with."""
    points: set[float] = {float(window) for window, _tools, _resort in limits.values()}
    for rule in rules:
        for cond in rule.conditions:
            if cond.field != "context_tokens":
                continue
            values = cond.value if cond.op == "in" else (cond.value,)
            points.update(float(v) for v in values)
    return sorted(points)
