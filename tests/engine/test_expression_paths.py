"""Plain paths (``steps.x.output.reply``) are read without Jinja: the same values as Jinja's."""

from __future__ import annotations

import dataclasses
from collections import ChainMap, OrderedDict
from typing import Any

import pytest

from nexus.engine import expressions
from nexus.engine.expressions import evaluate, render


class Reply(dict[str, Any]):
    """A dict subclass: the sandbox, not the shortcut, reads it."""


STEPS: ChainMap[str, Any] = ChainMap(
    {"b": {"output": {"reply": "from b", "n": 0, "items": [1, 2]}, "status": "succeeded"}},
    {"a": {"output": {"reply": "from a", "nested": {"k": None}}, "status": "succeeded"}},
)
SCOPE: dict[str, Any] = {
    "inputs": {"task": "do it", "count": 3, "flags": OrderedDict(x=1)},
    "steps": STEPS,
    "run": {"id": "r1"},
    "loop": {"iteration": 2},
    "custom": Reply(reply="sub"),
}

EXPRESSIONS = [
    "steps.a.output.reply",
    "steps['b'].output['reply']",
    "steps.b.output.n",
    "steps.b.output.items",
    "steps.a.output.nested.k",
    "steps.a.output.missing",
    "steps.a.output.missing.deeper",
    "steps.zzz.output",
    "inputs.task",
    "inputs.count",
    "inputs.flags.x",
    "loop.iteration",
    "run.id",
    "custom.reply",
    "nowhere.at.all",
    "steps.b.status",
    "steps.b.output.items[0]",
    "range",
]


def _jinja_only(source: str) -> Any:
    compiled = expressions._compile(source)
    return expressions._run(dataclasses.replace(compiled, path=None), SCOPE)


@pytest.mark.parametrize("source", EXPRESSIONS)
def test_a_path_reads_what_jinja_reads(source: str) -> None:
    got = evaluate(source, SCOPE)
    expected = _jinja_only(source)
    assert type(got) is type(expected)
    assert got == expected or (callable(got) and got is expected)


def test_plain_paths_are_recognised_and_others_are_not() -> None:
    def path(source: str) -> Any:
        return expressions._compile(source).path

    assert path("steps.a.output.reply") == ("steps", ("a", "output", "reply"))
    assert path("inputs['task']") == ("inputs", ("task",))
    assert path("run") == ("run", ())
    assert path("steps.b.output.items[0]") is None
    assert path("steps.a.output.reply | upper") is None
    assert path("inputs.count + 1") is None


def test_templates_with_paths_render_as_before() -> None:
    text = "As the developer, continue from: ${{ steps.a.output.reply }} (${{ inputs.count }})"
    assert render({"prompt": text, "n": "${{ inputs.count }}"}, SCOPE) == {
        "prompt": "As the developer, continue from: from a (3)",
        "n": 3,
    }
