"""The EWMA cost-anomaly detector: warm-up, adaptive threshold, clipped learning, persistence."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from nexus.analytics.anomaly import AnomalyConfig, Baseline, CostAnomalyDetector


def config(**overrides: float) -> AnomalyConfig:
    values: dict[str, float] = {"alpha": 0.5, "z": 3.0, "warmup": 3, "min_usd": 0.0}
    values.update(overrides)
    return AnomalyConfig(**values)  # type: ignore[arg-type]


def test_baseline_follows_the_ewma_formulas() -> None:
    baseline = Baseline()
    for value in (1.0, 3.0, 2.0):
        baseline.update(value, 0.5)
    # 1 -> mean 1, var 0; 3 -> mean 2, var 0.5*(0+0.5*4)=1; 2 -> mean 2, var 0.5*(1+0)=0.5
    assert (baseline.samples, baseline.mean, baseline.var) == (3, 2.0, 0.5)
    assert baseline.sd == pytest.approx(math.sqrt(0.5))


def test_no_alert_during_warm_up_or_below_the_minimum() -> None:
    detector = CostAnomalyDetector(config(min_usd=0.5))
    assert detector.observe("k", 0.1) is None
    assert detector.observe("k", 0.1) is None
    assert detector.observe("k", 0.4) is None  # warm-up: 2 samples < 3
    assert detector.observe("k", 0.45) is None  # far above, but under min_usd


def test_a_cost_far_above_the_usual_is_an_anomaly_with_its_figures() -> None:
    detector = CostAnomalyDetector(config())
    for _ in range(4):
        assert detector.observe("step:code:m", 0.02) is None
    # constant costs: sd 0, the floor 0.25 * mean sets the spread: threshold 0.02 * 1.75
    assert detector.check("step:code:m", 0.0349) is None
    anomaly = detector.observe("step:code:m", 0.2)
    assert anomaly is not None
    assert anomaly.key == "step:code:m"
    assert anomaly.threshold_usd == pytest.approx(0.035)
    assert anomaly.z == pytest.approx((0.2 - 0.02) / 0.005)
    assert anomaly.ratio == pytest.approx(10.0)
    assert anomaly.to_dict()["message"] == (
        "step:code:m cost $0.2000, 10.0x its usual $0.0200 (threshold $0.0350 over 4 samples)"
    )
    # learned clipped to the threshold, not the runaway value
    assert detector.baseline("step:code:m").mean == pytest.approx((0.02 + 0.035) / 2)


def test_the_threshold_adapts_to_a_noisy_key() -> None:
    detector = CostAnomalyDetector(config(alpha=0.2, warmup=5))
    for value in [0.10, 0.30, 0.12, 0.28, 0.11, 0.29, 0.10, 0.31] * 3:
        detector.observe("noisy", value)
    baseline = detector.baseline("noisy")
    assert baseline.sd > 0.25 * baseline.mean  # the spread, not the floor, sets the threshold
    assert detector.check("noisy", 0.45) is None  # high for a quiet key, usual for this one
    assert detector.check("noisy", 1.5) is not None


def test_check_does_not_learn() -> None:
    detector = CostAnomalyDetector(config())
    for _ in range(3):
        detector.observe("run:p", 1.0)
    assert detector.check("run:p", 10.0) is not None
    assert detector.baseline("run:p").samples == 3


def test_baselines_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "analytics" / "cost_baselines.json"
    first = CostAnomalyDetector(config(), path)
    for _ in range(3):
        first.observe("step:a:m", 0.05)
    again = CostAnomalyDetector(config(), path)
    assert again.baseline("step:a:m") == first.baseline("step:a:m")
    assert again.check("step:a:m", 0.5) is not None

    path.write_text("{not json")
    assert CostAnomalyDetector(config(), path).baseline("step:a:m").samples == 0
