"""The scoring nodes (M4): six numbers per candidate model, weighted by a priority mode.

Each node scores a candidate between 0 and 1 (History may exceed 1 by its
exploration bonus):

- **TaskFit**: the catalog's fit of the model for the task type, +0.05 for a
  reasoning model on a high-complexity analysis or debugging task.
- **Quality**: the expected chance that the step passes verification. The
  catalog prior ``p0`` is the quality ``q`` shifted by task fit and lowered by
  complexity ``c`` as ``q^(0.5 + 1.5c)``. Outcomes calibrate it: each outcome
  also records what the prior expected for that task, and the estimate is
  ``p0 × (successes + k·p0) / (expected successes + k·p0)`` — so a model that
  did better than expected on easy tasks is raised on hard ones too, by the
  same ratio, and the prior counts as ``k`` = ``prior_strength`` outcomes.
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

from collections.abc import Sequence

from nexus.routing.analyzer import TaskFeatures
from nexus.routing.catalog import ModelSpec, RouterConfig

__all__ = [
    "MODES",
    "MODE_REWARD_SCALE",
    "MODE_WEIGHTS",
    "NODES",
    "ArmStats",
    "PriorRow",
    "StaticScores",
    "prior_row",
    "prior_success",
    "static_scores",
    "step_shape",
    "total_score",
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
    fit = spec.fit(features.task_type)
    base = min(0.99, max(0.01, spec.quality + 0.25 * (fit - 0.8)))
    return float(base ** (0.5 + 1.5 * features.complexity))


#: A model's prior scores for one (task type, complexity, mode): (task_fit, p, speed,
#: cost_score, confidence, base, expected cost, expected latency, prior total, expected
#: reward), where ``base`` is the weighted sum of the five nodes before History and
#: ``prior total`` adds the weighted expected reward (History without exploration).
PriorRow = tuple[float, float, float, float, float, float, float, float, float, float]


def prior_row(spec: ModelSpec, features: TaskFeatures, mode: str, config: RouterConfig) -> PriorRow:
    """The node scores of ``spec`` from the catalog alone (no outcomes yet)."""
    weights = weights_for(mode)
    calls, tokens_in, tokens_out = step_shape(features.complexity)
    fit = spec.fit(features.task_type)
    if (
        features.level == "high"
        and features.task_type in _REASONING_TYPES
        and "reasoning" in spec.capabilities
    ):
        fit = min(1.0, fit + 0.05)
    p0 = prior_success(spec, features)
    c0 = spec.cost_usd(tokens_in, tokens_out)
    l0 = spec.latency_s(calls, tokens_out)
    speed = config.latency_scale_s / (config.latency_scale_s + l0 / calls)
    cost = config.reward_scale_usd / (config.reward_scale_usd + c0)
    conf = spec.confidence
    base = (
        weights[0] * fit
        + weights[1] * p0
        + weights[2] * speed
        + weights[3] * cost
        + weights[5] * conf
    )
    scale = config.reward_scale_usd * MODE_REWARD_SCALE[mode]
    expected_reward = p0 * scale / (scale + c0)
    total = base + weights[4] * expected_reward
    return (fit, p0, speed, cost, conf, base, c0, l0, total, expected_reward)


class StaticScores:
    """Per-candidate expectations and node scores of one (features, mode), before History.

    ``p``, ``cost`` and ``latency`` are the blended expectations the nodes come from;
    ``nodes[i]`` holds TaskFit, Quality, Speed, Cost, Confidence of candidate ``i``;
    ``base[i]`` is their weighted sum (History is added later).
    """

    __slots__ = ("base", "cost", "latency", "nodes", "p", "proven")

    def __init__(self) -> None:
        self.p: list[float] = []
        self.cost: list[float] = []
        self.latency: list[float] = []
        self.nodes: list[tuple[float, float, float, float, float]] = []
        self.base: list[float] = []
        self.proven: list[bool] = []


def static_scores(
    rows: Sequence[PriorRow],
    arms: Sequence[ArmStats | None],
    weights: Sequence[float],
    config: RouterConfig,
) -> StaticScores:
    """Blend each candidate's prior row with its observed outcomes (when it has any)."""
    k = config.prior_strength
    cost_scale = config.reward_scale_usd
    latency_scale = config.latency_scale_s
    w_fit, w_quality, w_speed, w_cost, _w_history, w_conf = weights
    out = StaticScores()
    for row, arm in zip(rows, arms, strict=True):
        if arm is None or not arm.n:
            out.p.append(row[1])
            out.cost.append(row[6])
            out.latency.append(row[7])
            out.nodes.append(row[:5])
            out.base.append(row[5])
            out.proven.append(False)
            continue
        fit, p0, speed0, _cost0, conf0, _base0, c0, l0, _total0, _reward0 = row
        p = p0 * _ratio(arm.successes, arm.expected_successes, k * p0)
        p = 0.999 if p > 0.999 else p
        cost = _calibrated(c0, arm.cost_usd, arm.expected_cost_usd, k, arm.n)
        latency = _calibrated(l0, arm.latency_s, arm.expected_latency_s, k, arm.n)
        conf = (arm.confidence_sum + k * conf0) / (arm.confidence_n + k)
        per_call = latency_scale * (1.0 / speed0 - 1.0)  # the prior's time per call
        if l0 > 0.0:
            per_call *= latency / l0
        speed = latency_scale / (latency_scale + per_call)
        cost_score = cost_scale / (cost_scale + cost)
        out.p.append(p)
        out.cost.append(cost)
        out.latency.append(latency)
        out.nodes.append((fit, p, speed, cost_score, conf))
        out.base.append(
            w_fit * fit + w_quality * p + w_speed * speed + w_cost * cost_score + w_conf * conf
        )
        out.proven.append(arm.proven)
    return out


def _ratio(observed: float, expected: float, prior: float) -> float:
    denominator = expected + prior
    return (observed + prior) / denominator if denominator > 0.0 else 1.0


def _calibrated(prior: float, observed: float, expected: float, k: float, n: float) -> float:
    """``prior`` scaled by how observed sums compared with expected ones (k pseudo-outcomes
    at the prior); the plain blended mean when the prior expects nothing (free models)."""
    if prior > 0.0 and expected > 0.0:
        return prior * (observed + k * prior) / (expected + k * prior)
    return (observed + k * prior) / (n + k)


def total_score(base: float, weight_history: float, history: float) -> float:
    """The weighted total of one candidate."""
    return base + weight_history * history
