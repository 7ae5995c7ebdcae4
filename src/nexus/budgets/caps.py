"""Fan-out caps (X1): how wide a plan may spread, checked when the plan is validated.

A parallel group may have at most ``max_fan_out`` children
(``NEXUS_MAX_FAN_OUT``, default 64), and neither the plan's
``settings.max_concurrency`` nor a group's own ``max_concurrency`` may exceed
it. The runtime facade runs this check in ``Nexus.validate``, after the plan
validator, so every plan started through it — CLI, API, SDK — is capped. Turns
are capped per agent step by the agent loop (``max_turns``) and model calls per
run by the ledger (``NEXUS_MAX_CALLS_PER_RUN``).
"""

from __future__ import annotations

from nexus.domain.plan import ParallelNode, Plan
from nexus.engine.plan_loader import iter_nodes
from nexus.errors import PlanError, PlanProblem

__all__ = ["ensure_within_caps", "fan_out_problems"]

_HINT = "(the cap is NEXUS_MAX_FAN_OUT)"


def fan_out_problems(plan: Plan, max_fan_out: int) -> list[PlanProblem]:
    """Every place where ``plan`` spreads wider than ``max_fan_out``."""
    problems: list[PlanProblem] = []
    if plan.settings.max_concurrency > max_fan_out:
        problems.append(
            PlanProblem(
                None,
                "concurrency",
                f"settings.max_concurrency is {plan.settings.max_concurrency}, above the cap of"
                f" {max_fan_out} concurrent steps per run {_HINT}",
            )
        )
    for path, node in iter_nodes(plan):
        if not isinstance(node, ParallelNode):
            continue
        children = len(node.parallel.steps)
        if children > max_fan_out:
            problems.append(
                PlanProblem(
                    path,
                    "fan_out",
                    f"the parallel group has {children} children, above the cap of"
                    f" {max_fan_out} {_HINT}",
                )
            )
        limit = node.parallel.max_concurrency
        if limit is not None and limit > max_fan_out:
            problems.append(
                PlanProblem(
                    path,
                    "concurrency",
                    f"max_concurrency is {limit}, above the cap of {max_fan_out} {_HINT}",
                )
            )
    return problems


def ensure_within_caps(plan: Plan, max_fan_out: int) -> None:
    """Raise one PlanError listing every cap the plan breaks, or return."""
    problems = fan_out_problems(plan, max_fan_out)
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        raise PlanError(f"plan '{plan.name}' spreads too wide: {count}", problems)
