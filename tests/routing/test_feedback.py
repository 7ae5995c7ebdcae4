"""Verified outcomes from step outputs, fed back to the router."""

from __future__ import annotations

from typing import Any

import pytest

from nexus.routing import Router, TaskFeatures, record_step_outcome, verified_outcome
from nexus.routing.catalog import Catalog


@pytest.mark.parametrize(
    ("output", "verdict"),
    [
        ({"text": "done", "tests": {"passed": 4, "failed": 0, "errors": 0}}, True),
        ({"text": "done", "tests": {"passed": 3, "failed": 1, "errors": 0}}, False),
        ({"text": "done", "tests": {"passed": 3, "failed": 0, "errors": 2}}, False),
        ({"text": "done", "tests": {"passed": 0, "failed": 0, "errors": 0}}, None),
        ({"passed": 10, "failed": 0, "errors": 0, "total": 10}, True),
        ({"valid": True}, True),
        ({"valid": False}, False),
        ({"verdict": "Approved"}, True),
        ({"verdict": "rejected"}, False),
        ({"verdict": "maybe"}, None),
        ({"text": "I think it works", "confidence": 0.9}, None),
        ("just text", None),
        (None, None),
    ],
)
def test_verified_outcome(output: Any, verdict: bool | None) -> None:
    assert verified_outcome(output) is verdict


def test_record_step_outcome_reads_the_route_from_step_meta(three_models: Catalog) -> None:
    router = Router(three_models)
    decision = router.decide(TaskFeatures("code", 0.8, True, 1_000), "developer", "balance")
    meta = {
        "model": decision.model,
        "route": decision.route_meta(),
        "cost_usd": 0.031,
        "latency_s": 12.5,
        "confidence": 0.7,
    }
    arm = record_step_outcome(router, meta, True)
    assert arm is not None
    assert (arm.n, arm.successes, arm.cost_usd, arm.latency_s) == (1.0, 1.0, 0.031, 12.5)
    assert arm.confidence_sum == 0.7
    # judged against what the prior expected of a 0.8-complexity task
    row = decision.plan.rows[decision.index]
    assert arm.expected_successes == pytest.approx(row[1])


def test_unrouted_steps_are_not_recorded(three_models: Catalog) -> None:
    router = Router(three_models)
    assert record_step_outcome(router, {"model": "test:mid", "cost_usd": 0.1}, True) is None
    foreign = {"route": {"role": "dev", "task_type": "code", "model": "other:model"}}
    assert record_step_outcome(router, foreign, True) is None
    assert router.arms() == []
