"""E3: a run killed with SIGKILL mid-step resumes with `nexus runs resume`.

Side-effect counters prove that every succeeded step ran exactly once and the
interrupted one at most twice — on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from .conftest import nexus_cmd
from .sleeping_plan import SleepingPlan


def _env(tmp_path: Path, database_url: str | None) -> dict[str, str]:
    env = dict(os.environ)
    env["NEXUS_HOME"] = str(tmp_path / "home")
    env.pop("NEXUS_DATABASE_URL", None)
    if database_url:
        env["NEXUS_DATABASE_URL"] = database_url
    return env


def _kill_and_resume(tmp_path: Path, database_url: str | None) -> None:
    sleeping = SleepingPlan.in_dir(tmp_path)
    counter = sleeping.counter
    plan = tmp_path / "plan.yaml"
    plan.write_text(sleeping.yaml("kill-and-resume"))
    env = _env(tmp_path, database_url)
    proc = subprocess.Popen(
        [*nexus_cmd(), "run", str(plan), "--json"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    sleeping.wait_for_step_two(proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    sleeping.kill_sleep()
    assert counter.read_text().split() == ["one", "two"]

    listing = subprocess.run(
        [*nexus_cmd(), "runs", "list", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    runs = json.loads(listing.stdout)
    assert len(runs) == 1 and runs[0]["status"] == "running"
    run_id = runs[0]["run_id"]

    resumed = subprocess.run(
        [*nexus_cmd(), "runs", "resume", run_id, "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["status"] == "succeeded"
    lines = counter.read_text().split()
    assert lines.count("one") == 1
    assert 1 <= lines.count("two") <= 2
    assert lines.count("three") == 1
    steps = {s["key"]: s for s in summary["steps"]}
    assert steps["one"]["attempts"] == 1
    assert steps["three"]["attempts"] == 1


@pytest.mark.slow
def test_sigkill_mid_step_then_resume_on_sqlite(tmp_path: Path) -> None:
    _kill_and_resume(tmp_path, None)


@pytest.mark.slow
@pytest.mark.postgres
def test_sigkill_mid_step_then_resume_on_postgres(tmp_path: Path, pg_database_url: str) -> None:
    _kill_and_resume(tmp_path, pg_database_url)
