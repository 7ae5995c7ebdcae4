"""The task-complexity analyzer: task type, complexity, tools, size; cached per text."""

from __future__ import annotations

import pytest

from nexus.routing.analyzer import TaskAnalyzer, TaskFeatures, analyze_text, level_of


@pytest.mark.parametrize(
    ("text", "role", "task_type"),
    [
        ("Implement a slugify function in textkit/slug.py", None, "code"),
        ("Fix the failing test: TypeError when the title is None", None, "debug"),
        ("Write pytest tests for the CSV parser", None, "test"),
        ("Review the change and give your verdict", None, "review"),
        ("Analyse the task and plan the work for the team", None, "analysis"),
        ("Document the storage module in the README", None, "docs"),
        ("hello there", None, "chat"),
        ("Do the next thing on the list", "test_creator", "test"),
        ("Do the next thing on the list", None, "chat"),
    ],
)
def test_task_types(text: str, role: str | None, task_type: str) -> None:
    assert analyze_text(text, role).task_type == task_type


def test_role_breaks_a_tie() -> None:
    text = "Write the code and the tests"  # one code word, one test word
    assert analyze_text(text, "developer").task_type == "code"
    assert analyze_text(text, "test_creator").task_type == "test"


def test_hard_work_is_more_complex_than_a_typo() -> None:
    typo = analyze_text("Fix a small typo in the README")
    plain = analyze_text("Implement a function that parses ISO dates")
    hard = analyze_text(
        "Design and implement a distributed, concurrent job scheduler:\n"
        "- leases with heartbeats and takeover\n- backwards compatible migrations\n"
        "- security review of the protocol\n- performance under 10k jobs/s\n"
        "Touch scheduler.py, store.py and api.py."
    )
    assert typo.complexity < plain.complexity < hard.complexity
    assert (typo.level, hard.level) == ("low", "high")
    assert typo.complexity >= 0.0 and hard.complexity <= 1.0


def test_levels() -> None:
    assert [level_of(c) for c in (0.0, 0.34, 0.35, 0.64, 0.65, 1.0)] == [
        "low",
        "low",
        "medium",
        "medium",
        "high",
        "high",
    ]


def test_tools_and_size() -> None:
    chat = analyze_text("What is a monad?")
    edit = analyze_text("Change the default port in config.yaml")
    assert not chat.needs_tools
    assert edit.needs_tools
    long = analyze_text("word " * 4000)
    assert long.context_tokens == 400 + 5000  # system allowance + 20,000 chars / 4


def test_features_from_a_request_replace_the_estimates() -> None:
    features = analyze_text("What is a monad?")
    same = features.with_request(features.context_tokens, features.needs_tools)
    assert same is features
    real = features.with_request(150_000, True)
    assert (real.task_type, real.complexity) == (features.task_type, features.complexity)
    assert (real.context_tokens, real.needs_tools) == (150_000, True)
    assert real.key != features.key


def test_analyzer_caches_per_text_and_role() -> None:
    analyzer = TaskAnalyzer(cache_size=2)
    first = analyzer.analyze("Write tests", "developer")
    assert analyzer.analyze("Write tests", "developer") is first
    assert analyzer.analyze("Write tests", "tester") is not first
    analyzer.analyze("something else")
    assert analyzer.analyze("Write tests", "developer") is not first  # evicted when full


def test_features_validate_and_compare() -> None:
    with pytest.raises(ValueError, match="unknown task type 'poetry'"):
        TaskFeatures("poetry", 0.5, False, 10)
    a = TaskFeatures("code", 0.504, True, 10)
    b = TaskFeatures("code", 0.5, True, 10)
    assert a == b and hash(a) == hash(b)  # complexity is kept to two decimals
    assert TaskFeatures("code", 7.0, True, -5).complexity == 1.0
    assert a.to_dict()["level"] == "medium"
