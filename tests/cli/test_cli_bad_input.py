"""Bad input gets one clear message naming the problem, a non-zero exit, and nothing stored."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nexus.cli.app import app

runner = CliRunner()

GOOD = """\
name: good
inputs:
  n: {type: integer, default: 1}
steps:
  work: {tool: shell, with: {command: "echo hi > out.txt"}}
"""


def _runs() -> list[dict[str, object]]:
    result = runner.invoke(app, ["runs", "list", "--json"])
    assert result.exit_code == 0, result.output
    runs: list[dict[str, object]] = json.loads(result.stdout)
    return runs


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("name: x\nsteps:\n  a: {tool: echo\n", "line"),
        ("name: x\nsteps:\n  a: {tool: echo, needs: [a]}\n", "'a'"),
        ("name: x\nsteps:\n  a: {agent: ghost, prompt: hi}\n", "ghost"),
        ("name: x\nsteps:\n  a: {tool: shell, with: {cmd: ls}}\n", "cmd"),
        ("name: x\nsteps:\n  a: {tool: echo, with: {m: '${{ steps. }}'}}\n", "expression"),
    ],
)
def test_bad_plans_exit_2_with_the_problem_and_store_nothing(
    tmp_path: Path, text: str, needle: str
) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(text)
    result = runner.invoke(app, ["run", str(plan)])
    assert result.exit_code == 2
    assert "error" in result.output and needle in result.output
    assert "Traceback" not in result.output
    assert _runs() == []


def test_bad_input_value_names_the_input_and_stores_nothing(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(GOOD)
    result = runner.invoke(app, ["run", str(plan), "--input", "n=lots"])
    assert result.exit_code == 2
    assert "'n'" in result.output and "integer" in result.output
    result = runner.invoke(app, ["run", str(plan), "--input", "typo=1"])
    assert result.exit_code == 2 and "typo" in result.output
    assert _runs() == []


def test_unusable_workspace_is_named_and_nothing_is_stored(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(GOOD)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    result = runner.invoke(app, ["run", str(plan), "--workspace", str(blocker / "ws")])
    assert result.exit_code == 2
    assert str(blocker / "ws") in result.output
    assert _runs() == []


def test_missing_plan_file_and_unknown_run(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2 and "nope.yaml" in result.output
    for args in (["runs", "show", "r0"], ["runs", "resume", "r0"], ["runs", "cancel", "r0"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "no run with id 'r0'" in result.output
