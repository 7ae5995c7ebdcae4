"""Explicit rules: parsing with errors that name the rule, and matching."""

from __future__ import annotations

from typing import Any

import pytest

from nexus.errors import ConfigError
from nexus.routing.analyzer import TaskFeatures
from nexus.routing.rules import compile_rules, first_match

MODELS = ["a:one", "a:two"]


def rule(**fields: Any) -> dict[str, Any]:
    return {"name": "r", "model": "a:one", "reason": "because", **fields}


@pytest.mark.parametrize(
    ("when", "features", "role", "mode", "matches"),
    [
        ({}, TaskFeatures("code", 0.2, True, 10), "dev", "cost", True),
        ({"role": "dev"}, TaskFeatures("code", 0.2, True, 10), "dev", "cost", True),
        ({"role": ["qa", "dev"]}, TaskFeatures("code", 0.2, True, 10), "ops", "cost", False),
        ({"mode": "quality"}, TaskFeatures("code", 0.2, True, 10), "dev", "cost", False),
        ({"task_type": ["code", "debug"]}, TaskFeatures("debug", 0.2, True, 10), "d", "cost", True),
        ({"level": "high"}, TaskFeatures("code", 0.7, True, 10), "dev", "cost", True),
        ({"complexity": ">=0.7"}, TaskFeatures("code", 0.69, True, 10), "dev", "cost", False),
        ({"complexity": "<0.3"}, TaskFeatures("code", 0.29, True, 10), "dev", "cost", True),
        ({"context_tokens": ">100000"}, TaskFeatures("code", 0.2, True, 200_000), "d", "c", True),
        ({"context_tokens": "!=10"}, TaskFeatures("code", 0.2, True, 10), "d", "cost", False),
        ({"needs_tools": False}, TaskFeatures("code", 0.2, True, 10), "dev", "cost", False),
        (
            {"role": "dev", "task_type": "code", "complexity": ">0.1"},
            TaskFeatures("code", 0.2, True, 10),
            "dev",
            "cost",
            True,
        ),
    ],
)
def test_conditions(
    when: dict[str, Any], features: TaskFeatures, role: str, mode: str, matches: bool
) -> None:
    [compiled] = compile_rules([rule(**{"if": when})], MODELS)
    assert compiled.matches(features, role, mode) is matches


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("nope", "routing rule 1: expected a mapping"),
        (rule(model="one"), "'model' must be a provider:model name"),
        (rule(model="a:three"), "model 'a:three' is not in the catalog"),
        (rule(**{"if": {"colour": "red"}}), "unknown condition field 'colour'"),
        (rule(**{"if": {"role": ">3"}}), "'role' cannot be compared with '>3'"),
        (rule(**{"if": {"task_type": "poetry"}}), "task_type poetry is not one of"),
        (rule(**{"if": {"mode": ["fast"]}}), "mode fast is not one of"),
        (rule(**{"if": {"needs_tools": "yes"}}), "needs_tools takes true or false"),
        (rule(**{"if": {"complexity": "high"}}), "complexity takes a number"),
        (rule(**{"if": {"role": []}}), "'role' has an empty list"),
        (rule(**{"if": ["role"]}), "'if' must map fields to values"),
        (rule(when={"role": "x"}), "unknown key\\(s\\) when"),
    ],
)
def test_bad_rules_name_the_rule_and_field(raw: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        compile_rules([raw], MODELS)


def test_first_usable_match_wins_and_skips_are_noted() -> None:
    rules = compile_rules(
        [
            {"name": "big", "if": {"role": "dev"}, "model": "a:one", "reason": "x"},
            {"name": "small", "if": {"role": "dev"}, "model": "a:two"},
            {"name": "never", "if": {"role": "qa"}, "model": "a:one"},
        ],
        MODELS,
    )
    features = TaskFeatures("code", 0.5, True, 10)
    found, notes = first_match(rules, features, "dev", "cost", lambda m: m == "a:two")
    assert found is not None and found.name == "small"
    assert found.reason == "rule small"  # the default reason
    assert notes == ["rule big matched but a:one cannot take this request"]
    assert first_match(rules, features, "ops", "cost", lambda m: True) == (None, [])
    assert rules[0].describe() == "big: if role == dev → a:one (x)"
