"""Plan validation: every kind of problem is found once, names its node, and valid plans pass."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest

from nexus.engine import validation
from nexus.engine.plan_loader import load_plan_file, parse_plan
from nexus.engine.validation import ensure_valid, validate_plan
from nexus.errors import PlanError
from nexus.handlers.base import BaseHandler, HandlerRegistry, StepContext, StepResult

PLANS = Path(__file__).parent / "plans"
AGENTS = ("aria", "code", "alpha", "beta")


class PytestLike(BaseHandler):
    name = "pytest"
    params_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "args": {"type": "array", "items": {"type": "string"}},
            "timeout": {"type": "number", "minimum": 1},
        },
        "additionalProperties": False,
    }

    async def run(self, ctx: StepContext) -> StepResult:
        return StepResult({"failed": 0})


class ShellLike(BaseHandler):
    name = "shell"
    params_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {"command": {"type": "string"}, "timeout": {"type": "number"}},
        "required": ["command"],
    }

    async def run(self, ctx: StepContext) -> StepResult:
        return StepResult("")


@pytest.fixture
def handlers() -> HandlerRegistry:
    return HandlerRegistry([PytestLike(), ShellLike()])


BASE: dict[str, Any] = {
    "name": "base",
    "inputs": {"task": {"type": "string"}},
    "steps": {
        "plan_it": {"agent": "code", "prompt": "Plan ${{ inputs.task }}"},
        "run": {"tool": "pytest", "needs": ["plan_it"], "with": {"args": ["-q"]}},
        "group": {
            "needs": ["run"],
            "loop": {
                "max": 2,
                "until": "${{ steps.check.output.ok }}",
                "steps": {
                    "check": {"tool": "shell", "with": {"command": "true"}},
                    "ask": {
                        "human": "ok?",
                        "needs": ["check"],
                        "options": ["y", "n"],
                        "default": "y",
                    },
                },
            },
        },
        "gate": {"needs": ["group"], "gate": [{"check": "${{ steps.run.output.failed == 0 }}"}]},
        "branch": {
            "needs": ["gate"],
            "condition": "steps.run.output.failed == 0",
            "then": ["done"],
        },
        "done": {"needs": ["branch"], "transform": {"ok": "${{ true }}"}},
    },
}


def found(
    data: dict[str, Any], handlers: HandlerRegistry | None = None
) -> list[tuple[str | None, str, str]]:
    plan = parse_plan(data)
    return [(p.node, p.kind, p.message) for p in validate_plan(plan, handlers, AGENTS)]


def changed(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    change(data)
    return data


def step(data: dict[str, Any], path: str) -> dict[str, Any]:
    node: dict[str, Any] = data["steps"][path.split("/")[0]]
    for part in path.split("/")[1:]:
        kind = next(k for k in ("loop", "parallel", "sequence") if k in node)
        node = node[kind]["steps"][part]
    return node


# --- valid plans ------------------------------------------------------------------------------


def test_the_base_plan_is_valid(handlers: HandlerRegistry) -> None:
    assert found(BASE, handlers) == []


@pytest.mark.parametrize("name", ["software_team.yaml", "all_kinds.yaml"])
def test_the_example_plans_are_valid(handlers: HandlerRegistry, name: str) -> None:
    plan = load_plan_file(PLANS / name)
    assert validate_plan(plan, handlers, AGENTS) == []
    assert validate_plan(plan) == []
    ensure_valid(plan, handlers, AGENTS)


def test_tools_and_agents_are_checked_only_when_known(handlers: HandlerRegistry) -> None:
    data = changed(lambda d: step(d, "run").update(tool="mystery"))
    data["steps"]["plan_it"]["agent"] = "stranger"
    assert validate_plan(parse_plan(data)) == []
    kinds = [p.kind for p in validate_plan(parse_plan(data), handlers, AGENTS)]
    assert kinds == ["unknown_agent", "unknown_tool"]


def test_expression_parameters_are_checked_when_the_step_runs(
    handlers: HandlerRegistry,
) -> None:
    data = changed(
        lambda d: step(d, "run").update(
            {"with": {"args": "${{ inputs.task }}", "timeout": "${{ 30 * 2 }}"}}
        )
    )
    assert found(data, handlers) == []


def test_a_step_in_a_group_may_need_what_the_group_waits_for(handlers: HandlerRegistry) -> None:
    # group needs run, run needs plan_it: both are done before the loop starts
    data = changed(lambda d: step(d, "group/check").update(needs=["plan_it", "run"]))
    assert found(data, handlers) == []


# --- one problem per mistake ------------------------------------------------------------------


def _set(path: str, **fields: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        step(data, path).update({k.rstrip("_"): v for k, v in fields.items()})

    return change


def _add(key: str, node: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    return lambda d: d["steps"].__setitem__(key, node)


CASES: list[tuple[str, Callable[[dict[str, Any]], None], tuple[str | None, str, str]]] = [
    ("version", lambda d: d.update(version=2), (None, "version", "unsupported plan version 2")),
    ("no steps", lambda d: d.update(steps={}), (None, "empty_plan", "the plan has no steps")),
    ("empty group", _add("empty", {"parallel": {}}), ("empty", "empty_plan", "parallel group")),
    ("hyphen key", _add("my-step", {"transform": {}}), ("my-step", "bad_key", "'my-step' must")),
    (
        "input name",
        lambda d: d["inputs"].update({"my-input": {}}),
        (None, "bad_input", "input name 'my-input' must start"),
    ),
    (
        "input default",
        lambda d: d["inputs"].update({"n": {"type": "integer", "default": "three"}}),
        (None, "bad_input", "input 'n': default 'three' is not of type integer"),
    ),
    (
        "duplicate key",
        lambda d: step(d, "group")["loop"]["steps"].update(run={"transform": {}}),
        ("group/run", "duplicate_key", "key 'run' is also used by step 'run'"),
    ),
    (
        "unknown need",
        _set("run", needs=["plan_itt"]),
        ("run", "unknown_need", "needs unknown step 'plan_itt' (did you mean 'plan_it'?)"),
    ),
    (
        "need inside a group",
        _set("done", needs=["branch", "check"]),
        ("done", "unknown_need", "needs 'check', which is inside group 'group'"),
    ),
    (
        "need the enclosing group",
        _set("group/check", needs=["group"]),
        ("group/check", "bad_need", "needs 'group', the group it is inside"),
    ),
    (
        "need an outer step not awaited",
        _set("group/check", needs=["done"]),
        ("group/check", "bad_need", "add 'done' to the needs of 'group'"),
    ),
    (
        "cycle",
        _set("plan_it", needs=["done"]),
        ("plan_it", "cycle", "needs form a cycle: plan_it → done → branch → gate → group → run"),
    ),
    ("self cycle", _set("run", needs=["run"]), ("run", "cycle", "run → run")),
    (
        "unknown branch",
        _set("branch", then=["done", "nope"]),
        ("branch", "unknown_branch", "'then' names 'nope', which is not a sibling step"),
    ),
    (
        "branch to itself",
        _set("branch", else_=["branch"]),
        ("branch", "unknown_branch", "'else' names 'branch'"),
    ),
    (
        "unknown tool",
        _set("run", tool="pytst"),
        ("run", "unknown_tool", "unknown tool 'pytst' (known: pytest, shell)"),
    ),
    (
        "param type",
        _set("run", with_={"args": "-q"}),
        ("run", "bad_params", "field 'with.args': '-q' is not of type 'array'"),
    ),
    (
        "param nested",
        _set("run", with_={"args": ["-q", 3]}),
        ("run", "bad_params", "field 'with.args[1]': 3 is not of type 'string'"),
    ),
    (
        "param unknown",
        _set("run", with_={"arg": []}),
        ("run", "bad_params", "field 'with': Additional properties are not allowed"),
    ),
    (
        "param required",
        _set("group/check", with_={}),
        ("group/check", "bad_params", "'command' is a required property"),
    ),
    (
        "unknown agent",
        _set("plan_it", agent="coder"),
        ("plan_it", "unknown_agent", "unknown agent 'coder' (did you mean 'code'?)"),
    ),
    (
        "prompt syntax",
        _set("plan_it", prompt="Plan ${{ inputs.task + }}"),
        ("plan_it", "bad_expression", "field 'prompt': expression 'inputs.task +' is not valid"),
    ),
    (
        "unclosed",
        _set("plan_it", prompt="Plan ${{ inputs.task"),
        ("plan_it", "bad_expression", "field 'prompt': unclosed '${{'"),
    ),
    (
        "with syntax",
        _set("run", with_={"args": ["${{ (x }}"]}),
        ("run", "bad_expression", "field 'with.args[0]': expression '(x'"),
    ),
    (
        "if syntax",
        _set("run", if_="steps.plan_it.output >"),
        ("run", "bad_expression", "field 'if': expression 'steps.plan_it.output >'"),
    ),
    (
        "until syntax",
        lambda d: step(d, "group")["loop"].update(until="${{ steps.check.output. }}"),
        ("group", "bad_expression", "field 'loop.until'"),
    ),
    (
        "max syntax",
        lambda d: step(d, "group")["loop"].update(max="${{ 3 + }}"),
        ("group", "bad_expression", "field 'loop.max'"),
    ),
    (
        "check syntax",
        _set("gate", gate=[{"check": "steps.run.output.failed =="}]),
        ("gate", "bad_expression", "field 'gate[0].check'"),
    ),
    (
        "condition syntax",
        _set("branch", condition="${{ steps.run.output.failed = 0 }}"),
        ("branch", "bad_expression", "field 'condition'"),
    ),
    (
        "transform syntax",
        _set("done", transform={"a": {"b": ["${{ [1, }}"]}}),
        ("done", "bad_expression", "field 'transform.a.b[0]'"),
    ),
    (
        "human question syntax",
        _set("group/ask", human="Proceed with ${{ steps.check.output | nofilter }}?"),
        ("group/ask", "bad_expression", "no filter named 'nofilter'"),
    ),
    (
        "unknown step reference",
        _set("plan_it", prompt="${{ steps.chek.output }}"),
        ("plan_it", "unknown_step_ref", "reads steps.chek, but there is no step 'chek'"),
    ),
    (
        "unknown step reference by item",
        _set("run", if_="steps['nope'].status == 'succeeded'"),
        ("run", "unknown_step_ref", "field 'if' reads steps.nope"),
    ),
    (
        "unknown input reference",
        _set("plan_it", prompt="Plan ${{ inputs.tsk }}"),
        ("plan_it", "unknown_input_ref", "no input 'tsk' (did you mean 'task'?)"),
    ),
    (
        "unknown name",
        _set("plan_it", prompt="Plan ${{ input.task }}"),
        ("plan_it", "unknown_name", "unknown name 'input' (did you mean 'inputs'?)"),
    ),
    (
        "bare word in a condition",
        _set("branch", condition="always"),
        ("branch", "unknown_name", "field 'condition' uses unknown name 'always'"),
    ),
    (
        "loop max zero",
        lambda d: step(d, "group")["loop"].update(max=0),
        ("group", "bad_loop_max", "at least 1 (got 0)"),
    ),
    (
        "loop max text",
        lambda d: step(d, "group")["loop"].update(max="three"),
        ("group", "bad_loop_max", "a positive integer or a ${{ }} expression (got 'three')"),
    ),
    (
        "human default",
        _set("group/ask", default="maybe"),
        ("group/ask", "bad_default", "default 'maybe' is not one of the options ('y', 'n')"),
    ),
    (
        "rule with two kinds",
        _set("gate", gate=[{"check": "true", "regex": "x", "value": "v"}]),
        ("gate", "bad_gate_rule", "rule 1: needs exactly one of check, schema, regex, "),
    ),
    (
        "rule with no kind",
        _set("gate", gate=[{"check": "true"}, {"message": "?"}]),
        ("gate", "bad_gate_rule", "rule 2: needs exactly one of check, schema, regex, "),
    ),
    ("no rules", _set("gate", gate=[]), ("gate", "bad_gate_rule", "at least one rule")),
    (
        "rule without value",
        _set("gate", gate=[{"min_confidence": 0.6}]),
        ("gate", "bad_gate_rule", "a min_confidence rule needs a 'value'"),
    ),
    (
        "python reference",
        _set("gate", gate=[{"python": "checks.tests_green"}]),
        ("gate", "bad_gate_rule", "python must be written 'module:function'"),
    ),
    (
        "regex",
        _set("gate", gate=[{"regex": "(unclosed", "value": "${{ steps.run.output }}"}]),
        ("gate", "bad_regex", "regex '(unclosed' does not compile"),
    ),
    (
        "schema",
        _set("gate", gate=[{"schema": {"type": "thing"}, "value": "${{ steps.run.output }}"}]),
        ("gate", "bad_schema", "invalid JSON schema at 'schema.type'"),
    ),
    (
        "rollback target",
        _set("gate", on_fail="rollback", rollback_to="nowhere"),
        ("gate", "bad_rollback", "rollback_to names unknown step 'nowhere'"),
    ),
    (
        "rollback without on_fail",
        _set("gate", rollback_to="run"),
        ("gate", "bad_rollback", "on_fail is 'fail'"),
    ),
]


@pytest.mark.parametrize(("change", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_mistake_is_exactly_one_named_problem(
    handlers: HandlerRegistry,
    change: Callable[[dict[str, Any]], None],
    expected: tuple[str | None, str, str],
) -> None:
    problems = found(changed(change), handlers)
    assert len(problems) == 1, problems
    node, kind, message = problems[0]
    assert (node, kind) == expected[:2]
    assert expected[2] in message


def test_every_problem_kind_is_covered() -> None:
    table = re.findall(r"^([a-z_]+)\s{2,}\S", validation.__doc__ or "", flags=re.MULTILINE)
    documented = set(table)
    assert len(documented) == 22
    covered = {c[2][1] for c in CASES}
    assert documented == covered


# --- all problems together --------------------------------------------------------------------


def test_all_problems_are_returned_together(handlers: HandlerRegistry) -> None:
    def many(d: dict[str, Any]) -> None:
        step(d, "run").update(tool="nope", needs=["ghost"])
        step(d, "plan_it").update(prompt="${{ steps.zzz.output }} ${{ inputs.qqq }}")
        step(d, "group/ask").update(default="maybe")
        d["version"] = 3

    problems = found(changed(many), handlers)
    assert [(node, kind) for node, kind, _ in problems] == [
        (None, "version"),
        ("plan_it", "unknown_input_ref"),
        ("plan_it", "unknown_step_ref"),
        ("run", "unknown_need"),
        ("run", "unknown_tool"),
        ("group/ask", "bad_default"),
    ]


def test_ensure_valid_raises_one_error_listing_them(handlers: HandlerRegistry) -> None:
    data = changed(_set("run", needs=["ghost"], tool="nope"))
    with pytest.raises(PlanError) as info:
        ensure_valid(parse_plan(data), handlers, AGENTS)
    assert info.value.message == "plan 'base' is invalid: 2 problems"
    assert [p.kind for p in info.value.problems] == ["unknown_need", "unknown_tool"]
    assert "step 'run': needs unknown step 'ghost' [unknown_need]" in str(info.value)
    single = changed(_set("run", needs=["ghost"]))
    with pytest.raises(PlanError) as info:
        ensure_valid(parse_plan(single), handlers, AGENTS)
    assert info.value.message == "plan 'base' is invalid: 1 problem"


def test_cycles_are_named_once_each_and_in_nested_scopes() -> None:
    plan = parse_plan(
        {
            "name": "cycles",
            "steps": {
                "a": {"tool": "t", "needs": ["c"]},
                "b": {"tool": "t", "needs": ["a"]},
                "c": {"tool": "t", "needs": ["b", "d"]},
                "d": {"tool": "t"},
                "e": {"tool": "t", "needs": ["f"]},
                "f": {"tool": "t", "needs": ["e"]},
                "g": {
                    "parallel": {
                        "x": {"tool": "t", "needs": ["y"]},
                        "y": {"tool": "t", "needs": ["x", "d"]},
                    },
                    "needs": ["d"],
                },
            },
        }
    )
    problems = [(p.node, p.message) for p in validate_plan(plan)]
    assert problems == [
        ("g/x", "needs form a cycle: x → y → x"),
        ("a", "needs form a cycle: a → c → b → a"),
        ("e", "needs form a cycle: e → f → e"),
    ]


def test_a_key_used_three_times_is_reported_twice() -> None:
    plan = parse_plan(
        {
            "name": "dups",
            "steps": {
                "x": {"tool": "t"},
                "g": {
                    "sequence": {"x": {"tool": "t"}, "h": {"loop": {"steps": {"x": {"tool": "t"}}}}}
                },
            },
        }
    )
    problems = [(p.node, p.kind) for p in validate_plan(plan)]
    assert problems == [("g/x", "duplicate_key"), ("g/h/x", "duplicate_key")]


def test_a_long_chain_validates_without_recursion_limits() -> None:
    steps = {f"s{i}": {"tool": "t", "needs": [f"s{i - 1}"] if i else []} for i in range(3000)}
    steps["s0"]["needs"] = ["s2999"]
    problems = validate_plan(parse_plan({"name": "chain", "steps": steps}))
    assert len(problems) == 1
    assert problems[0].message.startswith("needs form a cycle: s0 → s2999 → s2998")
