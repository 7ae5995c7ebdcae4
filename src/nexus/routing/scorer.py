"""Keeping the router's cells current, and deciding from them (M4, X3).

:class:`Scorer` builds the :mod:`nexus.routing.cells` of a (role, task type) when a
kind of request is first seen, brings them up to date when an outcome arrives
(:meth:`Scorer.learned`: one model's entries in every cell, the counts, UCB1's
bonuses, Thompson's pool), and works out a decision from a cell: UCB1's highest
total, or the winner of one of Thompson's pooled posterior samples.
"""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Iterable

from nexus.routing.bandits import Bandit, Thompson, cost_factor, posterior_sd
from nexus.routing.catalog import ModelSpec, RouterConfig
from nexus.routing.cells import Cell, Columns, Lineup
from nexus.routing.plan import ArmGroup, Entry, Snapshot
from nexus.routing.scoring import (
    ArmStats,
    Calibration,
    PriorRow,
    calibrated_nodes,
    calibration,
    prior_nodes,
)

__all__ = ["Scorer"]


class Scorer:
    """Keeps the cells and lineups of every (role, task type) current and decides from
    them (see the module doc). ``specs`` are the catalog's models; ``rng`` draws
    Thompson's normals; ``columns`` are the cells' shared columns by kind."""

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
