"""The ``nexus`` command end to end: real facade, real SQLite store, plans from tmp files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from nexus.cli.app import app

runner = CliRunner()

HELLO = """\
name: hello
inputs:
  who: {type: string, default: world}
steps:
  greet: {tool: echo, with: {message: "hi ${{ inputs.who }}"}}
  shape:
    needs: [greet]
    transform: {text: "${{ steps.greet.output.message }}", n: 2}
"""

FAILING = """\
name: failing
steps:
  greet: {tool: echo, with: {message: hi}}
  check:
    needs: [greet]
    gate: [{check: "${{ steps.greet.output.message == 'bye' }}", message: "greet says bye"}]
"""

INVALID = """\
name: broken
steps:
  greet: {tool: no_such_tool, with: {message: hi}}
  later: {needs: [ghost], tool: echo}
"""

HUMAN = """\
name: release
steps:
  build: {tool: echo, with: {message: built}}
  approve: {needs: [build], human: "Ship it?", options: ["yes", "no"]}
  report:
    needs: [approve]
    transform: {answer: "${{ steps.approve.output.answer }}"}
"""


def cli(*args: str) -> Result:
    result = runner.invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    return result


def cli_json(*args: str, code: int = 0) -> Any:
    result = cli(*args, "--json")
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


@pytest.fixture
def plans(tmp_path: Path) -> dict[str, Path]:
    paths = {}
    for name, text in {
        "hello": HELLO,
        "failing": FAILING,
        "invalid": INVALID,
        "human": HUMAN,
    }.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        paths[name] = path
    return paths


def test_run_succeeds_with_json_summary_and_inputs(plans: dict[str, Path]) -> None:
    summary = cli_json("run", str(plans["hello"]), "--input", "who=Ada")
    assert summary["status"] == "succeeded"
    assert summary["plan"] == "hello"
    steps = {s["key"]: s for s in summary["steps"]}
    assert [steps[k]["status"] for k in ("greet", "shape")] == ["succeeded", "succeeded"]
    assert steps["greet"]["attempts"] == 1
    detail = cli_json("runs", "show", summary["run_id"])
    outputs = {s["step_key"]: s["output"] for s in detail["steps"]}
    assert outputs == {"greet": {"message": "hi Ada"}, "shape": {"text": "hi Ada", "n": 2}}
    assert detail["inputs"]["who"] == "Ada"
    assert detail["status"] == "succeeded"


def test_run_prints_a_line_per_step_and_a_summary(plans: dict[str, Path]) -> None:
    result = cli("run", str(plans["hello"]))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("run ") and "plan hello" in lines[0]
    events = [line.split("]", 1)[1].split()[:3] for line in lines if line.startswith("[")]
    assert ["step", "started", "greet"] in events
    assert ["step", "succeeded", "greet"] in events
    assert ["step", "succeeded", "shape"] in events
    assert events[-1][:2] == ["run", "succeeded"]
    assert any(line.split()[:1] == ["greet"] and "tool echo" in line for line in lines)


def test_a_failed_run_exits_1(plans: dict[str, Path]) -> None:
    summary = cli_json("run", str(plans["failing"]), code=1)
    assert summary["status"] == "failed"
    steps = {s["key"]: s["status"] for s in summary["steps"]}
    assert steps == {"greet": "succeeded", "check": "failed"}
    result = cli("run", str(plans["failing"]))
    assert result.exit_code == 1
    assert "greet says bye" in result.stdout


def test_an_invalid_plan_exits_2_naming_every_problem(plans: dict[str, Path]) -> None:
    result = cli("run", str(plans["invalid"]))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    problem_lines = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert any("'greet'" in line and "no_such_tool" in line for line in problem_lines)
    assert any("'later'" in line and "ghost" in line for line in problem_lines)

    result = cli("plan", "validate", str(plans["invalid"]))
    assert result.exit_code == 1
    report = cli_json("plan", "validate", str(plans["invalid"]), code=1)
    assert report["valid"] is False
    assert {p["node"] for p in report["problems"]} >= {"greet", "later"}


def test_plan_validate_prints_an_outline(plans: dict[str, Path]) -> None:
    result = cli("plan", "validate", str(plans["hello"]))
    assert result.exit_code == 0
    assert "valid" in result.stdout and "greet" in result.stdout and "tool echo" in result.stdout
    report = cli_json("plan", "validate", str(plans["hello"]))
    assert report["valid"] is True
    assert [(s["key"], s["actor"], s["needs"]) for s in report["steps"]] == [
        ("greet", "tool echo", []),
        ("shape", "transform", ["greet"]),
    ]


def test_a_waiting_run_exits_3_and_is_answered(plans: dict[str, Path]) -> None:
    result = cli("run", str(plans["human"]))
    assert result.exit_code == 3, result.output
    run_id = result.stdout.splitlines()[0].split()[1]
    assert "Ship it?" in result.stdout and "yes, no" in result.stdout
    assert f"nexus runs answer {run_id} --step approve VALUE" in result.stdout

    listed = cli_json("runs", "list", "--status", "waiting_input")
    assert [r["run_id"] for r in listed] == [run_id]
    status = cli_json("status")
    assert [r["run_id"] for r in status["runs"]] == [run_id]

    refused = cli("runs", "answer", run_id, "--step", "approve", "maybe")
    assert refused.exit_code == 2
    assert "not one of the options" in refused.stderr

    summary = cli_json("runs", "answer", run_id, "--step", "approve", "yes")
    assert summary["status"] == "succeeded"
    detail = cli_json("runs", "show", run_id)
    outputs = {s["step_key"]: s["output"] for s in detail["steps"]}
    assert outputs["report"] == {"answer": "yes"}


def test_a_waiting_run_with_json_lists_its_questions(plans: dict[str, Path]) -> None:
    summary = cli_json("run", str(plans["human"]), code=3)
    assert summary["status"] == "waiting_input"
    assert summary["waiting"] == [
        {
            "step": "approve",
            "question": "Ship it?",
            "options": ["yes", "no"],
            "default": None,
            "answer_with": f"nexus runs answer {summary['run_id']} --step approve VALUE",
        }
    ]


def test_runs_list_show_and_logs(plans: dict[str, Path]) -> None:
    first = cli_json("run", str(plans["hello"]))["run_id"]
    failed = cli_json("run", str(plans["failing"]), code=1)["run_id"]
    listed = cli_json("runs", "list")
    assert {r["run_id"]: r["status"] for r in listed} == {first: "succeeded", failed: "failed"}
    assert [r["run_id"] for r in cli_json("runs", "list", "--status", "failed")] == [failed]
    assert len(cli_json("runs", "list", "--limit", "1")) == 1

    table = cli("runs", "list")
    assert table.exit_code == 0 and first in table.stdout and failed in table.stdout

    events = cli_json("runs", "logs", first)
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1))
    types = [e["type"] for e in events]
    assert types[0] == "run.created" and types[-1] == "run.succeeded"
    assert types.count("step.succeeded") == 2
    detail = cli_json("runs", "show", first)
    assert {e["correlation_id"] for e in events} == {detail["correlation_id"]}

    logs = cli("runs", "logs", first)
    assert logs.exit_code == 0
    assert len(logs.stdout.splitlines()) == len(events)
    assert "step.succeeded" in logs.stdout and detail["correlation_id"] in logs.stdout
    # --follow on a finished run prints everything and stops
    follow = cli("runs", "logs", first, "--follow", "--json")
    assert [json.loads(line)["seq"] for line in follow.stdout.splitlines()] == seqs

    shown = cli("runs", "show", failed)
    assert shown.exit_code == 0
    assert "failed" in shown.stdout and "check" in shown.stdout


def test_unknown_runs_are_usage_errors() -> None:
    for args in (["runs", "show", "nope"], ["runs", "logs", "nope"], ["runs", "cancel", "nope"]):
        result = cli(*args)
        assert result.exit_code == 2, args
        assert result.stderr.startswith("error: ") and "nope" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_fork_checkpoint_and_restore(plans: dict[str, Path]) -> None:
    parent = cli_json("run", str(plans["hello"]))["run_id"]
    child = cli_json("runs", "fork", parent, "--from", "greet", "--set", "who=Bob")
    assert child["status"] == "succeeded"
    assert child["run_id"] != parent
    assert child["parent_run_id"] == parent
    detail = cli_json("runs", "show", child["run_id"])
    assert detail["forked_from_step"] == "greet"
    assert {s["step_key"]: s["output"] for s in detail["steps"]}["shape"]["text"] == "hi Bob"
    parent_detail = cli_json("runs", "show", parent)
    assert [c["run_id"] for c in parent_detail["children"]] == [child["run_id"]]

    human = plans["human"]
    waiting = cli_json("run", str(human), code=3)["run_id"]
    cp = cli_json("runs", "checkpoint", waiting, "--label", "before approval")
    assert cp["run_id"] == waiting and cp["label"] == "before approval"
    restored = cli_json("runs", "restore", cp["checkpoint_id"])
    assert restored["parent_run_id"] == waiting
    assert restored["status"] == "created"
    # --run executes the restored run: the build step is copied, the question asked again
    rerun = cli_json("runs", "restore", cp["checkpoint_id"], "--run", code=3)
    assert rerun["status"] == "waiting_input"
    assert {s["key"]: s["status"] for s in rerun["steps"]} == {
        "build": "succeeded",
        "approve": "waiting_input",
    }
    assert [q["step"] for q in rerun["waiting"]] == ["approve"]

    text = cli("runs", "fork", parent, "--from", "shape")
    assert text.exit_code == 0
    assert "forked from" in text.stdout


def test_cancel_a_waiting_run(plans: dict[str, Path]) -> None:
    run_id = cli_json("run", str(plans["human"]), code=3)["run_id"]
    cancelled = cli_json("runs", "cancel", run_id)
    assert cancelled["status"] == "cancelled"
    assert cli_json("runs", "show", run_id)["status"] == "cancelled"


def test_status_and_doctor() -> None:
    status = cli_json("status")
    assert status["runs"] == []
    assert {a["id"] for a in status["agents"]} >= {"aria", "code", "alpha", "beta"}
    report = cli_json("doctor")
    assert report["ok"] is True
    assert report["checks"]["store"]["ok"] is True
    text = cli("doctor")
    assert text.exit_code == 0 and "store" in text.stdout


def test_a_task_in_words_goes_to_the_software_team(tmp_path: Path) -> None:
    task = "add a slugify function with tests"
    result = cli("run", task, "--workspace", str(tmp_path / "ws"), "--json")
    assert result.exit_code in (0, 1), result.output  # offline, the team may lack a recording
    summary = json.loads(result.stdout)
    assert summary["plan"] == "software-team"
    assert summary["workspace"] == str((tmp_path / "ws").resolve())
    assert summary["steps"][0]["kind"] == "agent"  # the team's first step ran
    detail = cli_json("runs", "show", summary["run_id"])
    assert detail["inputs"]["task"] == task


def test_run_in_a_given_workspace(plans: dict[str, Path], tmp_path: Path) -> None:
    target = tmp_path / "my-workspace"
    summary = cli_json("run", str(plans["hello"]), "--workspace", str(target))
    assert summary["workspace"] == str(target.resolve())
    assert (target / ".git").is_dir()
    assert summary["git_log"], "the workspace is a git repository with its first commit"
