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
            "--only",
            "W2,W4",  # the workloads with targets; W3's graphs are run below
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
    assert "Ratios (paired within each repeat, median over the repeats):" in stdout
    assert "Targets:" in stdout
    assert stdout.count("[MET]") + stdout.count("[MISSED]") == 6


@pytest.mark.slow
def test_every_configuration_measured_with_sane_figures(report: tuple[str, dict[str, Any]]) -> None:
    _, data = report
    assert data["failures"] == []
    sys.path.insert(0, str(BENCH))
    try:
        from _common import CONFIGS
    finally:
        sys.path.remove(str(BENCH))
    expected = sum(len(c.get(w, ())) for c in CONFIGS.values() for w in ("W2", "W4"))
    assert len(data["summary"]) == expected
    seen = {(s["workload"], s["framework"]) for s in data["summary"]}
    assert seen == {(w, f) for w in ("W2", "W4") for f in ("nexus", "langgraph", "floor")}
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


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "config"), [("workloads_nexus.py", "sqlite"), ("workloads_langgraph.py", "sync")]
)
def test_fan_out_runs_every_worker(script: str, config: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH / script),
            "W3",
            "--config",
            config,
            "--runs",
            "2",
            "--dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("BENCH_RESULT "))
    result = json.loads(line.removeprefix("BENCH_RESULT "))
    # the script checks every run's merge saw 8 workers and counts the model calls
    assert result["runs"] == 2 and result["steps_per_run"] == 10 and result["runs_per_s"] > 0
    assert list(tmp_path.iterdir()) == []  # the SQLite files are removed


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
        result("langgraph", "LangGraph sync + SqliteSaver (synchronous=FULL)", 100.0),
        result("langgraph", "LangGraph async + AsyncSqliteSaver (synchronous=FULL)", 50.0),
        result("langgraph", "LangGraph sync + SqliteSaver (synchronous=NORMAL)", 200.0),
        result(
            "langgraph", "LangGraph SqliteSaver, not W2 (synchronous=FULL)", 5e3, conformant=False
        ),
        result("floor", "hand-written synchronous=FULL", 1500.0),
    ]
    summaries = summarize(results)
    nexus = next(s for s in summaries if s.framework == "nexus")
    assert nexus.runs_per_s == 1000.0
    assert nexus.spread == pytest.approx(0.4)
    lines = [r.line() for r in ratios(summaries)]
    peer = "LangGraph sync + SqliteSaver (synchronous=NORMAL)"
    assert f"W2: Nexus durable SQLite store runs/s / {peer} runs/s: 5.00×" in lines
    checks = {t.name: t for t in targets(summaries)}
    vs_default, vs_same = (
        checks[f"W2 durable ≥ 10× LangGraph's best runs/s {how}"]
        for how in (
            "(SQLite defaults, synchronous=FULL)",
            "at Nexus's durability (synchronous=NORMAL)",
        )
    )
    assert vs_default.met is True and "paired ratio 10.0×" in vs_default.figure
    assert vs_same.met is False and "paired ratio 5.0×" in vs_same.figure
    assert checks["W2 durable within 2× of the one-commit-per-step floor"].met is True
    assert checks["W2 storage ≤ 2,000 bytes per run"].met is True
    assert checks["W4 durable within 2× the ideal 0.2 s"].met is None
