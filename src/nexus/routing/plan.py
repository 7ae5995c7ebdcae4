"""What a routing decision points at (M4): the route of a request, what a (role, task
type) had learned when it was decided, and the plan that explains it.

- A :class:`Snapshot` is what one (role, task type) had learned at one version:
  the arms, their calibrations and counts, Thompson's pool of normal draws. A new
  snapshot replaces it with every outcome, so a decision keeps the one it was made on.
- A :class:`Route` is what the router worked out once for a kind of request — a
  (task type, complexity, tools, size class, role, mode, candidates): the candidates
  that can take it and why others cannot, the rule that fired, the prior rows, and
  the scoring cell that the router keeps current (:mod:`nexus.routing.cells`).
- A :class:`RoutePlan` is a route scored against a snapshot the straightforward way:
  every node of every candidate, the totals, the rule or the best total, Thompson's
  winners over the whole pool. It is built only when someone asks why (explain, the
  route meta); deciding reads the cells, which give the same choice.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence
from typing import TYPE_CHECKING

from nexus.routing.analyzer import TaskFeatures
from nexus.routing.bandits import Bandit, Thompson
from nexus.routing.catalog import RouterConfig
from nexus.routing.decision import Limits, usable_candidates
from nexus.routing.rules import Rule
from nexus.routing.scoring import (
    MODE_REWARD_SCALE,
    NODES,
    ArmStats,
    Calibration,
    PriorRow,
    score_candidates,
    weights_for,
)

if TYPE_CHECKING:
    from nexus.routing.cells import Cell, Lineup

__all__ = ["ArmGroup", "Entry", "Route", "RoutePlan", "Snapshot"]


#: What a snapshot knows of one model with outcomes: its arm (the live sums), its
#: calibration at that version (None for a model the catalog does not have) and its count
#: at that version (outcomes plus the prior's weight).
Entry = tuple[ArmStats, Calibration | None, float]


class Snapshot:
    """What one (role, task type) had learned at ``version``: an :data:`Entry` per model
    with outcomes, and Thompson's pool of ``normals`` per model (drawn afresh with every
    outcome). Replaced, never changed, when an outcome arrives — except that a model's
    normals are added the first time it is a candidate."""

    __slots__ = ("entries", "normals", "version")

    def __init__(
        self,
        version: int = 0,
        entries: dict[str, Entry] | None = None,
        normals: dict[str, array[float]] | None = None,
    ) -> None:
        self.version = version
        self.entries: dict[str, Entry] = entries or {}
        self.normals: dict[str, array[float]] = normals or {}

    @property
    def arms(self) -> dict[str, ArmStats]:
        """The arms with outcomes at this version (live objects)."""
        return {name: entry[0] for name, entry in self.entries.items()}

    def calibration(self, name: str) -> Calibration | None:
        entry = self.entries.get(name)
        return None if entry is None else entry[1]

    def count(self, name: str, prior_strength: float) -> float:
        """The bandits' count of ``name``: its outcomes plus the prior's weight."""
        entry = self.entries.get(name)
        return prior_strength if entry is None else entry[2]


class ArmGroup:
    """The arms of one (role, task type); ``version`` grows with every outcome and
    ``snapshot`` is what they say at that version. ``cells`` and ``lineups`` are the
    scores the router keeps current for this group (see :mod:`nexus.routing.cells`)."""

    __slots__ = ("arms", "cells", "lineups", "role", "snapshot", "task_type", "version")

    def __init__(self, role: str, task_type: str) -> None:
        self.role = role
        self.task_type = task_type
        self.arms: dict[str, ArmStats] = {}
        self.version = 0
        self.snapshot = Snapshot()
        self.cells: dict[tuple[float, str, tuple[str, ...]], Cell] = {}
        self.lineups: dict[tuple[str, ...], Lineup] = {}


class Route:
    """What the router worked out once for a kind of request: ``names`` (the candidates
    that can take it, in the caller's order), ``excluded`` (the others, and why, for the
    first request of the kind: ``features``), the ``rule`` that fired and ``index`` (its
    model's position), the prior ``rows``, and the ``cell`` that scores ``names`` (None
    when a rule decides)."""

    __slots__ = (
        "_plan",
        "bandit",
        "candidates",
        "cell",
        "config",
        "excluded",
        "features",
        "group",
        "index",
        "limits",
        "mode",
        "names",
        "notes",
        "role",
        "rows",
        "rule",
    )

    def __init__(
        self,
        features: TaskFeatures,
        role: str,
        mode: str,
        candidates: tuple[str, ...],
        names: tuple[str, ...],
        excluded: Sequence[tuple[str, str]],
        rows: list[PriorRow],
        group: ArmGroup,
        bandit: Bandit,
        config: RouterConfig,
        limits: Limits,
    ) -> None:
        self.features = features
        self.role = role
        self.mode = mode
        self.candidates = candidates
        self.names = names
        self.excluded = excluded
        self.rows = rows
        self.group = group
        self.bandit = bandit
        self.config = config
        self.limits = limits
        self.rule: Rule | None = None
        self.notes: Sequence[str] = ()
        self.index = 0
        self.cell: Cell | None = None
        self._plan: RoutePlan | None = None

    @property
    def strategy(self) -> str:
        return self.bandit.name

    def plan(self, snapshot: Snapshot, features: TaskFeatures) -> RoutePlan:
        """The explainable plan of this route for ``features`` at ``snapshot`` (the last
        one built is kept: the decisions of one step usually ask for the same)."""
        plan = self._plan
        if plan is None or plan.snapshot is not snapshot or plan.features.key != features.key:
            plan = self._plan = RoutePlan(self, snapshot, features)
        return plan


class RoutePlan:
    """A route scored against a snapshot, the straightforward way (see the module doc).

    ``candidates``: the models that can take the request; ``totals[i]``: their weighted
    totals; ``nodes[i]``: their six node scores (worked out when first asked for);
    ``index``: the rule's model, else the highest total (with Thompson sampling, the
    best expected reward); ``winners``: with Thompson sampling, the candidate each of
    the pool's posterior samples makes the best; ``excluded``: models left out and why.
    """

    __slots__ = (
        "_nodes",
        "_winners",
        "arms",
        "bonuses",
        "calibrations",
        "counts",
        "excluded",
        "features",
        "index",
        "reasons",
        "route",
        "snapshot",
        "totals",
    )

    def __init__(self, route: Route, snapshot: Snapshot, features: TaskFeatures) -> None:
        self.route = route
        self.snapshot = snapshot
        self.features = features
        if features.key == route.features.key:
            self.excluded = route.excluded
        else:
            excluded: list[tuple[str, str]] = []
            usable_candidates(route.limits, features, route.candidates, excluded)
            self.excluded = excluded
        names, rows, config = route.names, route.rows, route.config
        count = len(names)
        k = config.prior_strength
        weights = weights_for(route.mode)
        known = snapshot.arms
        cals: list[Calibration | None] = [None] * count
        if known:
            cals = [snapshot.calibration(n) for n in names]
        self.calibrations = cals
        bandit = route.bandit
        thompson = isinstance(bandit, Thompson)
        if not known or (cals.count(None) == count and not thompson):
            # no outcomes: History is the expected reward plus one shared bonus
            self.arms: list[ArmStats | None] = [None] * count
            self.counts = [k] * count
            shared = bandit.bonuses(self.counts)[0]
            self.bonuses = [shared] * count
            w_bonus = weights[4] * shared
            self.totals = [row[8] + w_bonus for row in rows]
        else:
            self.arms = [known.get(n) for n in names]
            self.counts = [snapshot.count(n, k) for n in names]
            self.bonuses = bandit.bonuses(self.counts)
            self.totals = score_candidates(rows, cals, self.bonuses, route.mode, config)
        self.index = route.index if route.rule is not None else self.totals.index(max(self.totals))
        self._nodes: list[tuple[float, ...]] | None = None
        self._winners: list[int] | None = None
        self.reasons: dict[int, str] | None = None

    # the route's side, under the names a plan always had
    @property
    def candidates(self) -> tuple[str, ...]:
        return self.route.names

    @property
    def rows(self) -> list[PriorRow]:
        return self.route.rows

    @property
    def rule(self) -> Rule | None:
        return self.route.rule

    @property
    def notes(self) -> Sequence[str]:
        return self.route.notes

    @property
    def role(self) -> str:
        return self.route.role

    @property
    def mode(self) -> str:
        return self.route.mode

    @property
    def strategy(self) -> str:
        return self.route.strategy

    @property
    def config(self) -> RouterConfig:
        return self.route.config

    @property
    def group(self) -> ArmGroup:
        return self.route.group

    @property
    def version(self) -> int:
        return self.snapshot.version

    @property
    def weights(self) -> tuple[float, ...]:
        return weights_for(self.route.mode)

    @property
    def nodes(self) -> list[tuple[float, ...]]:
        """Per candidate, the six node scores in the order of ``NODES``."""
        if self._nodes is None:
            nodes: list[tuple[float, ...]] = []
            score_candidates(
                self.rows, self.calibrations, self.bonuses, self.mode, self.config, nodes=nodes
            )
            self._nodes = nodes
        return self._nodes

    @property
    def winners(self) -> list[int] | None:
        """With Thompson sampling and no rule: the candidate each of the pool's joint
        posterior samples makes the best (its draws are the snapshot's normals)."""
        route = self.route
        bandit = route.bandit
        if not isinstance(bandit, Thompson) or route.rule is not None:
            return None
        if self._winners is None:
            expected: list[tuple[float, float, float]] = []
            score_candidates(
                self.rows,
                self.calibrations,
                self.bonuses,
                self.mode,
                self.config,
                expectations=expected,
            )
            normals = [self.snapshot.normals[name] for name in self.candidates]
            scale = self.config.reward_scale_usd * MODE_REWARD_SCALE[self.mode]
            columns = bandit.draws(
                [e[0] for e in expected], [e[1] for e in expected], self.counts, scale, normals
            )
            w_history = self.weights[4]
            totals = [
                [e[2] + w_history * h for h in column]
                for e, column in zip(expected, columns, strict=True)
            ]
            self._winners = [row.index(max(row)) for row in zip(*totals, strict=True)]
        return self._winners

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
        names, totals = self.candidates, self.totals
        head = f"{self.mode} mode"
        if self.winners is not None and index != self.index:
            head += f", Thompson draw (expected best {names[self.index]})"
        text = f"{head}: {names[index]} scored {totals[index]:.3f}"
        others = [i for i in range(len(names)) if i != index]
        if others:
            runner = max(others, key=totals.__getitem__)
            weights, nodes = self.weights, self.nodes
            gains = sorted(
                (
                    (weights[n] * (nodes[index][n] - nodes[runner][n]), NODES[n])
                    for n in range(len(NODES))
                ),
                reverse=True,
            )
            ahead = ", ".join(f"{node} +{gain:.3f}" for gain, node in gains[:2] if gain > 0.0005)
            text += f" vs {names[runner]} {totals[runner]:.3f}"
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
