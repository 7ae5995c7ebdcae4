"""Gate rules: check, schema, regex, min_confidence and python, with their failure messages."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nexus.domain.plan import GateRule
from nexus.engine.gates import evaluate_gate, evaluate_rule

CHECKS_MODULE = "nexus_gate_checks_for_tests"


@pytest.fixture
def scope() -> dict[str, Any]:
    return {
        "inputs": {"min_passed": 10},
        "steps": {
            "tests": {
                "output": {"failed": 0, "passed": 42, "report": "42 passed in 1.2s"},
                "status": "succeeded",
                "confidence": None,
            },
            "review": {
                "output": '{"verdict": "approve", "issues": []}',
                "status": "succeeded",
                "confidence": 0.83,
            },
            "skipped": {"output": None, "status": "skipped", "confidence": None},
        },
        "run": {"id": "r1", "correlation_id": "c1"},
    }


@pytest.fixture
def checks_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    (tmp_path / f"{CHECKS_MODULE}.py").write_text(
        textwrap.dedent(
            """
            import sys

            def passes(scope):
                return scope["steps"]["tests"]["output"]["failed"] == 0

            def fails(scope):
                return False

            def fails_with_reason(scope):
                return (False, f"only {scope['steps']['tests']['output']['passed']} passed")

            def passes_with_note(scope):
                return (True, "fine")

            def raises(scope):
                raise ValueError("no report file")

            def exits(scope):
                sys.exit(3)

            def forgets_to_return(scope):
                pass

            async def is_async(scope):
                return True

            class Checks:
                @staticmethod
                def nested(scope):
                    return True

            not_callable = 42
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield CHECKS_MODULE
    sys.modules.pop(CHECKS_MODULE, None)


def rule(**fields: Any) -> GateRule:
    return GateRule.model_validate(fields)


# --- check ------------------------------------------------------------------------------------


def test_check_rules(scope: dict[str, Any]) -> None:
    passing = rule(check="${{ steps.tests.output.failed == 0 }}")
    assert evaluate_gate([passing], scope) == []
    assert (
        evaluate_gate([rule(check="steps.tests.output.passed >= inputs.min_passed")], scope) == []
    )
    failing = rule(check="${{ steps.tests.output.passed > 100 }}", message="enough tests")
    assert evaluate_gate([failing], scope) == [
        "enough tests: check '${{ steps.tests.output.passed > 100 }}' is false"
    ]


def test_a_check_on_a_skipped_step_fails_instead_of_crashing(scope: dict[str, Any]) -> None:
    failures = evaluate_gate([rule(check="${{ steps.skipped.output.failed == 0 }}")], scope)
    assert failures == ["check '${{ steps.skipped.output.failed == 0 }}' is false"]


def test_a_broken_expression_fails_the_rule_with_the_error(scope: dict[str, Any]) -> None:
    failures = evaluate_gate([rule(check="${{ steps.skipped.output.n + 1 }}")], scope)
    assert len(failures) == 1
    assert failures[0].startswith("expression 'steps.skipped.output.n + 1' failed")
    assert evaluate_gate([rule(check="().__class__")], scope)[0].endswith("is unsafe")


# --- schema -----------------------------------------------------------------------------------

SCHEMA = {
    "type": "object",
    "required": ["failed", "passed"],
    "properties": {"failed": {"const": 0}, "passed": {"type": "integer", "minimum": 1}},
}


def test_schema_rules(scope: dict[str, Any]) -> None:
    assert evaluate_gate([rule(schema=SCHEMA, value="${{ steps.tests.output }}")], scope) == []
    scope["steps"]["tests"]["output"] = {"failed": 2, "passed": "many"}
    failures = evaluate_gate(
        [rule(schema=SCHEMA, value="${{ steps.tests.output }}", message="test report")], scope
    )
    assert failures == [
        "test report: does not match the schema: $.failed: 0 was expected; "
        "$.passed: 'many' is not of type 'integer'"
    ]


def test_schema_rules_read_json_text(scope: dict[str, Any]) -> None:
    verdict = {
        "type": "object",
        "required": ["verdict"],
        "properties": {"verdict": {"enum": ["approve", "reject"]}},
    }
    assert evaluate_gate([rule(schema=verdict, value="${{ steps.review.output }}")], scope) == []
    scope["steps"]["review"]["output"] = '{"verdict": "maybe"}'
    failures = evaluate_gate([rule(schema=verdict, value="${{ steps.review.output }}")], scope)
    assert failures == [
        "does not match the schema: $.verdict: 'maybe' is not one of ['approve', 'reject']"
    ]
    scope["steps"]["review"]["output"] = "not json at all"
    failures = evaluate_gate([rule(schema=verdict, value="${{ steps.review.output }}")], scope)
    assert failures == ["does not match the schema: $: 'not json at all' is not of type 'object'"]


def test_schema_rules_report_at_most_five_errors(scope: dict[str, Any]) -> None:
    schema = {"type": "array", "items": {"type": "string"}}
    scope["steps"]["tests"]["output"] = list(range(8))
    [failure] = evaluate_gate([rule(schema=schema, value="${{ steps.tests.output }}")], scope)
    assert failure.count("is not of type 'string'") == 5
    assert failure.endswith("; and 3 more")
    assert "$[0]: 0 is not of type 'string'" in failure


def test_an_invalid_schema_fails_the_rule(scope: dict[str, Any]) -> None:
    failures = evaluate_gate([rule(schema={"type": 5}, value="x")], scope)
    assert failures[0].startswith("invalid JSON schema: 5 is not valid")


# --- regex ------------------------------------------------------------------------------------


def test_regex_rules(scope: dict[str, Any]) -> None:
    good = rule(regex=r"\d+ passed", value="${{ steps.tests.output.report }}")
    assert evaluate_gate([good], scope) == []
    as_json = rule(regex=r'"failed": 0', value="${{ steps.tests.output }}")
    assert evaluate_gate([as_json], scope) == []
    bad = rule(regex=r"\bfailed\b", value="${{ steps.tests.output.report }}", message="failures")
    assert evaluate_gate([bad], scope) == [
        "failures: '42 passed in 1.2s' does not match /\\bfailed\\b/"
    ]
    missing = rule(regex=r".", value="${{ steps.skipped.output }}")
    assert evaluate_gate([missing], scope) == ["'' does not match /./"]


def test_a_bad_regex_fails_the_rule(scope: dict[str, Any]) -> None:
    failures = evaluate_gate([rule(regex="(", value="x")], scope)
    assert failures[0].startswith("invalid regex '(':")


# --- min_confidence ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "threshold", "expected"),
    [
        ("${{ steps.review.confidence }}", 0.8, None),
        ("${{ steps.review.confidence }}", 0.83, None),
        ("${{ steps.review.confidence }}", 0.9, "confidence 0.83 is below 0.90"),
        ("${{ steps.tests.confidence }}", 0.5, "no confidence reported"),
        ("${{ steps.gone.confidence }}", 0.5, "no confidence reported"),
        (None, 0.5, "no confidence reported"),
        ("0.75", 0.7, None),
        ("${{ steps.tests.output.report }}", 0.5, "confidence '42 passed in 1.2s' is not a number"),
        ("${{ true }}", 0.5, "confidence True is not a number"),
    ],
)
def test_min_confidence_rules(
    scope: dict[str, Any], value: str | None, threshold: float, expected: str | None
) -> None:
    assert evaluate_rule(rule(min_confidence=threshold, value=value), scope) == expected


# --- python -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        ("passes", None),
        ("passes_with_note", None),
        ("Checks.nested", None),
        ("fails", "python check '{m}:fails' returned False"),
        ("fails_with_reason", "only 42 passed"),
        ("raises", "python check '{m}:raises' raised ValueError: no report file"),
        ("exits", "python check '{m}:exits' raised SystemExit: 3"),
        ("forgets_to_return", "python check '{m}:forgets_to_return' returned nothing"),
        ("is_async", "python check '{m}:is_async' returned an awaitable"),
        ("not_callable", "python check '{m}:not_callable' is not a Python function"),
        ("missing", "python check '{m}:missing' cannot be loaded"),
    ],
)
def test_python_rules(
    scope: dict[str, Any], checks_module: str, function: str, expected: str | None
) -> None:
    detail = evaluate_rule(rule(python=f"{checks_module}:{function}"), scope)
    if expected is None:
        assert detail is None
    else:
        assert detail is not None
        assert detail.startswith(expected.format(m=checks_module))


def test_python_rules_refuse_builtins_and_unknown_modules(scope: dict[str, Any]) -> None:
    assert evaluate_rule(rule(python="os:getcwd"), scope) == (
        "python check 'os:getcwd' is not a Python function"
    )
    assert evaluate_rule(rule(python="sys:exit"), scope) == (
        "python check 'sys:exit' is not a Python function"
    )
    detail = evaluate_rule(rule(python="no_such_module_xyz:f"), scope)
    assert detail is not None
    assert detail.startswith("python check 'no_such_module_xyz:f' cannot be loaded")
    assert evaluate_rule(rule(python="nocolon"), scope) == (
        "python check 'nocolon' must be written 'module:function'"
    )


def test_python_rules_can_be_limited_to_some_modules(
    scope: dict[str, Any], checks_module: str
) -> None:
    ref = f"{checks_module}:passes"
    assert evaluate_gate([rule(python=ref)], scope, allowed_modules=["team_checks"]) == [
        f"python check '{ref}': module '{checks_module}' is not allowed here"
    ]
    assert checks_module not in sys.modules  # refused before import
    assert evaluate_gate([rule(python=ref)], scope, allowed_modules=[checks_module]) == []


# --- several rules ----------------------------------------------------------------------------


def test_a_gate_reports_every_failed_rule_in_order(scope: dict[str, Any]) -> None:
    rules = [
        rule(check="${{ steps.tests.output.failed == 0 }}", message="all tests pass"),
        rule(min_confidence=0.9, value="${{ steps.review.confidence }}", message="confident"),
        rule(regex="approve", value="${{ steps.review.output }}"),
        rule(check="${{ steps.tests.output.passed > 1000 }}", message="many tests"),
    ]
    assert evaluate_gate(rules, scope) == [
        "confident: confidence 0.83 is below 0.90",
        "many tests: check '${{ steps.tests.output.passed > 1000 }}' is false",
    ]
    assert evaluate_gate([], scope) == []


def test_a_rule_with_two_kinds_fails(scope: dict[str, Any]) -> None:
    both = rule(check="true", regex="x", value="x")
    assert evaluate_gate([both], scope) == [
        "a rule needs exactly one of check, schema, regex, min_confidence, python"
    ]
    assert evaluate_gate([rule(message="nothing")], scope) == [
        "nothing: a rule needs exactly one of check, schema, regex, min_confidence, python"
    ]
