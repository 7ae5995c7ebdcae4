"""The benchmark suite runs end to end and reports sane figures (no speed is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"

pytest.importorskip("langgraph", reason="the bench extra is not installed")
pytest.importorskip("langgraph.checkpoint.sqlite", reason="the bench extra is not installed")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("bench") / "results.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH / "run_all.py"),
            "--quick",
            "--repeat",
            "1",
            "--runs",
            "3",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=ROOT,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout, json.loads(out.read_text())


@pytest.mark.slow
def test_prints_the_table_with_every_column(report: tuple[str, dict[str, Any]]) -> None:
    stdout, _ = report
    header = next(line for line in stdout.splitlines() if line.startswith("| workload"))
    for column in (
        "framework",
        "configuration",
        "runs/s",
        "spread",
        "µs/step",
        "peak RSS MiB",
        "bytes/run",
        "wall s",
        "× ideal",
    ):
        assert f"| {column} |" in header
    assert "Ratios (medians, this command):" in stdout
    assert "Targets:" in stdout
    assert stdout.count("[MET]") + stdout.count("[MISSED]") == 5


@pytest.mark.slow
def test_every_configuration_measured_with_sane_figures(report: tuple[str, dict[str, Any]]) -> None:
    _, data = report
    assert data["failures"] == []
    seen = {(s["workload"], s["framework"]) for s in data["summary"]}
    assert seen == {
        ("W1", "nexus"),
        ("W1", "langgraph"),
        ("W2", "nexus"),
        ("W2", "langgraph"),
        ("W2", "floor"),
        ("W3", "nexus"),
        ("W3", "langgraph"),
        ("W4", "nexus"),
        ("W4", "langgraph"),
        ("W4", "floor"),
    }
    for r in data["results"]:
        assert r["runs"] == 3
        assert r["wall_s"] > 0 and r["runs_per_s"] > 0 and r["us_per_step"] > 0
        assert 5 < r["peak_rss_mib"] < 2048
        durable = r["workload"] == "W2" or "sqlite" in r["config"].lower()
        if durable:
            assert r["bytes_per_run"] > 0, r
        if r["workload"] == "W4":
            # every model call waits 50 ms: no run of 4 calls can finish in under 0.2 s
            assert r["wall_s"] >= 0.2 and r["ratio_to_ideal"] >= 1.0
    assert data["machine"]["nproc"] >= 1 and data["machine"]["python"]


def test_summary_takes_medians_and_picks_the_best_peer() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        from _report import ratios, summarize, targets
    finally:
        sys.path.remove(str(BENCH))

    def result(framework: str, config: str, rps: float, **extra: Any) -> dict[str, Any]:
        return {
            "framework": framework,
            "workload": "W2",
            "config": config,
            "conformant": True,
            "runs": 100,
            "runs_per_s": rps,
            "wall_s": 100 / rps,
            "us_per_step": 1e6 / rps / 4,
            "peak_rss_mib": 50.0,
            "bytes_per_run": 1000.0,
            **extra,
        }

    results = [
        result("nexus", "Nexus durable SQLite store", r) for r in (900.0, 1000.0, 1300.0)
    ] + [
        result("langgraph", "LangGraph sync-sqlite", 100.0),
        result("langgraph", "LangGraph async-sqlite", 50.0),
        result("langgraph", "LangGraph fast but not W2", 5000.0, conformant=False),
        result("floor", "hand-written synchronous=FULL", 1500.0),
    ]
    summaries = summarize(results)
    nexus = next(s for s in summaries if s.framework == "nexus")
    assert nexus.runs_per_s == 1000.0
    assert nexus.spread == pytest.approx(0.4)
    lines = [r.line() for r in ratios(summaries)]
    assert "W2: Nexus durable SQLite store runs/s / LangGraph sync-sqlite runs/s: 10.00×" in lines
    checks = {t.name: t for t in targets(summaries)}
    assert checks["W2 durable ≥ 10× LangGraph's best runs/s"].met is True
    assert checks["W2 durable within 2× of the one-commit-per-step floor"].met is True
    assert checks["W2 storage ≤ 2,000 bytes per run"].met is True
    assert checks["W4 durable within 2× the ideal 0.2 s"].met is None
