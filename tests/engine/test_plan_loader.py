"""Reading plans from mappings, YAML and JSON; problems in plain words; back to user format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from nexus.domain.plan import (
    AgentNode,
    ConditionNode,
    GateNode,
    HumanNode,
    LoopNode,
    ParallelNode,
    Plan,
    SequenceNode,
    ToolNode,
    TransformNode,
)
from nexus.engine.plan_loader import (
    get_node,
    iter_nodes,
    load_plan_file,
    parse_plan,
    parse_plan_text,
    plan_to_dict,
    step_paths,
)
from nexus.errors import NotFoundError, PlanError

PLANS = Path(__file__).parent / "plans"


def problems_of(data: Any) -> list[tuple[str | None, str, str]]:
    with pytest.raises(PlanError) as info:
        parse_plan(data, source="test.yaml")
    return [(p.node, p.kind, p.message) for p in info.value.problems]


# --- parsing ----------------------------------------------------------------------------------


def test_the_architecture_example_parses_with_kinds_and_keys_filled_in() -> None:
    plan = load_plan_file(PLANS / "software_team.yaml")
    assert plan.name == "software-team"
    assert plan.inputs["max_fix_rounds"].default == 3
    assert [n.kind for n in plan.steps.values()] == [
        "agent",
        "agent",
        "agent",
        "loop",
        "agent",
        "gate",
    ]
    assert all(key == node.key for key, node in plan.steps.items())
    validate = plan.steps["validate"]
    assert isinstance(validate, LoopNode)
    assert validate.needs == ("write_tests",)
    assert validate.loop.max == "${{ inputs.max_fix_rounds }}"
    assert validate.loop.until == "${{ steps.run_tests.output.failed == 0 }}"
    run_tests = validate.loop.steps["run_tests"]
    assert isinstance(run_tests, ToolNode)
    assert (run_tests.kind, run_tests.key, run_tests.tool) == ("tool", "run_tests", "pytest")
    assert run_tests.with_ == {"args": ["-q"]}
    fix = validate.loop.steps["fix"]
    assert isinstance(fix, AgentNode)
    assert fix.if_ == "${{ steps.run_tests.output.failed > 0 }}"
    assert fix.prompt.startswith("Tests failed:\n${{ steps.run_tests.output.report }}")
    gate = plan.steps["all_green"]
    assert isinstance(gate, GateNode)
    assert gate.gate[0].check == "${{ steps.validate.output.failed == 0 }}"
    assert gate.gate[0].message == "all tests pass"


def test_every_node_kind_parses() -> None:
    plan = load_plan_file(PLANS / "all_kinds.yaml")
    types = {path: type(node) for path, node in iter_nodes(plan)}
    assert types == {
        "analyse": AgentNode,
        "approve": HumanNode,
        "route": ConditionNode,
        "build": SequenceNode,
        "build/implement": AgentNode,
        "build/checks": ParallelNode,
        "build/checks/lint": ToolNode,
        "build/checks/types": ToolNode,
        "validate": LoopNode,
        "validate/run_tests": ToolNode,
        "validate/fix": AgentNode,
        "summary": TransformNode,
        "report": AgentNode,
        "all_green": GateNode,
    }
    build = get_node(plan, "build")
    assert isinstance(build, SequenceNode)
    assert build.sequence.max_concurrency == 1
    lint = get_node(plan, "build/checks/lint")
    assert (lint.key, lint.kind) == ("lint", "tool")
    route = get_node(plan, "route")
    assert isinstance(route, ConditionNode)
    assert (route.then, route.else_) == (("build",), ("report",))
    gate = get_node(plan, "all_green")
    assert isinstance(gate, GateNode)
    assert gate.gate[1].schema_ == {"type": "object", "required": ["failed"]}
    assert (gate.on_fail, gate.rollback_to) == ("rollback", "build")


def test_group_shorthand_equals_the_full_form() -> None:
    children = {"a": {"tool": "echo"}, "b": {"tool": "echo", "needs": ["a"]}}
    for kind in ("parallel", "sequence"):
        short = parse_plan({"name": "p", "steps": {"g": {kind: children}}})
        full = parse_plan({"name": "p", "steps": {"g": {kind: {"steps": children}}}})
        assert short == full
        assert step_paths(short) == ["g", "g/a", "g/b"]


def test_a_shorthand_child_may_be_called_steps() -> None:
    plan = parse_plan({"name": "p", "steps": {"g": {"parallel": {"steps": {"tool": "echo"}}}}})
    assert step_paths(plan) == ["g", "g/steps"]


def test_a_model_dump_parses_back() -> None:
    plan = load_plan_file(PLANS / "all_kinds.yaml")
    assert parse_plan(plan.model_dump()) == plan
    assert parse_plan(plan) is plan


# --- problems in plain words ------------------------------------------------------------------


def test_all_structural_problems_come_in_one_error_naming_node_and_field() -> None:
    data = {
        "name": "broken",
        "settings": {"max_concurrency": 0},
        "steps": {
            "implement": {"agent": "code", "promt": "do it"},
            "both": {"agent": "code", "tool": "pytest", "prompt": "x"},
            "neither": {"needs": []},
            "scalar": 5,
            "validate": {
                "loop": {
                    "max": [3],
                    "steps": {
                        "run_tests": {"tool": "pytest", "wiht": {}},
                        "ask": {"human": "ok?", "optins": ["y"]},
                    },
                }
            },
            "gate": {"gate": [{"check": "x", "min_confidence": 2}], "on_fail": "explode"},
        },
    }
    with pytest.raises(PlanError) as info:
        parse_plan(data, source="broken.yaml")
    assert str(info.value).startswith("cannot read plan 'broken' from broken.yaml: 11 problems")
    found = {(p.node, p.message) for p in info.value.problems}
    assert found == {
        ("implement", "unknown field 'promt' (did you mean 'prompt'?)"),
        ("implement", "missing field 'prompt'"),
        (
            "both",
            "a node needs exactly one of agent, tool, gate, human, condition, loop, parallel, "
            "sequence, transform (found: agent, tool)",
        ),
        (
            "neither",
            "a node needs exactly one of agent, tool, gate, human, condition, loop, parallel, "
            "sequence, transform (found: none)",
        ),
        ("scalar", "a step must be a mapping of fields (got int 5)"),
        (
            "validate",
            "field 'loop.max': input should be a valid integer or a valid string (got [3])",
        ),
        ("validate/run_tests", "unknown field 'wiht' (did you mean 'with'?)"),
        ("validate/ask", "unknown field 'optins' (did you mean 'options'?)"),
        ("gate", "field 'gate[0].min_confidence': input should be less than or equal to 1 (got 2)"),
        ("gate", "field 'on_fail': input should be 'fail' or 'rollback' (got \"explode\")"),
        (
            None,
            "field 'settings.max_concurrency': input should be greater than or equal to 1 (got 0)",
        ),
    }


def test_problem_strings_name_the_step() -> None:
    with pytest.raises(PlanError) as info:
        parse_plan(
            {"name": "p", "steps": {"implement": {"agent": "code", "promt": "x", "prompt": "y"}}}
        )
    assert [str(p) for p in info.value.problems] == [
        "step 'implement': unknown field 'promt' (did you mean 'prompt'?) [unknown_field]"
    ]
    assert info.value.to_dict()["problems"] == [
        {
            "node": "implement",
            "kind": "unknown_field",
            "message": "unknown field 'promt' (did you mean 'prompt'?)",
        }
    ]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        ({1: {"tool": "echo"}}, ("1", "bad_key", "step key 1 must be a string")),
        (
            {"a": {"tool": "echo", "kind": "agent"}},
            ("a", "node_kind", "field 'kind' says 'agent', but the node is written as 'tool'"),
        ),
        (
            {"a": {"tool": "echo", "key": "b"}},
            ("a", "bad_key", "field 'key' says 'b' but the step is keyed 'a'"),
        ),
        ({"a": None}, ("a", "invalid_node", "a step must be a mapping of fields (got nothing)")),
        (
            {"a": {"tool": "echo", "retry": {"max_attempts": 0}}},
            (
                "a",
                "invalid_value",
                "field 'retry.max_attempts': input should be greater than or equal to 1 (got 0)",
            ),
        ),
        ({"g": {"loop": {"max": 2}}}, ("g", "missing_field", "missing field 'loop.steps'")),
        (
            {"g": {"sequence": {"s": {"tool": "echo", "bogus": 1}}}},
            ("g/s", "unknown_field", "unknown field 'bogus'"),
        ),
    ],
)
def test_each_structural_mistake_is_one_named_problem(
    steps: dict[Any, Any], expected: tuple[str, str, str]
) -> None:
    assert problems_of({"name": "p", "steps": steps}) == [expected]


def test_plan_level_problems() -> None:
    assert problems_of([1, 2]) == [(None, "invalid_plan", "a plan must be a mapping (got list)")]
    assert problems_of({"steps": {}}) == [(None, "missing_field", "missing field 'name'")]
    assert problems_of({"name": "p", "steps": {}, "colour": "red"}) == [
        (None, "unknown_field", "unknown field 'colour'")
    ]
    assert problems_of({"name": "p", "steps": []}) == [
        (None, "invalid_value", "field 'steps': input should be a valid dictionary (got [])")
    ]


# --- files ------------------------------------------------------------------------------------


SIMPLE = {"name": "simple", "steps": {"hello": {"tool": "echo", "with": {"text": "hi"}}}}


@pytest.mark.parametrize("name", ["plan.yaml", "plan.yml", "plan.json", "plan.txt", "plan"])
def test_files_by_suffix_or_content(tmp_path: Path, name: str) -> None:
    file = tmp_path / name
    text = json.dumps(SIMPLE) if name.endswith((".json", ".txt")) else yaml.safe_dump(SIMPLE)
    file.write_text(text, encoding="utf-8")
    plan = load_plan_file(file)
    assert plan.name == "simple"
    assert isinstance(plan.steps["hello"], ToolNode)
    assert plan.steps["hello"].with_ == {"text": "hi"}


def test_malformed_yaml_names_file_line_and_column(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text("name: bad\nsteps:\n  a: {tool: echo\n  b: {tool: echo}\n", encoding="utf-8")
    with pytest.raises(PlanError) as info:
        load_plan_file(file)
    message = str(info.value)
    assert str(file) in message
    assert "line 4, column 4" in message
    assert info.value.problems[0].kind == "syntax"


def test_yaml_indentation_error_names_the_line(tmp_path: Path) -> None:
    file = tmp_path / "bad.yml"
    file.write_text("name: bad\nsteps:\n  a:\n    tool: echo\n   with: {}\n", encoding="utf-8")
    with pytest.raises(PlanError, match=r"bad\.yml: line 5, column 4"):
        load_plan_file(file)


def test_duplicate_yaml_keys_are_refused_with_their_line(tmp_path: Path) -> None:
    file = tmp_path / "dup.yaml"
    file.write_text(
        "name: dup\nsteps:\n  a: {tool: echo}\n  b: {tool: echo}\n  a: {tool: echo}\n",
        encoding="utf-8",
    )
    with pytest.raises(PlanError, match=r"line 5, column 3: .*duplicate key 'a'"):
        load_plan_file(file)


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    file = tmp_path / "bad.json"
    file.write_text('{\n  "name": "bad",\n  "steps": {,}\n}\n', encoding="utf-8")
    with pytest.raises(PlanError, match=r"bad\.json: line 3, column 13"):
        load_plan_file(file)


def test_duplicate_json_keys_are_refused() -> None:
    with pytest.raises(PlanError, match="duplicate key 'name'"):
        parse_plan_text('{"name": "a", "name": "b", "steps": {}}', fmt="json")


def test_missing_empty_and_directory_files(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="does not exist"):
        load_plan_file(tmp_path / "nope.yaml")
    (tmp_path / "empty.yaml").write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(PlanError, match="empty"):
        load_plan_file(tmp_path / "empty.yaml")
    with pytest.raises(PlanError, match="is a directory"):
        load_plan_file(tmp_path)


def test_structural_problems_in_a_file_name_the_file(tmp_path: Path) -> None:
    file = tmp_path / "p.yaml"
    file.write_text("name: p\nsteps:\n  a: {agent: code}\n", encoding="utf-8")
    with pytest.raises(PlanError) as info:
        load_plan_file(file)
    assert str(file) in info.value.message
    assert [str(p) for p in info.value.problems] == [
        "step 'a': missing field 'prompt' [missing_field]"
    ]


# --- back to the user's format ----------------------------------------------------------------


def _all_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _all_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _all_keys(v)}
    return set()


@pytest.mark.parametrize("name", ["software_team.yaml", "all_kinds.yaml"])
def test_plan_to_dict_round_trips(name: str) -> None:
    plan = load_plan_file(PLANS / name)
    data = plan_to_dict(plan)
    assert parse_plan(data) == plan
    assert json.loads(json.dumps(data)) == data
    assert "kind" not in _all_keys(data["steps"])
    assert "key" not in _all_keys(data["steps"])
    assert list(data)[:2] == ["version", "name"]


def test_plan_to_dict_is_what_a_user_writes() -> None:
    plan = parse_plan(
        {
            "name": "p",
            "steps": {
                "g": {"parallel": {"a": {"tool": "echo"}}},
                "b": {"agent": "code", "prompt": "go", "needs": ["g"], "if": "${{ true }}"},
            },
        }
    )
    assert plan_to_dict(plan) == {
        "version": 1,
        "name": "p",
        "steps": {
            "g": {"parallel": {"steps": {"a": {"tool": "echo"}}}},
            "b": {"agent": "code", "prompt": "go", "needs": ["g"], "if": "${{ true }}"},
        },
    }


def test_step_paths_and_get_node() -> None:
    plan = load_plan_file(PLANS / "software_team.yaml")
    assert step_paths(plan) == [
        "analyse",
        "implement",
        "write_tests",
        "validate",
        "validate/run_tests",
        "validate/fix",
        "verdict",
        "all_green",
    ]
    assert get_node(plan, "validate/fix").key == "fix"
    with pytest.raises(NotFoundError, match="no step 'validate/nope'"):
        get_node(plan, "validate/nope")
    with pytest.raises(NotFoundError):
        get_node(plan, "analyse/child")


def test_a_plan_is_a_frozen_value() -> None:
    plan = load_plan_file(PLANS / "software_team.yaml")
    assert isinstance(plan, Plan)
    with pytest.raises(ValueError):
        plan.name = "other"  # type: ignore[misc]
