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

:meth:`~nexus.routing.scorer.Scorer.learned`, called by ``record_outcome``, replaces the group's
:class:`~nexus.routing.plan.Snapshot` and updates the one model's entry in every cell
of the group and the lineups' counts, so a decision after an outcome only adds up
ten totals (UCB1) or the ten draws of one pooled sample (Thompson) and takes the
best. The arithmetic is the one :class:`~nexus.routing.plan.RoutePlan` does (the
same helpers, the same order of operations), so the choice is the same to the bit.
The :class:`~nexus.routing.scorer.Scorer` keeps the cells current and decides from them.
"""

from __future__ import annotations

from array import array

from nexus.routing.bandits import cost_factor, posterior_sd
from nexus.routing.catalog import RouterConfig
from nexus.routing.plan import Snapshot
from nexus.routing.scoring import MODE_REWARD_SCALE, PriorRow, weights_for

__all__ = ["Cell", "Columns", "Lineup"]


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
