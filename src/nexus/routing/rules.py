"""Explicit routing rules (M4): condition → model, with a reason. Tried before any scoring.

A rule is written in the ``rules:`` list of a catalog file::

    rules:
      - name: long-context
        if: {context_tokens: ">150000"}
        model: openai:gpt-4.1
        reason: only a 1M-token window holds the whole repository
      - name: routine-tests
        if: {role: test_creator, level: [low, medium]}
        model: anthropic:claude-haiku-4-5
        reason: routine tests pass as often on Haiku, for a third of the price

Condition fields: ``role``, ``mode``, ``task_type``, ``level``, ``complexity``,
``needs_tools``, ``context_tokens``. A value is matched by equality, a list by
membership, and a string starting with ``<``, ``<=``, ``>``, ``>=``, ``==`` or
``!=`` compares a number (``complexity``, ``context_tokens``). Every field of a
rule must match. The first matching rule whose model is a candidate and can
take the request (context window, tools) decides.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from nexus.errors import ConfigError
from nexus.routing.analyzer import COMPLEXITY_LEVELS, TASK_TYPES, TaskFeatures

__all__ = ["FIELDS", "Condition", "Rule", "compile_rules", "first_match"]

_NUMERIC = frozenset({"complexity", "context_tokens"})
FIELDS: tuple[str, ...] = (
    "role",
    "mode",
    "task_type",
    "level",
    "complexity",
    "needs_tools",
    "context_tokens",
)
_MODES = ("speed", "quality", "cost", "balance")
_COMPARISON = re.compile(r"^\s*(<=|>=|==|!=|<|>)\s*(-?\d+(?:\.\d+)?)\s*$")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_ALLOWED: dict[str, tuple[str, ...]] = {
    "mode": _MODES,
    "task_type": TASK_TYPES,
    "level": COMPLEXITY_LEVELS,
}


@dataclass(frozen=True, slots=True)
class Condition:
    """One field test: ``field`` compared by ``op`` (``in``, ``==`` or a comparison)."""

    field: str
    op: str
    value: Any

    def test(self, actual: Any) -> bool:
        if self.op == "in":
            return bool(actual in self.value)
        return _OPS[self.op](actual, self.value)

    def describe(self) -> str:
        if self.op == "in":
            return f"{self.field} in [{', '.join(map(str, self.value))}]"
        return f"{self.field} {self.op} {self.value}"


@dataclass(frozen=True, slots=True)
class Rule:
    """A compiled rule: all ``conditions`` must hold to route to ``model``."""

    name: str
    model: str
    reason: str
    conditions: tuple[Condition, ...]

    def matches(self, features: TaskFeatures, role: str, mode: str) -> bool:
        for cond in self.conditions:
            field = cond.field
            if field == "role":
                actual: Any = role
            elif field == "mode":
                actual = mode
            else:
                actual = getattr(features, field)
            if not cond.test(actual):
                return False
        return True

    def describe(self) -> str:
        when = " and ".join(c.describe() for c in self.conditions) or "always"
        return f"{self.name}: if {when} → {self.model} ({self.reason})"


def _condition(field: str, raw: Any, where: str) -> Condition:
    if field not in FIELDS:
        raise ConfigError(f"{where}: unknown condition field '{field}'; known: {', '.join(FIELDS)}")
    if isinstance(raw, str) and (match := _COMPARISON.match(raw)):
        if field not in _NUMERIC:
            raise ConfigError(f"{where}: '{field}' cannot be compared with '{raw}'")
        return Condition(field, match.group(1), float(match.group(2)))
    values = tuple(raw) if isinstance(raw, (list, tuple)) else (raw,)
    if not values:
        raise ConfigError(f"{where}: '{field}' has an empty list of values")
    allowed = _ALLOWED.get(field)
    if allowed is not None:
        bad = [v for v in values if v not in allowed]
        if bad:
            raise ConfigError(
                f"{where}: {field} {', '.join(map(str, bad))} is not one of {', '.join(allowed)}"
            )
    if field == "needs_tools" and not all(isinstance(v, bool) for v in values):
        raise ConfigError(f"{where}: needs_tools takes true or false")
    if field in _NUMERIC and not all(isinstance(v, (int, float)) for v in values):
        raise ConfigError(f"{where}: {field} takes a number or a comparison such as '>0.7'")
    if len(values) == 1:
        return Condition(field, "==", values[0])
    return Condition(field, "in", frozenset(values))


def compile_rules(raw: Sequence[Any], known_models: Sequence[str] | None = None) -> list[Rule]:
    """Parse the ``rules:`` list of a catalog; errors name the rule and the field."""
    rules: list[Rule] = []
    for index, entry in enumerate(raw):
        where = f"routing rule {index + 1}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping with 'if', 'model' and 'reason'")
        name = str(entry.get("name") or f"rule-{index + 1}")
        where = f"routing rule '{name}'"
        unknown = sorted(set(entry) - {"name", "if", "model", "reason"})
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
        model = entry.get("model")
        if not isinstance(model, str) or ":" not in model:
            raise ConfigError(f"{where}: 'model' must be a provider:model name")
        if known_models is not None and model not in known_models:
            raise ConfigError(f"{where}: model '{model}' is not in the catalog")
        when = entry.get("if") or {}
        if not isinstance(when, dict):
            raise ConfigError(f"{where}: 'if' must map fields to values")
        conditions = tuple(_condition(str(f), v, where) for f, v in when.items())
        reason = str(entry.get("reason") or f"rule {name}")
        rules.append(Rule(name, model, reason, conditions))
    return rules


def first_match(
    rules: Sequence[Rule],
    features: TaskFeatures,
    role: str,
    mode: str,
    usable: Callable[[str], bool],
) -> tuple[Rule | None, list[str]]:
    """The first rule that matches and whose model is ``usable``, and notes on the
    rules that matched but could not be used."""
    notes: list[str] = []
    for rule in rules:
        if rule.matches(features, role, mode):
            if usable(rule.model):
                return rule, notes
            notes.append(f"rule {rule.name} matched but {rule.model} cannot take this request")
    return None, notes
