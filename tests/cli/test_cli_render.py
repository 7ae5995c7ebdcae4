"""Formatting helpers, tables and the end-of-run summary, from synthetic records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console, RenderableType

from nexus.cli._format import (
    dumps,
    fmt_cost,
    fmt_duration,
    jsonable,
    one_line,
    summarize_output,
)
from nexus.cli.app import essential_checks
from nexus.cli.render import (
    agents_table,
    doctor_table,
    event_line,
    render_summary,
    run_detail,
    run_to_dict,
    runs_table,
    step_to_dict,
    summary_cost,
    summary_git_log,
    summary_tokens,
)
from nexus.domain.runs import Event, RunRecord, RunStatus, StepRecord, StepStatus


def text_of(renderable: RenderableType, width: int = 160) -> str:
    console = Console(record=True, width=width, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


SUMMARY: dict[str, Any] = {
    "run_id": "r1",
    "plan": "slugify",
    "status": "succeeded",
    "parent_run_id": None,
    "duration_s": 75.5,
    "error": None,
    "steps": [
        {
            "key": "analyse",
            "kind": "agent",
            "name": "aria",
            "status": "succeeded",
            "attempts": 1,
            "duration_s": 2.5,
            "model": "offline:replay",
            "input_tokens": 1200,
            "output_tokens": 300,
            "cost_usd": 0.0123,
            "output": "Plan: add slugify()",
            "error": None,
        },
        {
            "key": "validate[1]/run_tests",
            "kind": "tool",
            "name": "pytest",
            "status": "failed",
            "attempts": 2,
            "duration_s": 61.0,
            "model": None,
            "input_tokens": 0,
            "output_tokens": 0,
            "cost_usd": 0.0,
            "output": "",
            "error": {"code": "tool_error", "message": "1 test failed\nsee report"},
        },
    ],
    "totals": {"steps": 2, "input_tokens": 1200, "output_tokens": 300, "cost_usd": 0.0123},
    "tests": {"passed": 4, "failed": 1, "errors": 0, "skipped": None, "total": 5},
    "workspace": "/tmp/ws/r1",
    "git_log": [
        {"sha": "a" * 40, "short_sha": "aaaaaaa", "subject": "analyse: aria (attempt 1)"},
        {"sha": "b" * 40, "short_sha": "bbbbbbb", "subject": "workspace: seed from plan"},
    ],
}


def test_durations_costs_and_lines_are_formatted_compactly() -> None:
    assert [fmt_duration(s) for s in (None, 0.0, 0.4242, 9.999, 12.34, 125, 3725)] == [
        "-",
        "0.00s",
        "0.42s",
        "10.00s",
        "12.3s",
        "2m05s",
        "1h02m",
    ]
    assert fmt_duration(-1) == "0.00s"
    assert [fmt_cost(c) for c in (None, 0.0, 0.00421, 1.256)] == [
        "-",
        "$0.0000",
        "$0.0042",
        "$1.26",
    ]
    assert one_line("a\n  b\tc", 10) == "a b c"
    assert one_line("abcdefghijkl", 6) == "abcde…"
    assert summarize_output(None) == ""
    assert summarize_output({"b": [1, 2], "a": "x"}) == '{"b": [1, 2], "a": "x"}'
    assert summarize_output("line one\nline two", 12) == "line one li…"


def test_jsonable_turns_records_into_plain_json() -> None:
    step = StepRecord("r1", "s", "tool", StepStatus.SUCCEEDED, 1, output=("a", Path("/x")))
    data = jsonable(step)
    assert data["status"] == "succeeded"
    assert data["output"] == ["a", "/x"]
    assert json.loads(dumps({"step": step, "when": RunStatus.FAILED}))["when"] == "failed"


def test_summary_totals_are_read_from_the_summary_shape() -> None:
    assert summary_tokens(SUMMARY) == 1500
    assert summary_cost(SUMMARY) == 0.0123
    assert summary_tokens(SUMMARY["steps"][0]) == 1500
    assert summary_tokens({"tokens": {"input_tokens": 3, "output_tokens": 4}}) == 7
    assert summary_tokens({"tokens": 42}) == 42
    assert summary_tokens({}) is None
    assert summary_cost({}) is None
    assert summary_git_log(SUMMARY) == [
        "aaaaaaa analyse: aria (attempt 1)",
        "bbbbbbb workspace: seed from plan",
    ]
    assert summary_git_log({"git_log": "abc first\n\ndef second\n"}) == ["abc first", "def second"]


def test_summary_shows_steps_usage_tests_workspace_and_git_log() -> None:
    text = text_of(render_summary(SUMMARY))
    assert "run r1  slugify  succeeded" in text
    rows = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    analyse = rows["analyse"]
    for part in ("agent aria", "offline:replay", "succeeded", "2.50s", "1500", "$0.0123"):
        assert part in analyse
    tests_row = rows["validate[1]/run_tests"]
    for part in ("tool pytest", "failed", " 2 ", "1m01s", "1 test failed see report"):
        assert part in tests_row
    assert "1m15s" in rows["duration"]
    assert rows["tokens"].split() == ["tokens", "1500"]
    assert rows["cost"].split() == ["cost", "$0.0123"]
    assert rows["tests"].split(None, 1)[1] == "4 passed, 1 failed, 0 errors, 5 total"
    assert rows["workspace"].split() == ["workspace", "/tmp/ws/r1"]
    assert "aaaaaaa analyse: aria (attempt 1)" in text
    assert "bbbbbbb workspace: seed from plan" in text


def test_summary_of_a_failed_fork_names_error_and_parent() -> None:
    summary = {
        "run_id": "r2",
        "status": "failed",
        "parent_run_id": "r1",
        "forked_from_step": "implement",
        "error": {"code": "step_failed", "message": "step 'implement' failed: boom"},
        "steps": [],
    }
    text = text_of(render_summary(summary))
    assert "run r2  failed" in text
    assert "step 'implement' failed: boom" in text
    assert "r1 (from step implement)" in text
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}
    assert rows["tokens"] == ["tokens", "-"]
    assert rows["cost"] == ["cost", "-"]


def test_summary_leaves_out_columns_no_step_fills() -> None:
    summary = {
        "run_id": "r3",
        "status": "succeeded",
        "steps": [
            {
                "key": "greet",
                "kind": "tool",
                "name": "echo",
                "status": "succeeded",
                "attempts": 1,
                "duration_s": 0.01,
                "model": None,
                "input_tokens": 0,
                "output_tokens": 0,
                "cost_usd": 0.0,
                "output": "",
                "error": None,
            },
        ],
    }
    header = next(line for line in text_of(render_summary(summary)).splitlines() if "step" in line)
    assert header.split() == ["step", "┃", "agent/tool", "┃", "status", "┃", "try", "┃", "duration"]


def make_run(run_id: str, **kw: Any) -> RunRecord:
    base: dict[str, Any] = {
        "plan_name": "demo",
        "plan": {"name": "demo", "steps": {"greet": {"tool": "echo"}}},
        "inputs": {"who": "world"},
        "created_at": 1_700_000_000.0,
    }
    base.update(kw)
    return RunRecord(run_id, **base)


def test_runs_table_and_run_dicts() -> None:
    runs = [
        make_run("r1", status=RunStatus.SUCCEEDED, finished_at=1_700_000_012.5),
        make_run("r2", status=RunStatus.RUNNING, parent_run_id="r1", forked_from_step="greet"),
    ]
    text = text_of(runs_table(runs))
    assert "2 run(s)" in text
    rows = {line.split()[1]: line for line in text.splitlines() if line.startswith("│ r")}
    assert "succeeded" in rows["r1"] and "12.5s" in rows["r1"]
    assert "running" in rows["r2"] and "r1 @ greet" in rows["r2"]
    data = run_to_dict(runs[0])
    assert "plan" not in data
    assert data["status"] == "succeeded"
    assert data["duration"] == 12.5
    assert run_to_dict(runs[0], with_plan=True)["plan"]["name"] == "demo"


def test_run_detail_lists_links_and_steps_with_truncated_output() -> None:
    run = make_run(
        "r1",
        status=RunStatus.FAILED,
        workspace="/ws/r1",
        error={"message": "step 'talk' failed"},
        parent_run_id="r0",
        forked_from_step="greet",
    )
    child = make_run("r3", status=RunStatus.SUCCEEDED, parent_run_id="r1", forked_from_step="talk")
    steps = [
        StepRecord(
            "r1",
            "greet",
            "tool",
            StepStatus.SUCCEEDED,
            1,
            output={"message": "x" * 500},
            started_at=10.0,
            finished_at=10.5,
        ),
        StepRecord(
            "r1",
            "talk",
            "agent",
            StepStatus.FAILED,
            3,
            error={"message": "model down"},
            started_at=11.0,
            finished_at=14.0,
            meta={"model": "offline:replay"},
        ),
    ]
    text = text_of(run_detail(run, steps, [child], {"greet": "tool echo", "talk": "agent aria"}))
    assert "r0 (forked from step greet)" in text
    assert "r3 succeeded from step talk" in text
    assert "step 'talk' failed" in text
    greet = next(line for line in text.splitlines() if line.strip().startswith("greet"))
    assert "tool echo" in greet and "0.50s" in greet and "…" in greet
    assert len(greet) < 170
    talk = next(line for line in text.splitlines() if line.strip().startswith("talk"))
    for part in ("agent aria", "offline:replay", "failed", "3", "3.00s", "model down"):
        assert part in talk
    data = step_to_dict(steps[1], "agent aria")
    assert (data["attempts"], data["duration"], data["model"]) == (3, 3.0, "offline:replay")
    summary = step_to_dict(steps[0])["output_summary"]
    assert len(summary) == 200 and summary.endswith("…")


def test_event_line_shows_seq_type_step_and_correlation_id() -> None:
    event = Event("r1", 7, "step.failed", {"error": "boom"}, "corr-9", "greet", 1_700_000_000.25)
    text = str(event_line(event))
    assert text.startswith("    7 ")
    assert ".250 step.failed" in text
    assert "greet" in text and "corr-9" in text and '{"error": "boom"}' in text


def test_agents_table_shows_state_current_step_and_track_record() -> None:
    agents = [
        {
            "id": "code",
            "name": "Code",
            "role": "developer",
            "model": "offline:replay",
            "status": {"state": "processing", "current_step": "r1/implement"},
            "stats": {"steps": 4, "success_rate": 0.75, "total_cost_usd": 0.02},
        },
        {"id": "beta", "name": "Beta", "role": "test validator", "status": {"state": "idle"}},
    ]
    text = text_of(agents_table(agents), width=200)
    code = next(line for line in text.splitlines() if "│ code" in line)
    for part in ("Code", "developer", "offline:replay", "processing", "r1/implement", "75%"):
        assert part in code
    assert "$0.0200" in code
    beta = next(line for line in text.splitlines() if "│ beta" in line)
    assert "idle" in beta and beta.count(" - ") >= 2


def test_doctor_marks_failed_essential_checks_and_warns_for_others() -> None:
    checks = {
        "store": {"ok": True, "detail": "sqlite (3 runs)", "essential": True},
        "git": {"ok": False, "detail": "git not found on PATH"},
        "provider:openai": {"ok": False, "detail": "no key", "essential": False},
    }
    essential = essential_checks(checks)
    assert essential == {"store", "git"}
    text = text_of(doctor_table(checks, essential))
    rows = {line.split()[1]: line for line in text.splitlines() if line.startswith("│ ")}
    assert "ok" in rows["store"] and "sqlite (3 runs)" in rows["store"]
    assert "FAIL" in rows["git"]
    assert "warn" in rows["provider:openai"]
