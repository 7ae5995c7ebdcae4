"""Learning from verified outcomes (X3): UCB1 and Thompson sampling per (role, task type).

Each (role, task type) is a bandit whose arms are the candidate models. The
reward of a step is its *verified* outcome per dollar, bounded to 0..1::

    reward = success × S / (S + cost_usd)

where ``success`` is 1 when the step's verification passed (tests green, gate
passed, validator approved) and ``S`` is the reward scale (``reward_scale_usd``
times the mode's factor): a free success earns 1, a success that costs ``S``
earns 0.5, a failure earns 0 whatever it cost. The expected reward of an arm is
its blended success rate ``p`` times ``S / (S + expected cost)``.

- **UCB1** adds the exploration bonus ``explore × sqrt(2 ln N / n)`` to the
  expected reward, where ``n`` counts the arm's outcomes plus its prior weight
  and ``N`` is the sum over the candidates: deterministic, it tries an arm again
  when its bonus outgrows the leader's margin.
- **Thompson sampling** draws the success rate from the arm's posterior
  (a Beta with the prior as pseudo-outcomes, drawn through its normal
  approximation ``p + z·sd``, sd² = p(1-p)/(a+b+1)) and multiplies by the cost
  factor. The normals ``z`` are drawn once per outcome into a small pool per
  (role, task type), so a decision picks one pre-drawn sample instead of
  drawing ten: see :class:`Thompson`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

__all__ = [
    "THOMPSON_POOL",
    "UCB1",
    "Bandit",
    "Thompson",
    "cost_factor",
    "draw_value",
    "posterior_sd",
    "reward",
]

#: How many joint posterior samples a Thompson pool holds per (role, task type).
THOMPSON_POOL = 32


def reward(success: bool, cost_usd: float, scale_usd: float) -> float:
    """The bounded reward of one verified outcome: ``success × S / (S + cost)``."""
    if not success:
        return 0.0
    return scale_usd / (scale_usd + max(0.0, cost_usd))


def cost_factor(cost_usd: float, scale_usd: float) -> float:
    """``S / (S + cost)``: how much of a success's reward is left after its price."""
    return scale_usd / (scale_usd + max(0.0, cost_usd))


def posterior_sd(p: float, count: float) -> float:
    """The spread of an arm's success rate around ``p`` after ``count`` outcomes (the
    prior's weight included): the normal approximation of its Beta posterior."""
    return math.sqrt(max(p * (1.0 - p), 0.0) / (count + 1.0))


def draw_value(p: float, sd: float, factor: float, z: float) -> float:
    """One posterior draw of an arm's reward from the standard normal ``z``: the success
    rate ``p + z·sd`` times the cost ``factor``, kept within 0..factor."""
    v = (p + z * sd) * factor
    return v if 0.0 <= v <= factor else (0.0 if v < 0.0 else factor)


class Bandit:
    """The History node's exploration: none (the expected reward alone)."""

    name = "expected"

    def bonuses(self, counts: Sequence[float]) -> list[float]:
        """Per candidate, what exploration adds to its expected reward."""
        return [0.0] * len(counts)

    def values(
        self,
        p: Sequence[float],
        cost: Sequence[float],
        counts: Sequence[float],
        scale_usd: float,
    ) -> list[float]:
        """The History value of each candidate: expected reward plus its bonus."""
        return [
            pi * cost_factor(ci, scale_usd) + bonus
            for pi, ci, bonus in zip(p, cost, self.bonuses(counts), strict=True)
        ]


class UCB1(Bandit):
    """Expected reward plus ``explore × sqrt(2 ln N / n)``; ``counts`` hold each arm's
    outcomes plus its prior weight, ``N`` is their sum."""

    name = "ucb1"

    def __init__(self, explore: float = 0.3) -> None:
        self.explore = explore

    def bonuses(self, counts: Sequence[float]) -> list[float]:
        log_total = 2.0 * math.log(max(sum(counts), 1.0))
        explore = self.explore
        return [explore * math.sqrt(log_total / n) for n in counts]


class Thompson(Bandit):
    """Posterior draws of the reward; no deterministic bonus (``bonuses`` are 0, so
    explain shows the expected reward). :meth:`draws` gives ``len(normals[i])`` samples
    per candidate."""

    name = "thompson"

    def __init__(self, pool_size: int = THOMPSON_POOL) -> None:
        if pool_size < 1 or pool_size & (pool_size - 1):
            raise ValueError(f"the Thompson pool size must be a power of two, not {pool_size}")
        self.pool_size = pool_size

    def normals(self, rng: random.Random) -> list[float]:
        """A fresh pool of standard normal draws for one arm: the numbers ``rng.gauss(0, 1)``
        would give (the Box-Muller transform, a pair per two uniform draws), without its
        per-call overhead."""
        uniform, log, sqrt, cos, sin, tau = (
            rng.random,
            math.log,
            math.sqrt,
            math.cos,
            math.sin,
            math.tau,
        )
        pool: list[float] = []
        for _ in range((self.pool_size + 1) // 2):
            angle = uniform() * tau
            radius = sqrt(-2.0 * log(1.0 - uniform()))
            pool.append(cos(angle) * radius)
            pool.append(sin(angle) * radius)
        del pool[self.pool_size :]
        return pool

    def draws(
        self,
        p: Sequence[float],
        cost: Sequence[float],
        counts: Sequence[float],
        scale_usd: float,
        normals: Sequence[Sequence[float]],
    ) -> list[list[float]]:
        """``result[i][j]``: draw ``j`` of candidate ``i``'s reward, from ``normals[i][j]``;
        ``counts[i]`` is the arm's outcomes plus its prior weight."""
        columns: list[list[float]] = []
        for pi, ci, ni, zs in zip(p, cost, counts, normals, strict=True):
            sd = posterior_sd(pi, ni)
            factor = cost_factor(ci, scale_usd)
            columns.append([draw_value(pi, sd, factor, z) for z in zs])
        return columns
