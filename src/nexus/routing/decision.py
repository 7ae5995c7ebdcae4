"""A routing decision and what it is made of (M4): the plan scored for a task, the
decision that points into it, the arms of a (role, task type), and the candidate checks.

A :class:`RoutePlan` holds everything one (features, role, mode, candidates) was
scored into: the candidates that can take the request and why others cannot, the
totals, the rule that fired, Thompson's pre-drawn winners. The six node scores and
the reasons are worked out only when someone asks (explain, the route meta). A
:class:`Decision` is a numbered reference into a plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nexus.errors import ModelError
from nexus.routing.analyzer import TaskFeatures
from nexus.routing.catalog import RouterConfig
from nexus.routing.rules import Rule
from nexus.routing.scoring import (
    NODES,
    ArmStats,
    Calibration,
    PriorRow,
    score_candidates,
    weights_for,
)

__all__ = [
    "ArmGroup",
    "Decision",
    "Fits",
    "Limits",
    "NoRouteError",
    "RoutePlan",
    "explain_report",
    "fits_of",
    "usable_candidates",
]

#: per model: (context window, calls tools, last resort)
Limits = dict[str, tuple[int, bool, bool]]
#: of a candidate set: (smallest window, all call tools, usable names, exclusions)
Fits = tuple[int, bool, tuple[str, ...], tuple[tuple[str, str], ...]]


class NoRouteError(ModelError):
    """No candidate model can take the request (context window, tools)."""

    code = "no_route"
    retryable = False


class ArmGroup:
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
        self.group: ArmGroup
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


def fits_of(limits: Limits, cands: Sequence[str]) -> Fits:
    """(smallest window, all call tools, usable names, exclusions) of a candidate set,
    for requests that every candidate can take. Every name must be in ``limits``."""
    names = tuple(dict.fromkeys(cands))
    main = [n for n in names if not limits[n][2]]
    resort = [n for n in names if limits[n][2]]
    chosen = main or resort
    return (
        min(limits[n][0] for n in chosen),
        all(limits[n][1] for n in chosen),
        tuple(chosen),
        tuple((n, "last resort only") for n in resort) if main else (),
    )


def usable_candidates(
    limits: Limits,
    features: TaskFeatures,
    cands: Sequence[str],
    excluded: list[tuple[str, str]],
) -> tuple[str, ...]:
    """The candidates that can take a request (its window, tools); why others cannot is
    appended to ``excluded``. Last-resort models only when nothing else can."""
    usable: list[str] = []
    resort: list[str] = []
    tokens, tools = features.context_tokens, features.needs_tools
    for name in dict.fromkeys(cands):
        window, has_tools, last_resort = limits[name]
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


def explain_report(decision: Decision, task: str | None = None) -> dict[str, Any]:
    """A decision, explained: features, weights, rule, every candidate's node scores
    (best first, with its outcomes and, for Thompson, the share of draws it won)."""
    plan = decision.plan
    scores = plan.scores()
    draws: dict[str, float] = {}
    if plan.winners:
        for index in plan.winners:
            name = plan.candidates[index]
            draws[name] = draws.get(name, 0.0) + 1.0 / len(plan.winners)
    arms = plan.group.arms
    ranking = sorted(range(len(plan.candidates)), key=lambda i: -plan.totals[i])
    rows = []
    for i in ranking:
        name = plan.candidates[i]
        row: dict[str, Any] = {"model": name, **scores[name]}
        row["outcomes"] = arms[name].n if name in arms else 0.0
        if plan.winners:
            row["thompson_share"] = round(draws.get(name, 0.0), 4)
        rows.append(row)
    return {
        "task": task,
        "role": plan.role,
        "mode": plan.mode,
        "strategy": plan.strategy,
        "features": plan.features.to_dict(),
        "weights": dict(zip(NODES, weights_for(plan.mode), strict=True)),
        "rule": plan.rule.name if plan.rule is not None else None,
        "rule_description": plan.rule.describe() if plan.rule is not None else None,
        "notes": list(plan.notes),
        "model": decision.model,
        "reason": decision.reason,
        "candidates": rows,
        "excluded": [{"model": m, "why": why} for m, why in plan.excluded],
    }
