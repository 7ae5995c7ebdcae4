"""The sandboxed ``${{ … }}`` evaluator: values, missing data, the sandbox, inspection, caching."""

from __future__ import annotations

from collections import ChainMap
from typing import Any

import pytest

from nexus.engine import expressions
from nexus.engine.expressions import (
    check_syntax,
    evaluate,
    references,
    render,
    root_names,
    truthy,
)
from nexus.errors import ExpressionError


@pytest.fixture
def scope() -> dict[str, Any]:
    return {
        "inputs": {"task": "add a flag", "rounds": 3, "tags": ["a", "b"]},
        "steps": {
            "run_tests": {
                "output": {"failed": 2, "passed": 40, "report": "2 failed", "items": [1, 2]},
                "status": "succeeded",
                "confidence": 0.82,
            },
            "fix": {"output": None, "status": "skipped", "confidence": None},
        },
        "loop": {"iteration": 2},
        "run": {"id": "run-1", "correlation_id": "corr-1"},
    }


# --- native values and interpolation ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${{ inputs.rounds }}", 3),
        ("${{ inputs.rounds + 1 }}", 4),
        ("${{ steps.run_tests.output.failed == 2 }}", True),
        ("${{ steps.run_tests.confidence }}", 0.82),
        ("${{ inputs.tags }}", ["a", "b"]),
        ("${{ steps.fix.output }}", None),
        ("  ${{ inputs.rounds }}\n", 3),
        ("${{ {'n': inputs.rounds, 'ok': true} }}", {"n": 3, "ok": True}),
        (
            "${{ steps.run_tests.output }}",
            {"failed": 2, "passed": 40, "report": "2 failed", "items": [1, 2]},
        ),
    ],
)
def test_a_lone_expression_renders_to_its_native_value(
    scope: dict[str, Any], text: str, expected: Any
) -> None:
    assert render(text, scope) == expected
    assert type(render(text, scope)) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Task: ${{ inputs.task }}.", "Task: add a flag."),
        ("n=${{ inputs.rounds }} ok=${{ true }}", "n=3 ok=true"),
        ("out=${{ steps.fix.output }}|", "out=|"),
        ("tags=${{ inputs.tags }}", 'tags=["a", "b"]'),
        ("d=${{ {'k': 'é'} }}", 'd={"k": "é"}'),
        ("${{ inputs.rounds }}${{ inputs.rounds }}", "33"),
        ("missing: [${{ steps.nope.output }}]", "missing: []"),
    ],
)
def test_text_around_expressions_makes_a_string(
    scope: dict[str, Any], text: str, expected: str
) -> None:
    assert render(text, scope) == expected


def test_strings_without_expressions_come_back_unchanged(scope: dict[str, Any]) -> None:
    text = "plain text with { braces } and $ signs"
    assert render(text, scope) is text
    assert render(42, scope) == 42
    assert render(None, scope) is None


def test_a_literal_open_marker_is_written_as_an_expression(scope: dict[str, Any]) -> None:
    text = "Use ${{ '${{' }} secrets.TOKEN }} in the workflow for ${{ inputs.task }}"
    assert render(text, scope) == "Use ${{ secrets.TOKEN }} in the workflow for add a flag"
    assert check_syntax(text) == []
    assert root_names(text) == {"inputs"}


def test_render_walks_dicts_lists_and_tuples_but_not_keys(scope: dict[str, Any]) -> None:
    value = {
        "${{ inputs.task }}": "${{ inputs.rounds }}",
        "args": ["-q", "--count=${{ inputs.rounds }}", ("${{ loop.iteration }}", 7)],
        "nested": {"flag": "${{ steps.run_tests.output.failed > 0 }}"},
    }
    assert render(value, scope) == {
        "${{ inputs.task }}": 3,
        "args": ["-q", "--count=3", (2, 7)],
        "nested": {"flag": True},
    }


def test_evaluate_takes_wrapped_or_bare_expressions(scope: dict[str, Any]) -> None:
    assert evaluate("${{ inputs.rounds * 2 }}", scope) == 6
    assert evaluate("inputs.rounds * 2", scope) == 6
    assert evaluate("  loop.iteration  ", scope) == 2
    assert evaluate("run.correlation_id", scope) == "corr-1"


def test_truthy(scope: dict[str, Any]) -> None:
    assert truthy("${{ steps.run_tests.output.failed > 0 }}", scope) is True
    assert truthy("steps.run_tests.output.failed == 0", scope) is False
    assert truthy("inputs.tags", scope) is True
    assert truthy("steps.fix.output", scope) is False
    assert truthy("false", scope) is False
    assert truthy(True, scope) is True
    assert truthy(None, scope) is False


# --- missing data -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("steps.skipped.output.failed == 0", False),
        ("steps.skipped.output.failed != 0", True),
        ("steps.skipped.output.failed > 0", False),
        ("steps.skipped.output.failed <= 0", False),
        ("steps.skipped.output", None),
        ("steps.skipped.output.a.b.c", None),
        ("steps['skipped']['output']", None),
        ("steps.skipped.output is defined", False),
        ("steps.skipped.output is none", True),
        ("steps.skipped.output == none", True),
        ("steps.fix.output.failed == 0", False),
        ("steps.skipped.output | default(5)", 5),
        ("[steps.skipped.output, 1]", [None, 1]),
        ("{'x': steps.skipped.output}", {"x": None}),
        ("steps.skipped.output or 'fallback'", "fallback"),
    ],
)
def test_missing_values_are_none_like(scope: dict[str, Any], expr: str, expected: Any) -> None:
    assert evaluate(expr, scope) == expected


def test_arithmetic_on_a_missing_value_raises_naming_the_expression(
    scope: dict[str, Any],
) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate("${{ steps.skipped.output.count + 1 }}", scope)
    assert "steps.skipped.output.count + 1" in str(info.value)
    assert info.value.details["expression"] == "steps.skipped.output.count + 1"


def test_chain_map_steps_look_in_the_inner_scope_first(scope: dict[str, Any]) -> None:
    outer = {"a": {"output": "outer"}, "b": {"output": "only outer"}}
    inner = {"a": {"output": "inner"}}
    scope["steps"] = ChainMap(inner, outer)
    assert evaluate("steps.a.output", scope) == "inner"
    assert evaluate("steps.b.output", scope) == "only outer"
    assert evaluate("steps['a'].output ~ '/' ~ steps.b.output", scope) == "inner/only outer"
    assert evaluate("steps.c.output", scope) is None


def test_keys_of_a_mapping_win_over_its_methods(scope: dict[str, Any]) -> None:
    assert evaluate("steps.run_tests.output.items", scope) == [1, 2]
    assert evaluate("inputs.keys() | list", scope) == ["task", "rounds", "tags"]
    assert evaluate("inputs.items() | list | length", scope) == 3


# --- filters and tests ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("inputs.tags | tojson", '["a", "b"]'),
        ("'<é>' | tojson", '"<é>"'),
        ("'{\"a\": [1, 2]}' | fromjson", {"a": [1, 2]}),
        ("inputs.tags | length", 2),
        ("steps.nope.output | default('none')", "none"),
        ("'42' | int + 1", 43),
        ("'0.5' | float", 0.5),
        ("'ABC' | lower", "abc"),
        ("inputs.task | upper", "ADD A FLAG"),
        ("inputs.tags | join(',')", "a,b"),
        ("inputs.tags is contains('a')", True),
        ("inputs.task is contains('flag')", True),
        ("steps.nope.output is contains('a')", False),
        ("steps.run_tests.output.items | map('string') | list", ["1", "2"]),
        ("steps.run_tests.output.items | map('string')", ["1", "2"]),
        ("inputs.tags | select('equalto', 'b') | list", ["b"]),
        ("range(3) | list", [0, 1, 2]),
        ("dict(a=1)", {"a": 1}),
    ],
)
def test_filters_and_tests(scope: dict[str, Any], expr: str, expected: Any) -> None:
    assert evaluate(expr, scope) == expected


# --- the sandbox ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        "().__class__.__bases__",
        "''.__class__.__mro__[1].__subclasses__()",
        "inputs.__class__",
        "inputs.tags.__len__()",
        "steps.run_tests.output.items.append(3)",
        "inputs.update({'x': 1})",
        "inputs.tags.pop()",
        "'{0.__class__}'.format(inputs)",
        "'x' * 10000000",
        "[1] * 10000000",
        "2 ** 100000",
        "'a'.ljust(1000000000)",
        "'a'.center(1000000000)",
        "'%999999999s' % 'a'",
        "'x' | replace('x', 'x' * 2000) | replace('x', 'x' * 2000)",
    ],
)
def test_the_sandbox_refuses_escapes_and_unbounded_values(scope: dict[str, Any], expr: str) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate(expr, scope)
    assert expr in info.value.message
    assert "is not allowed" in info.value.message


@pytest.mark.parametrize(
    "expr", ["range(1000000) | list", "lipsum()", "cycler(1, 2)", "1 / 0", "'x' | fromjson"]
)
def test_failures_while_evaluating_raise_expression_errors(
    scope: dict[str, Any], expr: str
) -> None:
    with pytest.raises(ExpressionError) as info:
        evaluate(expr, scope)
    assert f"expression '{expr}' failed" in info.value.message


@pytest.mark.parametrize(
    "text", ["${{ x + }}", "${{ inputs.task ) }}", "${{ }}", "a ${{ b", "${{ x | no_such_filter }}"]
)
def test_bad_syntax_raises_naming_the_expression(scope: dict[str, Any], text: str) -> None:
    with pytest.raises(ExpressionError) as info:
        render(text, scope)
    assert text.replace("${{", "").replace("}}", "").strip().split(" ")[0] in info.value.message


def test_format_filter_and_padding_filters_are_gone(scope: dict[str, Any]) -> None:
    for name in ("format", "center", "indent", "batch", "slice", "random"):
        assert check_syntax(f"${{{{ 'a' | {name}(3) }}}}"), name


# --- inspection -------------------------------------------------------------------------------


def test_check_syntax_lists_every_bad_expression() -> None:
    text = "ok ${{ inputs.task }} bad ${{ x + }} worse ${{ (y }} open ${{ z"
    problems = check_syntax(text)
    assert len(problems) == 3
    assert "expression 'x +' is not valid: unexpected 'end of expression'" in problems[0]
    assert "'(y'" in problems[1]
    assert problems[2].startswith("unclosed '${{'")


def test_check_syntax_of_good_text_is_empty() -> None:
    assert check_syntax("Tests failed:\n${{ steps.t.output.report }}\nFix it.") == []
    assert check_syntax("no expressions at all") == []
    assert check_syntax("steps.t.output.failed > 0", bare=True) == []
    assert check_syntax("steps.t.output.failed >", bare=True) != []
    assert check_syntax("${{ '}' ~ 'x' }}") == []


def test_references_walk_the_expression_tree() -> None:
    text = (
        "${{ steps.run_tests.output.failed + inputs['rounds'] | default(steps['fix'].output) }}"
        " and ${{ loop.iteration }} ${{ range(3) }} ${{ broken + }}"
    )
    assert references(text) == {
        ("steps", "run_tests"),
        ("inputs", "rounds"),
        ("steps", "fix"),
        ("loop", "iteration"),
    }
    assert references("steps.a.output > inputs.b", bare=True) == {
        ("steps", "a"),
        ("inputs", "b"),
    }
    assert references("steps.a.output") == set()  # not a template
    assert references("${{ steps }}") == set()


def test_root_names() -> None:
    assert root_names("${{ input.task ~ steps.x.output }} ${{ range(2) }}") == {
        "input",
        "steps",
        "range",
    }
    assert root_names("undefined_name", bare=True) == {"undefined_name"}


def test_compiled_expressions_are_cached(scope: dict[str, Any]) -> None:
    expressions._compile.cache_clear()
    expressions._parse.cache_clear()
    for _ in range(50):
        assert render("${{ inputs.rounds * 3 }}", scope) == 9
        assert evaluate("inputs.rounds * 3", scope) == 9
        assert render("n=${{ inputs.rounds * 3 }}", scope) == "n=9"
    compiled = expressions._compile.cache_info()
    parsed = expressions._parse.cache_info()
    assert compiled.misses == 1  # one compilation, shared by all three forms
    assert parsed.misses == 2
    assert parsed.hits == 98
    assert compiled.hits >= 49


def test_evaluation_does_not_change_the_scope(scope: dict[str, Any]) -> None:
    before = repr(scope)
    render({"a": "${{ inputs.tags | list }}", "b": "${{ steps.fix.output }}"}, scope)
    assert repr(scope) == before
