"""The CLI across processes: following a run another process executes, resuming a killed one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nexus.cli.app import app

runner = CliRunner()

SLOW = """\
name: slow
steps:
  first: {tool: echo, with: {message: one}}
  wait:
    needs: [first]
    tool: shell
    with: {command: "sleep 1.5 && echo done"}
  last: {needs: [wait], tool: echo, with: {message: three}}
"""


@pytest.fixture
def background_run(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``nexus run slow.yaml`` in another process; yields it and its run id once it started."""
    plan = tmp_path / "slow.yaml"
    plan.write_text(SLOW)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from nexus.cli.app import main; main()", "run", str(plan)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=os.environ.copy(),
    )
    assert proc.stdout is not None
    header = proc.stdout.readline()  # "run <id>  plan slow  workspace …", printed before it runs
    assert header.startswith("run "), header + (proc.stderr.read() if proc.stderr else "")
    try:
        yield proc, header.split()[1]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def test_logs_follow_a_run_of_another_process_until_it_ends(
    background_run: tuple[subprocess.Popen[str], str],
) -> None:
    proc, run_id = background_run
    result = runner.invoke(app, ["runs", "logs", run_id, "--follow", "--json"])
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "run.succeeded"
    done = [e["step_key"] for e in events if e["type"] == "step.succeeded"]
    assert done == ["first", "wait", "last"]
    assert proc.wait(timeout=30) == 0


def test_a_killed_run_is_resumed_from_its_last_completed_step(
    background_run: tuple[subprocess.Popen[str], str],
) -> None:
    proc, run_id = background_run
    assert proc.stdout is not None
    for line in proc.stdout:  # wait until the slow step runs, then kill the process
        if "step started" in line and "wait" in line:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    result = runner.invoke(app, ["runs", "resume", run_id, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "succeeded"
    steps = {s["key"]: (s["status"], s["attempts"]) for s in summary["steps"]}
    assert steps["first"] == ("succeeded", 1)  # not run again
    assert steps["last"] == ("succeeded", 1)
    assert steps["wait"][0] == "succeeded"

    again = runner.invoke(app, ["runs", "resume", run_id])
    assert again.exit_code == 2  # a finished run cannot be resumed
    assert again.stderr.startswith("error: ") and "fork" in again.stderr


def test_ctrl_c_stops_the_command_with_130_and_the_run_can_be_resumed(
    background_run: tuple[subprocess.Popen[str], str],
) -> None:
    proc, run_id = background_run
    assert proc.stdout is not None and proc.stderr is not None
    for line in proc.stdout:
        if "step started" in line and "wait" in line:
            break
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 130
    assert f"interrupted; continue with: nexus runs resume {run_id}" in proc.stderr.read()

    result = runner.invoke(app, ["runs", "resume", run_id, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["status"] == "succeeded"
    assert {s["key"]: s["attempts"] for s in summary["steps"]}["first"] == 1
