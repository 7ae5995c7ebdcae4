"""``bench/gateway.py`` runs end to end on a small scale and every call it made through the
gateway shows in the usage analytics (no speed is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_gateway_benchmark_runs_and_accounts_every_call(tmp_path: Path) -> None:
    out = tmp_path / "gateway.json"
    proc = subprocess.run(
        [
            sys.executable, str(ROOT / "bench" / "gateway.py"), "--requests", "30",
            "--warmup", "6", "--load-seconds", "1", "--concurrency", "4", "--json", str(out),
        ],
        capture_output=True, text=True, timeout=110, cwd=ROOT, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "| added over direct |" in proc.stdout
    result = json.loads(out.read_text())
    for transport in ("http", "sdk"):
        part = result[transport]
        assert part["latency"]["pairs"] == 30
        assert part["latency"]["gateway"]["p50_ms"] > 0
        assert part["load"]["errors"] == 0 and part["load"]["requests"] > 0
        # the check, 6 + 30 plain, 3 + 100 streamed, 10 + 100 cache hits, and the load
        made = 1 + 36 + 103 + 110 + part["load"]["requests"]
        assert part["calls_accounted"] == made
        cache = part["status"]["cache"]
        assert cache["memory_hits"] == 109 and cache["misses"] == 1
    assert result["floor"]["pairs"] == 30
