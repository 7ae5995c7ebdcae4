"""The scoring nodes (M4): six numbers per candidate model, weighted by a priority mode.

Each node scores a candidate between 0 and 1 (History may exceed 1 by its
exploration bonus):

- **TaskFit**: the catalog's fit of the model for the task type, +0.05 for a
  reasoning model on a high-complexity analysis or debugging task.
- **Quality**: the expected chance that the step passes verification. The
  catalog prior ``p0`` is the quality ``q`` shifted by task fit and lowered by
  complexity ``c`` as ``q^(0.5 + 1.5c)``. Outcomes calibrate it: each outcome
  also records what the prior expected of that task, and the estimate is ``p0``
  times the ratio of observed to expected successes (:func:`calibration`) — so a
  model that did better than expected on easy tasks is raised on hard ones too,
  and the prior counts as ``k`` = ``prior_strength`` outcomes that went as expected.
- **Speed**: ``L / (L + t)`` where ``t`` is the expected time per model call:
  the step's expected duration (catalog ``ttft_s`` and ``tokens_per_s`` over the
  step's expected calls and tokens, calibrated by observed step durations the
  same way) divided by its expected calls; ``L`` is ``latency_scale_s``. Per call,
  so that a fast model scores the same on short and long tasks.
- **Cost**: ``S / (S + cost)`` with the expected step cost (prices × expected
  tokens, calibrated by observed costs) and ``S`` = ``reward_scale_usd``.
- **History**: the bandit's value of the arm (see :mod:`nexus.routing.bandits`):
  verified success per dollar, with UCB1's exploration bonus or a Thompson draw.
- **Confidence**: the mean confidence the model's answers stated in this
  (role, task type), the catalog's ``confidence`` prior counting as
  ``prior_strength`` answers.

The total is the mode's weighted sum. An arm with at least 20 outcomes and a
success rate of 85 % or more is reported as a *proven performer*; unlike the
router this design started from, it earns no bonus: a flat 10 % on the total
locked Thompson sampling onto whichever strong model first crossed the line
(the bandits already favour a model with a good record).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from nexus.routing.analyzer import TASK_TYPES, TaskFeatures
from nexus.routing.catalog import ModelSpec, RouterConfig

__all__ = [
    "MODES",
    "MODE_REWARD_SCALE",
    "MODE_WEIGHTS",
    "NODES",
    "ArmStats",
    "Calibration",
    "NodeValues",
    "PriorRow",
    "calibrated_nodes",
    "calibration",
    "prior_nodes",
    "prior_row",
    "prior_rows",
    "prior_success",
    "score_candidates",
    "step_shape",
    "weights_for",
]

NODES: tuple[str, ...] = ("task_fit", "quality", "speed", "cost", "history", "confidence")
MODES: tuple[str, ...] = ("speed", "quality", "cost", "balance")

#: Node weights per priority mode, in the order of :data:`NODES`; each row sums to 1.
MODE_WEIGHTS: dict[str, tuple[float, ...]] = {
    "speed": (0.10, 0.15, 0.40, 0.10, 0.20, 0.05),
    "quality": (0.10, 0.45, 0.05, 0.05, 0.25, 0.10),
    "cost": (0.10, 0.15, 0.05, 0.45, 0.20, 0.05),
    "balance": (0.15, 0.30, 0.10, 0.20, 0.20, 0.05),
}
#: The History node's reward scale per mode, as a multiple of ``reward_scale_usd``:
#: a quality-first agent values a success more against its price than a cost-first one.
MODE_REWARD_SCALE: dict[str, float] = {"speed": 1.0, "quality": 10.0, "cost": 0.25, "balance": 1.0}

PROVEN_MIN_OUTCOMES = 20
PROVEN_MIN_SUCCESS = 0.85

_REASONING_TYPES = frozenset({"analysis", "debug"})


def weights_for(mode: str) -> tuple[float, ...]:
    """The node weights of ``mode``; ValueError names the known modes."""
    try:
        return MODE_WEIGHTS[mode]
    except KeyError:
        raise ValueError(f"unknown priority mode '{mode}'; known: {', '.join(MODES)}") from None


class ArmStats:
    """Observed outcomes of one (role, task type, model): counts and sums, and the sums
    the catalog priors expected for the same tasks (``expected_*``)."""

    __slots__ = (
        "confidence_n",
        "confidence_sum",
        "cost_usd",
        "expected_cost_usd",
        "expected_latency_s",
        "expected_successes",
        "latency_s",
        "n",
        "successes",
    )

    def __init__(
        self,
        n: float = 0.0,
        successes: float = 0.0,
        cost_usd: float = 0.0,
        latency_s: float = 0.0,
        confidence_sum: float = 0.0,
        confidence_n: float = 0.0,
        expected_successes: float = 0.0,
        expected_cost_usd: float = 0.0,
        expected_latency_s: float = 0.0,
    ) -> None:
        self.n = n
        self.successes = successes
        self.cost_usd = cost_usd
        self.latency_s = latency_s
        self.confidence_sum = confidence_sum
        self.confidence_n = confidence_n
        self.expected_successes = expected_successes
        self.expected_cost_usd = expected_cost_usd
        self.expected_latency_s = expected_latency_s

    def add(
        self,
        success: bool,
        cost_usd: float,
        latency_s: float,
        confidence: float | None,
        expected: tuple[float, float, float],
    ) -> None:
        """Add one outcome; ``expected`` is the prior's (success, cost, latency) for it."""
        self.n += 1.0
        self.successes += 1.0 if success else 0.0
        self.cost_usd += cost_usd
        self.latency_s += latency_s
        if confidence is not None:
            self.confidence_sum += confidence
            self.confidence_n += 1.0
        self.expected_successes += expected[0]
        self.expected_cost_usd += expected[1]
        self.expected_latency_s += expected[2]

    @property
    def success_rate(self) -> float:
        return self.successes / self.n if self.n else 0.0

    @property
    def proven(self) -> bool:
        return self.n >= PROVEN_MIN_OUTCOMES and self.successes >= PROVEN_MIN_SUCCESS * self.n

    def to_dict(self) -> dict[str, float]:
        return {
            "n": self.n,
            "successes": self.successes,
            "cost_usd": round(self.cost_usd, 8),
            "latency_s": round(self.latency_s, 6),
            "confidence_sum": self.confidence_sum,
            "confidence_n": self.confidence_n,
            "expected_successes": round(self.expected_successes, 6),
            "expected_cost_usd": round(self.expected_cost_usd, 8),
            "expected_latency_s": round(self.expected_latency_s, 6),
        }


def step_shape(complexity: float) -> tuple[float, float, float]:
    """Expected (model calls, input tokens, output tokens) of an agent step of ``complexity``.

    A tool loop re-sends its growing conversation on every call, so input tokens
    grow with the number of calls.
    """
    calls = 1.0 + 8.0 * complexity
    return calls, calls * (3000.0 + 6000.0 * complexity), calls * (300.0 + 500.0 * complexity)


def prior_success(spec: ModelSpec, features: TaskFeatures) -> float:
    """The catalog's expected success rate of ``spec`` on a task with these features."""
    return _success(spec.quality, spec.fit(features.task_type), features.complexity)


def _success(quality: float, fit: float, complexity: float) -> float:
    base = min(0.99, max(0.01, quality + 0.25 * (fit - 0.8)))
    return float(base ** (0.5 + 1.5 * complexity))


#: A model's prior scores for one (task type, complexity, mode): (task_fit, p, speed,
#: cost_score, confidence, base, expected cost, expected latency, prior total, expected
#: reward, expected time per call), where ``base`` is the weighted sum of the five nodes
#: before History and ``prior total`` adds the weighted expected reward (History without
#: exploration).
PriorRow = tuple[float, float, float, float, float, float, float, float, float, float, float]

#: What an arm's outcomes say about it, relative to its priors: (success ratio, cost ratio
#: (-1 when the prior expects no cost), observed cost per step (used when the ratio is -1),
#: latency ratio, blended stated confidence). See :func:`calibration`.
Calibration = tuple[float, float, float, float, float]


def prior_row(spec: ModelSpec, features: TaskFeatures, mode: str, config: RouterConfig) -> PriorRow:
    """The node scores of ``spec`` from the catalog alone (no outcomes yet)."""
    return prior_rows((spec,), features, mode, config)[spec.name]


def prior_rows(
    specs: Iterable[ModelSpec], features: TaskFeatures, mode: str, config: RouterConfig
) -> dict[str, PriorRow]:
    """:func:`prior_row` of every model in ``specs``, by name (what does not depend on the
    model is worked out once)."""
    weights = weights_for(mode)
    calls, tokens_in, tokens_out = step_shape(features.complexity)
    task = TASK_TYPES.index(features.task_type)
    reasoning_task = features.level == "high" and features.task_type in _REASONING_TYPES
    complexity = features.complexity
    latency_scale, cost_scale = config.latency_scale_s, config.reward_scale_usd
    scale = cost_scale * MODE_REWARD_SCALE[mode]
    rows: dict[str, PriorRow] = {}
    for spec in specs:
        fit = raw_fit = spec.task_fit[task]
        if reasoning_task and "reasoning" in spec.capabilities:
            fit = min(1.0, fit + 0.05)
        p0 = _success(spec.quality, raw_fit, complexity)
        c0 = spec.cost_usd(tokens_in, tokens_out)
        l0 = spec.latency_s(calls, tokens_out)
        per_call = l0 / calls
        speed = latency_scale / (latency_scale + per_call)
        cost = cost_scale / (cost_scale + c0)
        conf = spec.confidence
        base = (
            weights[0] * fit
            + weights[1] * p0
            + weights[2] * speed
            + weights[3] * cost
            + weights[5] * conf
        )
        expected_reward = p0 * scale / (scale + c0)
        total = base + weights[4] * expected_reward
        rows[spec.name] = (
            fit,
            p0,
            speed,
            cost,
            conf,
            base,
            c0,
            l0,
            total,
            expected_reward,
            per_call,
        )
    return rows


def calibration(arm: ArmStats, prior_strength: float, confidence_prior: float) -> Calibration:
    """How an arm's outcomes compare with what its priors expected of the same tasks.

    Each ratio is ``(observed + k·mean expected) / (expected + k·mean expected)``: the
    prior counts as ``k`` outcomes that went exactly as expected, so one lucky outcome
    moves little and many outcomes speak for themselves.
    """
    n, k = arm.n, prior_strength

    def ratio(observed: float, expected: float) -> float:
        return (n * observed + k * expected) / (expected * (n + k)) if expected > 0.0 else 1.0

    cost_ratio = ratio(arm.cost_usd, arm.expected_cost_usd) if arm.expected_cost_usd > 0 else -1.0
    return (
        ratio(arm.successes, arm.expected_successes),
        cost_ratio,
        arm.cost_usd / (n + k),
        ratio(arm.latency_s, arm.expected_latency_s),
        (arm.confidence_sum + k * confidence_prior) / (arm.confidence_n + k),
    )


#: A candidate's nodes before the bandit: (success p, cost, speed, cost score, confidence,
#: base, expected reward), where ``base`` is the weighted sum of the five nodes other
#: than History and History is the expected reward plus the bandit's bonus.
NodeValues = tuple[float, float, float, float, float, float, float]


def calibrated_nodes(
    row: PriorRow,
    cal: Calibration,
    weights: Sequence[float],
    latency_scale: float,
    cost_scale: float,
    reward_scale: float,
) -> NodeValues:
    """The nodes of a candidate whose outcomes calibrate its prior ``row`` (see the module
    doc); the scales are ``latency_scale_s``, ``reward_scale_usd`` and the mode's reward
    scale. The one formula both explaining and deciding use."""
    w_fit, w_quality, w_speed, w_cost, _w_history, w_conf = weights
    p_ratio, cost_ratio, observed_cost, latency_ratio, conf = cal
    p = row[1] * p_ratio
    if p > 0.999:
        p = 0.999
    cost = row[6] * cost_ratio if cost_ratio >= 0.0 else observed_cost
    speed = latency_scale / (latency_scale + row[10] * latency_ratio)
    cost_score = cost_scale / (cost_scale + cost)
    reward = p * reward_scale / (reward_scale + cost)
    base = w_fit * row[0] + w_quality * p + w_speed * speed + w_cost * cost_score + w_conf * conf
    return p, cost, speed, cost_score, conf, base, reward


def prior_nodes(row: PriorRow) -> NodeValues:
    """The nodes of a candidate without outcomes: its prior row's."""
    return row[1], row[6], row[2], row[3], row[4], row[5], row[9]


def score_candidates(
    rows: Sequence[PriorRow],
    calibrations: Sequence[Calibration | None],
    bonuses: Sequence[float],
    mode: str,
    config: RouterConfig,
    *,
    nodes: list[tuple[float, ...]] | None = None,
    expectations: list[tuple[float, float, float]] | None = None,
) -> list[float]:
    """The weighted totals of the candidates, History being the expected reward plus
    ``bonuses[i]`` (UCB1's exploration bonus, or 0).

    ``nodes`` (when given) receives each candidate's six node scores, ``expectations``
    its (success, cost, total without History) — what Thompson sampling draws around.
    """
    weights = weights_for(mode)
    w_history = weights[4]
    latency_scale = config.latency_scale_s
    cost_scale = config.reward_scale_usd
    reward_scale = cost_scale * MODE_REWARD_SCALE[mode]
    totals: list[float] = []
    for row, cal, bonus in zip(rows, calibrations, bonuses, strict=True):
        if cal is None:
            p, cost, speed, cost_score, conf, base, reward = prior_nodes(row)
        else:
            p, cost, speed, cost_score, conf, base, reward = calibrated_nodes(
                row, cal, weights, latency_scale, cost_scale, reward_scale
            )
        history = reward + bonus
        totals.append(base + w_history * history)
        if nodes is not None:
            nodes.append((row[0], p, speed, cost_score, history, conf))
        if expectations is not None:
            expectations.append((p, cost, base))
    return totals
