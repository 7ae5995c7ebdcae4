"""Feeding verified outcomes back to the router (X3).

A routed agent step carries its decision in ``step.meta["route"]`` (role, task
type, model, …) and its cost in ``step.meta["cost_usd"]``. Once something has
*verified* the step's work, :func:`record_step_outcome` tells the router.
:func:`verified_outcome` reads a verdict from a step's output:

- ``tests`` (the agent's last ``run_tests``) or the output itself with ``passed``
  / ``failed`` / ``errors`` counts: success when at least one test ran and none
  failed or errored;
- ``review`` (the review a low-confidence step gets): its ``verdict``;
- ``valid`` (the ``validate`` handler): that boolean;
- ``verdict``: ``pass``/``passed``/``approved``/``accept``/``ok`` or
  ``fail``/``failed``/``rejected``/``reject``.

Anything else is not a verification (``None``): the router does not learn from
an answer that nobody checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nexus.routing.provider import RouterProvider
from nexus.routing.router import Router
from nexus.routing.scoring import ArmStats

__all__ = ["learn_from_step", "record_step_outcome", "step_route", "verified_outcome"]

_PASS = frozenset({"pass", "passed", "approved", "approve", "accept", "accepted", "ok", "green"})
_FAIL = frozenset({"fail", "failed", "rejected", "reject", "red", "blocked"})


def _tests_verdict(tests: Mapping[str, Any]) -> bool | None:
    try:
        passed = int(tests.get("passed", 0) or 0)
        failed = int(tests.get("failed", 0) or 0)
        errors = int(tests.get("errors", 0) or 0)
    except (TypeError, ValueError):
        return None
    if passed + failed + errors == 0:
        return None
    return failed == 0 and errors == 0


def verified_outcome(output: Any) -> bool | None:
    """True/False when ``output`` carries a verification (see the module docstring)."""
    if not isinstance(output, Mapping):
        return None
    tests = output.get("tests")
    if isinstance(tests, Mapping):
        return _tests_verdict(tests)
    if "failed" in output and "passed" in output:
        return _tests_verdict(output)
    review = output.get("review")
    if isinstance(review, Mapping):
        return _word_verdict(review.get("verdict"))
    valid = output.get("valid")
    if isinstance(valid, bool):
        return valid
    return _word_verdict(output.get("verdict"))


def _word_verdict(verdict: Any) -> bool | None:
    if isinstance(verdict, str):
        word = verdict.strip().lower()
        if word in _PASS:
            return True
        if word in _FAIL:
            return False
    return None


def record_step_outcome(
    router: Router, step_meta: Mapping[str, Any], verified: bool, *, source: str = "step"
) -> ArmStats | None:
    """Record the verified outcome of a routed step; None when the step was not routed.

    Reads ``step_meta["route"]`` (``role``, ``task_type``, ``model``, ``complexity``),
    ``cost_usd``, ``latency_s`` (else ``duration_s``) and ``confidence``.
    """
    route = step_meta.get("route")
    if not isinstance(route, Mapping):
        return None
    role, task_type, model = route.get("role"), route.get("task_type"), route.get("model")
    if not (role and task_type and model) or model not in router.catalog:
        return None
    cost = float(step_meta.get("cost_usd") or 0.0)
    latency = float(step_meta.get("latency_s") or step_meta.get("duration_s") or 0.0)
    confidence = step_meta.get("confidence")
    if not isinstance(confidence, (int, float)) or not 0.0 <= float(confidence) <= 1.0:
        confidence = None
    complexity = route.get("complexity")
    if not isinstance(complexity, (int, float)):
        complexity = None
    return router.record_outcome(
        (str(role), str(task_type), str(model)),
        verified,
        max(cost, 0.0),
        max(latency, 0.0),
        confidence=None if confidence is None else float(confidence),
        complexity=None if complexity is None else float(complexity),
        source=source,
    )


def step_route(provider: Any, run_id: str, step_key: str, agent_id: str) -> dict[str, Any] | None:
    """The route of an agent step (``Decision.route_meta()``) when ``provider`` is the router
    and routed that step; None otherwise."""
    if not isinstance(provider, RouterProvider):
        return None
    decision = provider.step_decision(run_id, step_key, agent_id)
    return None if decision is None else decision.route_meta()


def learn_from_step(
    provider: Any, step_meta: Mapping[str, Any], output: Any, latency_s: float
) -> ArmStats | None:
    """Record a routed step's outcome when its output carries a verification.

    ``provider`` is the step's model provider (the router, or nothing happens),
    ``step_meta`` the step's meta with its ``route``. Returns the arm's new sums.
    """
    if not isinstance(provider, RouterProvider):
        return None
    verified = verified_outcome(output)
    if verified is None:
        return None
    return record_step_outcome(
        provider.router, {**step_meta, "latency_s": latency_s}, verified, source="agent step"
    )
