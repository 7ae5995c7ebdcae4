"""bench/api.py end to end, briefly: a real `nexus serve` with keys, load processes, a table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_bench_api_measures_every_phase_without_errors(tmp_path: Path) -> None:
    out = tmp_path / "api.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "api.py"), "--seconds", "0.5", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["backend"] == "sqlite"
    phases = [(p["mode"], p["plan"], p["concurrency"]) for p in result["phases"]]
    assert phases == [
        ("create", "echo", 1),
        ("create", "echo", 16),
        ("create", "transform", 1),
        ("create", "transform", 16),
        ("status", None, 1),
        ("status", None, 16),
    ]
    for phase in result["phases"]:
        assert phase["errors"] == {}, phase
        assert phase["requests"] >= 1 and phase["p50_ms"] <= phase["p99_ms"]
    assert "| sqlite | `GET /api/runs/{id}` | 16 |" in done.stdout
