"""A routing decision (M4) and the checks that come before scoring: which candidates can
take a request (context window, tools, last resort).

A :class:`Decision` is a numbered reference to the :class:`~nexus.routing.plan.Route`
it was made on and to what the router had learned then (a
:class:`~nexus.routing.plan.Snapshot`); its explanation — the six node scores of every
candidate and the reason — is worked out only when someone asks (explain, the route
meta), from that snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nexus.errors import ModelError
from nexus.routing.analyzer import TaskFeatures
from nexus.routing.scoring import NODES, weights_for

if TYPE_CHECKING:
    from nexus.routing.plan import Route, RoutePlan, Snapshot

__all__ = [
    "Decision",
    "Fits",
    "Limits",
    "NoRouteError",
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


class Decision:
    """One routing decision: ``id`` (process-local), the chosen ``model`` and why.

    ``features`` are the ones it was asked with; ``draw``, with Thompson sampling, is
    the pooled posterior sample that chose the model (None otherwise).
    """

    __slots__ = ("_plan", "draw", "features", "id", "index", "recorded", "route", "snapshot")

    def __init__(
        self,
        id: int,
        route: Route,
        snapshot: Snapshot,
        index: int,
        features: TaskFeatures,
        draw: int | None = None,
    ) -> None:
        self.id = id
        self.route = route
        self.snapshot = snapshot
        self.index = index
        self.features = features
        self.draw = draw
        self.recorded = False
        self._plan: RoutePlan | None = None

    @property
    def plan(self) -> RoutePlan:
        """The explainable plan of this decision (scored from the snapshot it was made on)."""
        if self._plan is None:
            self._plan = self.route.plan(self.snapshot, self.features)
        return self._plan

    @property
    def model(self) -> str:
        return self.route.names[self.index]

    @property
    def reason(self) -> str:
        return self.plan.reason(self.index)

    @property
    def rule(self) -> str | None:
        rule = self.route.rule
        return None if rule is None or self.index != self.route.index else rule.name

    @property
    def role(self) -> str:
        return self.route.role

    @property
    def mode(self) -> str:
        return self.route.mode

    @property
    def task_type(self) -> str:
        return self.route.features.task_type

    @property
    def excluded(self) -> Sequence[tuple[str, str]]:
        """The candidates that could not take this request, and why."""
        return self.plan.excluded

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
            "strategy": self.route.strategy,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.route_meta(),
            "features": self.features.to_dict(),
            "excluded": [{"model": m, "why": why} for m, why in self.excluded],
            "notes": list(self.route.notes),
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
