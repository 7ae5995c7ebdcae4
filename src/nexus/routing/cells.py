"""The router's incremental scores (M4, X3): what a decision reads instead of scoring.

A decision's total for a candidate has a part that depends on the task's kind — its
prior row, per (task type, complexity, mode) — and a part that depends on what the
(role, task type) learned about the model. Both change rarely: the first only once
per kind, the second once per outcome, and then only for the one model the outcome
was about. So the router keeps, per (role, task type):

- a :class:`Lineup` per set of usable candidates: each candidate's count (outcomes
  plus the prior's weight) and what the counts give all of them — UCB1's exploration
  bonuses, or Thompson's pool of posterior normals laid out by sample;
- a :class:`Cell` per (complexity, mode, lineup): each candidate's node values before
  the bandit (the weighted base and the expected reward; for Thompson, also the
  success rate, its posterior spread and the cost factor).

:meth:`Scorer.learned`, called by ``record_outcome``, replaces the group's
:class:`~nexus.routing.plan.Snapshot` and updates the one model's entry in every cell
of the group and the lineups' counts, so a decision after an outcome only adds up
ten totals (UCB1) or the ten draws of one pooled sample (Thompson) and takes the
best. The arithmetic is the one :class:`~nexus.routing.plan.RoutePlan` does (the
same helpers, the same order of operations), so the choice is the same to the bit.
"""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Iterable

from nexus.routing.bandits import Bandit, Thompson, cost_factor, posterior_sd
from nexus.routing.catalog import ModelSpec, RouterConfig
from nexus.routing.plan import ArmGroup, Entry, Snapshot
from nexus.routing.scoring import (
    MODE_REWARD_SCALE,
    ArmStats,
    Calibration,
    PriorRow,
    calibrated_nodes,
    calibration,
    prior_nodes,
    weights_for,
)

__all__ = ["Cell", "Columns", "Lineup", "Scorer"]


class Lineup:
    """The usable candidates ``names`` of one (role, task type) at ``snapshot``: their
    ``counts``; for UCB1 whether any has outcomes (``mixed``) and the exploration
    ``bonuses`` (``shared``: the one bonus when none has); for Thompson the pool of
    normals by sample (``columns[j][i]``: sample ``j`` of candidate ``i``)."""

    __slots__ = ("bonuses", "columns", "counts", "mixed", "names", "shared", "snapshot")

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = names
        self.snapshot: Snapshot | None = None
        self.counts: list[float] = []
        self.mixed = False
        self.bonuses = array("d")
        self.shared = 0.0
        self.columns: list[array[float]] = []


class Columns:
    """What the cells of one kind — (task type, complexity, mode, names) — share whatever
    the role: the prior rows and, per candidate in contiguous arrays, the values the
    updates read (``fit``, ``p0``, ``cost0``, ``per_call``) and the entries of a candidate
    without outcomes (``prior_*``; ``prior_totals`` being the total without exploration)."""

    __slots__ = (
        "cost0",
        "fit",
        "mode",
        "p0",
        "per_call",
        "positions",
        "prior_bases",
        "prior_factor",
        "prior_p",
        "prior_rewards",
        "prior_sd",
        "prior_totals",
        "reward_scale",
        "rows",
        "weights",
    )

    def __init__(
        self,
        names: tuple[str, ...],
        rows: list[PriorRow],
        mode: str,
        config: RouterConfig,
        thompson: bool,
    ) -> None:
        self.rows = rows
        self.mode = mode
        self.weights = weights_for(mode)
        self.reward_scale = scale = config.reward_scale_usd * MODE_REWARD_SCALE[mode]
        self.positions = {name: i for i, name in enumerate(names)}
        self.fit = array("d", [row[0] for row in rows])
        self.p0 = array("d", [row[1] for row in rows])
        self.cost0 = array("d", [row[6] for row in rows])
        self.per_call = array("d", [row[10] for row in rows])
        self.prior_totals = array("d", [row[8] for row in rows])
        self.prior_bases = array("d", [row[5] for row in rows])
        self.prior_rewards = array("d", [row[9] for row in rows])
        self.prior_p = self.prior_sd = self.prior_factor = array("d")
        if thompson:
            k = config.prior_strength
            self.prior_p = self.p0
            self.prior_sd = array("d", [posterior_sd(row[1], k) for row in rows])
            self.prior_factor = array("d", [cost_factor(row[6], scale) for row in rows])


class Cell:
    """The node values of a lineup for one (complexity, mode), current as of ``snapshot``.

    Per candidate ``i``, in contiguous arrays: from the shared :class:`Columns` ``fit``,
    ``p0``, ``cost0``, ``per_call`` and ``prior_totals``; what the outcomes make of
    them, ``bases`` (the weighted nodes other than History) and ``rewards`` (the
    expected reward); for Thompson ``p`` (the success rate), ``sd`` (its posterior
    spread) and ``factor`` (the cost factor). ``scored`` is the snapshot that ``index``
    (UCB1's choice) or ``winners`` (Thompson's choice per pooled sample, -1 until asked
    for) belong to; ``totals`` are the last totals it compared.
    """

    __slots__ = (
        "bases",
        "columns",
        "cost0",
        "factor",
        "fit",
        "index",
        "lineup",
        "mode",
        "p",
        "p0",
        "per_call",
        "positions",
        "prior_totals",
        "reward_scale",
        "rewards",
        "rows",
        "scored",
        "sd",
        "snapshot",
        "totals",
        "w_history",
        "weights",
        "winners",
    )

    def __init__(self, lineup: Lineup, columns: Columns) -> None:
        self.lineup = lineup
        self.columns = columns
        self.rows = columns.rows
        self.mode = columns.mode
        self.weights = columns.weights
        self.w_history = columns.weights[4]
        self.reward_scale = columns.reward_scale
        self.positions = columns.positions
        self.fit = columns.fit
        self.p0 = columns.p0
        self.cost0 = columns.cost0
        self.per_call = columns.per_call
        self.prior_totals = columns.prior_totals
        # worked out by Scorer.rebuild (the last three for Thompson only)
        self.bases = self.rewards = self.p = self.sd = self.factor = array("d")
        self.snapshot: Snapshot | None = None
        self.scored: Snapshot | None = None
        self.index = 0
        self.totals: list[float] = []
        self.winners: list[int] = []


class Scorer:
    """Keeps the cells and lineups of every (role, task type) current and decides from
    them (see the module doc). ``specs`` are the catalog's models; ``rng`` draws
    Thompson's normals."""

    def __init__(
        self,
        specs: dict[str, ModelSpec],
        config: RouterConfig,
        bandit: Bandit,
        rng: random.Random,
    ) -> None:
        self.specs = specs
        self.config = config
        self.bandit = bandit
        self.rng = rng
        self.thompson = isinstance(bandit, Thompson)
        self.pool_size = bandit.pool_size if isinstance(bandit, Thompson) else 1
        self.prior_strength = config.prior_strength
        self.cell_count = 0
        self.columns: dict[tuple[str, float, str, tuple[str, ...]], Columns] = {}

    # -- building -------------------------------------------------------------------------

    def cell(
        self,
        group: ArmGroup,
        complexity: float,
        mode: str,
        names: tuple[str, ...],
        rows: list[PriorRow],
    ) -> Cell:
        """The group's cell for (complexity, mode, names), made current when new."""
        key = (complexity, mode, names)
        cell = group.cells.get(key)
        if cell is None:
            lineup = group.lineups.get(names)
            if lineup is None:
                lineup = group.lineups[names] = Lineup(names)
                self.refresh(lineup, group.snapshot)
            kind = (group.task_type, complexity, mode, names)
            columns = self.columns.get(kind)
            if columns is None:
                columns = self.columns[kind] = Columns(
                    names, rows, mode, self.config, self.thompson
                )
            cell = group.cells[key] = Cell(lineup, columns)
            self.rebuild(cell, group.snapshot)
            self.cell_count += 1
        return cell

    def refresh(self, lineup: Lineup, snapshot: Snapshot) -> None:
        """Work out the lineup's counts and what they give at ``snapshot``."""
        k = self.prior_strength
        names = lineup.names
        lineup.counts = [snapshot.count(name, k) for name in names]
        if self.thompson:
            normals = snapshot.normals
            for name in names:
                if name not in normals:
                    normals[name] = self.draw_pool()
            pools = [normals[name] for name in names]
            lineup.columns = [array("d", column) for column in zip(*pools, strict=True)]
        else:
            entries = snapshot.entries
            lineup.mixed = any(entries[name][1] is not None for name in names if name in entries)
            if lineup.mixed:
                lineup.bonuses = array("d", self.bandit.bonuses(lineup.counts))
            else:
                lineup.shared = self.bandit.bonuses([k] * len(names))[0]
        lineup.snapshot = snapshot

    def rebuild(self, cell: Cell, snapshot: Snapshot) -> None:
        """Work out every entry of ``cell`` at ``snapshot``."""
        columns = cell.columns  # the entries without outcomes, then those with
        cell.bases = array("d", columns.prior_bases)
        cell.rewards = array("d", columns.prior_rewards)
        if self.thompson:
            cell.p = array("d", columns.prior_p)
            cell.sd = array("d", columns.prior_sd)
            cell.factor = array("d", columns.prior_factor)
        entries = snapshot.entries
        if entries:
            for i, name in enumerate(cell.lineup.names):
                if name in entries:
                    self.fill(cell, i, snapshot)
        cell.snapshot = snapshot

    def fill(self, cell: Cell, i: int, snapshot: Snapshot) -> None:
        """Work out candidate ``i``'s entry of ``cell`` at ``snapshot``."""
        name = cell.lineup.names[i]
        row = cell.rows[i]
        config = self.config
        cal = snapshot.calibration(name)
        if cal is None:
            p, cost, _speed, _cost_score, _conf, base, reward = prior_nodes(row)
        else:
            p, cost, _speed, _cost_score, _conf, base, reward = calibrated_nodes(
                row,
                cal,
                cell.weights,
                config.latency_scale_s,
                config.reward_scale_usd,
                cell.reward_scale,
            )
        cell.bases[i] = base
        cell.rewards[i] = reward
        if self.thompson:
            cell.p[i] = p
            cell.sd[i] = posterior_sd(p, snapshot.count(name, self.prior_strength))
            cell.factor[i] = cost_factor(cost, cell.reward_scale)

    def draw_pool(self) -> array[float]:
        """A fresh pool of standard normals for one arm (Thompson)."""
        bandit = self.bandit
        assert isinstance(bandit, Thompson)
        return array("d", bandit.normals(self.rng))

    # -- learning -------------------------------------------------------------------------

    def learned(self, group: ArmGroup, model: str, arm: ArmStats) -> None:
        """An outcome changed ``arm`` (of ``model``) in ``group``: a new snapshot, and the
        model's entries and the counts brought up to date in every cell and lineup."""
        old = group.snapshot
        k = self.prior_strength
        spec = self.specs.get(model)
        cal = calibration(arm, k, spec.confidence) if arm.n and spec is not None else None
        entries = dict(old.entries)
        entries[model] = (arm, cal, arm.n + k)
        normals: dict[str, array[float]] = {}
        if self.thompson:
            # a fresh joint pool with every outcome, for every model drawn so far
            normals = {name: self.draw_pool() for name in old.normals}
        snapshot = group.snapshot = Snapshot(group.version, entries, normals)
        for lineup in group.lineups.values():
            if self.thompson or model in lineup.names or lineup.snapshot is not old:
                self.refresh(lineup, snapshot)
            else:
                lineup.snapshot = snapshot
        if cal is None:  # a model the catalog does not have: no cell holds it
            for cell in group.cells.values():
                if cell.snapshot is old:
                    cell.snapshot = snapshot
            return
        self._update(group.cells.values(), model, cal, arm.n + k, old, snapshot)

    def _update(
        self,
        cells: Iterable[Cell],
        model: str,
        cal: Calibration,
        count: float,
        old: Snapshot,
        snapshot: Snapshot,
    ) -> None:
        """Work out ``model``'s entry anew in every cell that holds it: the arithmetic of
        :func:`~nexus.routing.scoring.calibrated_nodes` (and, for Thompson, of
        :func:`~nexus.routing.bandits.posterior_sd` and ``cost_factor``), written out
        in one loop because an outcome updates every cell of its (role, task type)."""
        p_ratio, cost_ratio, observed_cost, latency_ratio, conf = cal
        latency_scale = self.config.latency_scale_s
        cost_scale = self.config.reward_scale_usd
        thompson = self.thompson
        sqrt = math.sqrt
        for cell in cells:
            if cell.snapshot is not old:
                self.rebuild(cell, snapshot)  # missed an outcome: everything anew
                continue
            cell.snapshot = snapshot
            i = cell.positions.get(model)
            if i is None:
                continue
            w_fit, w_quality, w_speed, w_cost, _w_history, w_conf = cell.weights
            reward_scale = cell.reward_scale
            p = cell.p0[i] * p_ratio
            if p > 0.999:
                p = 0.999
            cost = cell.cost0[i] * cost_ratio if cost_ratio >= 0.0 else observed_cost
            speed = latency_scale / (latency_scale + cell.per_call[i] * latency_ratio)
            cost_score = cost_scale / (cost_scale + cost)
            cell.rewards[i] = p * reward_scale / (reward_scale + cost)
            cell.bases[i] = (
                w_fit * cell.fit[i]
                + w_quality * p
                + w_speed * speed
                + w_cost * cost_score
                + w_conf * conf
            )
            if thompson:
                cell.p[i] = p
                cell.sd[i] = sqrt(max(p * (1.0 - p), 0.0) / (count + 1.0))
                cell.factor[i] = reward_scale / (reward_scale + max(0.0, cost))

    def reset(self, group: ArmGroup) -> None:
        """The group's arms were replaced (loaded, reloaded): a snapshot of them all;
        cells and lineups are made again when next needed."""
        k = self.prior_strength
        entries: dict[str, Entry] = {}
        for name, arm in group.arms.items():
            spec = self.specs.get(name)
            cal = calibration(arm, k, spec.confidence) if arm.n and spec is not None else None
            entries[name] = (arm, cal, arm.n + k)
        group.snapshot = Snapshot(group.version, entries, {})
        self.cell_count -= len(group.cells)
        group.cells.clear()
        group.lineups.clear()

    def forget(self, groups: list[ArmGroup]) -> None:
        """Drop every cell and lineup (they are made again when next needed)."""
        for group in groups:
            group.cells.clear()
            group.lineups.clear()
        self.columns.clear()
        self.cell_count = 0

    # -- deciding -------------------------------------------------------------------------

    def _current(self, cell: Cell, snapshot: Snapshot) -> Lineup:
        if cell.snapshot is not snapshot:
            self.rebuild(cell, snapshot)  # a cell no group keeps current any more
        lineup = cell.lineup
        if lineup.snapshot is not snapshot:
            self.refresh(lineup, snapshot)
        return lineup

    def score(self, cell: Cell, snapshot: Snapshot) -> int:
        """UCB1: the candidate with the highest total at ``snapshot`` (the first of equals)."""
        lineup = cell.lineup
        if cell.snapshot is not snapshot or lineup.snapshot is not snapshot:
            lineup = self._current(cell, snapshot)
        w_history = cell.w_history
        if lineup.mixed:
            totals = [
                base + w_history * (reward + bonus)
                for base, reward, bonus in zip(
                    cell.bases, cell.rewards, lineup.bonuses, strict=True
                )
            ]
        else:
            w_bonus = w_history * lineup.shared
            totals = [total + w_bonus for total in cell.prior_totals]
        cell.totals = totals
        cell.index = index = totals.index(max(totals))
        cell.scored = snapshot
        return index

    def restart(self, cell: Cell, snapshot: Snapshot) -> None:
        """Thompson: forget the winners of the previous snapshot's pool (the router does
        the same itself when the cell and its lineup are current)."""
        self._current(cell, snapshot)
        cell.winners = [-1] * self.pool_size
        cell.scored = snapshot

    def winner(self, cell: Cell, draw: int) -> int:
        """Thompson: the candidate that pooled sample ``draw`` makes the best."""
        w_history = cell.w_history
        totals = [
            base + w_history * (v if 0.0 <= v <= factor else (0.0 if v < 0.0 else factor))
            for base, p, sd, factor, z in zip(
                cell.bases, cell.p, cell.sd, cell.factor, cell.lineup.columns[draw], strict=True
            )
            for v in ((p + z * sd) * factor,)
        ]
        cell.totals = totals
        cell.winners[draw] = index = totals.index(max(totals))
        return index
