"""``bench/router.py`` runs end to end and reports sane figures (no speed is asserted)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "router.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_router", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


def test_quality_simulation_figures() -> None:
    bench = load_bench()
    result = bench.quality(800, 7)
    rows = {(r["mode"], r["policy"]): r for r in result["rows"]}
    strongest = f"always {result['strongest']}"
    for mode in ("balance", "quality", "cost"):
        base = rows[(mode, strongest)]
        oracle = rows[(mode, "oracle (knows the hidden rates)")]
        assert (base["cost_saved"], base["of_strongest_success"]) == (0.0, 1.0)
        assert oracle["regret_per_task"] == 0.0
        for policy in ("router ucb1", "router thompson", "router, priors only"):
            row = rows[(mode, policy)]
            assert row["regret_per_task"] >= 0.0
            assert row["regret_per_task"] < base["regret_per_task"]  # better than always-Opus
            assert row["cost_saved"] > 0.5
    # quality mode keeps (nearly) the strongest model's success at a fraction of its cost
    assert rows[("quality", "router ucb1")]["of_strongest_success"] >= 0.95


def test_script_prints_both_parts() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--decisions", "300", "--tasks", "300", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    report = json.loads(proc.stdout)
    latency = report["latency"]
    assert latency["models"] == 10
    for case in ("repeat", "new_task", "new_task_learned", "thompson_repeat"):
        assert latency[case]["median_us"] > 0 and latency[case]["n"] >= 300
        assert latency[case]["p99_us"] >= latency[case]["median_us"]
    assert len(report["quality"]["rows"]) == 18
