"""Questions of runs that wait for input, and the exit code of a run's status."""

from __future__ import annotations

import io
from typing import Any

import pytest
from rich.console import Console

from nexus.cli._drive import Question, answer_command, ask, find_node, pending_questions
from nexus.cli._session import ExitCode, exit_code_for
from nexus.domain.runs import RunRecord, RunStatus, StepRecord, StepStatus

PLAN: dict[str, Any] = {
    "name": "release",
    "steps": {
        "approve": {"human": "Ship ${{ inputs.version }}?", "options": ["yes", "no"]},
        "review": {
            "loop": {
                "max": 3,
                "steps": {"ok": {"human": "Looks good?", "default": "yes"}},
            }
        },
        "checks": {"parallel": {"steps": {"lint": {"tool": "shell"}}}},
    },
}


def test_nodes_are_found_by_step_key_through_groups_and_iterations() -> None:
    assert find_node(PLAN, "approve") == PLAN["steps"]["approve"]
    assert find_node(PLAN, "review[2]/ok") == {"human": "Looks good?", "default": "yes"}
    assert find_node(PLAN, "checks/lint") == {"tool": "shell"}
    assert find_node(PLAN, "checks/nope") is None
    assert find_node(PLAN, "approve/deeper") is None
    assert find_node({}, "approve") is None


def test_pending_questions_prefer_the_values_the_engine_resolved() -> None:
    run = RunRecord("r1", "release", PLAN, {"version": "1.2"}, status=RunStatus.WAITING_INPUT)
    steps = [
        StepRecord(
            "r1",
            "approve",
            "human",
            StepStatus.WAITING_INPUT,
            1,
            input={"question": "Ship 1.2?", "options": ["yes", "no"], "default": None},
        ),
        StepRecord("r1", "review[1]/ok", "human", StepStatus.WAITING_INPUT, 1),
        StepRecord("r1", "checks/lint", "tool", StepStatus.SUCCEEDED, 1),
    ]
    assert pending_questions(run, steps) == [
        Question("approve", "Ship 1.2?", ("yes", "no"), None),
        Question("review[1]/ok", "Looks good?", None, "yes"),  # from the plan
    ]
    assert Question("approve", "Ship?", ("yes", "no")).to_dict("r1") == {
        "step": "approve",
        "question": "Ship?",
        "options": ["yes", "no"],
        "default": None,
        "answer_with": "nexus runs answer r1 --step approve VALUE",
    }
    assert answer_command("r9", "a/b") == "nexus runs answer r9 --step a/b VALUE"


def test_ask_only_accepts_one_of_the_options() -> None:
    out = io.StringIO()
    console = Console(file=out, width=100)
    question = Question("approve", "Ship 1.2?", ("yes", "no"))
    assert ask(question, console, stream=io.StringIO("maybe\nno\n")) == "no"
    text = out.getvalue()
    assert "approve" in text and "Ship 1.2? [yes/no]" in text
    assert "Please select one of the available options" in text


def test_ask_offers_the_default() -> None:
    console = Console(file=io.StringIO(), width=100)
    question = Question("ok", "Looks good?", None, "yes")
    assert ask(question, console, stream=io.StringIO("")) == "yes"  # an empty answer
    assert ask(question, console, stream=io.StringIO("ship it\n")) == "ship it"


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (RunStatus.SUCCEEDED, ExitCode.OK),
        (RunStatus.FAILED, ExitCode.FAILED),
        (RunStatus.CANCELLED, ExitCode.FAILED),
        (RunStatus.WAITING_INPUT, ExitCode.WAITING_INPUT),
        ("created", ExitCode.OK),
    ],
)
def test_exit_codes_follow_the_run_status(status: RunStatus | str, code: ExitCode) -> None:
    assert exit_code_for(status) == code
    assert (int(ExitCode.USAGE), int(ExitCode.WAITING_INPUT)) == (2, 3)
