"""KEY=VALUE parsing and the plan-file-or-task decision of ``nexus run``."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus.cli._args import (
    ArgumentError,
    is_plan_reference,
    parse_assignment,
    parse_assignments,
    parse_value,
    plan_path,
)
from nexus.errors import NotFoundError, UserError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", 3),
        ("2.5", 2.5),
        ("true", True),
        ("false", False),
        ("null", None),
        ("[1, 2]", [1, 2]),
        ('{"a": 1}', {"a": 1}),
        ('"quoted"', "quoted"),
        ("hello world", "hello world"),
        ("", ""),
        ("01", "01"),  # not valid JSON: kept as text
        ("add a slugify() function", "add a slugify() function"),
    ],
)
def test_values_are_json_when_they_parse_else_text(text: str, expected: object) -> None:
    assert parse_value(text) == expected


def test_assignment_splits_on_the_first_equals_sign() -> None:
    assert parse_assignment("expr=a=b") == ("expr", "a=b")
    assert parse_assignment(" rounds =2") == ("rounds", 2)
    assert parse_assignment("empty=") == ("empty", "")


def test_repeated_assignments_build_a_dict_and_the_last_one_wins() -> None:
    values = parse_assignments(["task=fix it", "n=1", "flags=[true]", "n=2"])
    assert values == {"task": "fix it", "n": 2, "flags": [True]}


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ("novalue", "no '=' found"),
        ("=3", "the key is empty"),
        ("my key=3", "contains whitespace"),
    ],
)
def test_a_bad_assignment_names_the_option_and_the_argument(item: str, reason: str) -> None:
    with pytest.raises(ArgumentError) as info:
        parse_assignments(["ok=1", item], "--set")
    message = str(info.value)
    assert message.startswith(f"--set {item!r}")
    assert reason in message
    assert isinstance(info.value, UserError)


def test_plan_files_are_told_from_tasks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plan").write_text("name: p\nsteps: {}\n")
    assert is_plan_reference("plan")  # an existing file, whatever its name
    assert is_plan_reference("missing.yaml")
    assert is_plan_reference("missing.YML")
    assert is_plan_reference("dir/plan.json")
    assert not is_plan_reference("add rate limiting to the login endpoint")
    assert not is_plan_reference("x" * 5000)  # too long for a path: a task
    assert not is_plan_reference(str(tmp_path))  # a directory is not a plan


def test_plan_path_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"plan file not found: nope\.yaml"):
        plan_path("nope.yaml")
    with pytest.raises(ArgumentError, match="not a file"):
        plan_path(str(tmp_path))
    plan = tmp_path / "p.yaml"
    plan.write_text("name: p\n")
    assert plan_path(str(plan)) == plan
