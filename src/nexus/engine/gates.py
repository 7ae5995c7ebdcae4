"""Evaluating the rules of a gate node against the run's expression scope.

Each :class:`~nexus.domain.plan.GateRule` has exactly one of:

- ``check``: an expression that must hold (``${{ steps.tests.output.failed == 0 }}``);
- ``schema``: ``value`` (rendered) must validate against a JSON Schema; a string
  value that is not valid as it stands is tried again parsed as JSON, since agents
  return JSON as text;
- ``regex``: ``re.search(regex, value)`` must match (dicts and lists as JSON, nothing as "");
- ``min_confidence``: ``float(value)`` must be at least the threshold; no value
  fails with "no confidence reported";
- ``python``: ``"module:function"``, a Python function called with the scope that
  returns a bool or ``(bool, message)``; an exception it raises is a failure.

:func:`evaluate_gate` returns one message per failed rule (an empty list means
the gate passed). A message starts with the rule's ``message`` when it has one,
followed by the detail. A broken expression in a rule fails that rule with the
expression error rather than raising: the gate's verdict is the answer.
"""

from __future__ import annotations

import importlib
import inspect
import json
import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError

from nexus.domain.plan import GateRule
from nexus.engine.expressions import render, truthy
from nexus.errors import ExpressionError

__all__ = ["evaluate_gate", "evaluate_rule"]

_MAX_REPORTED = 5


def evaluate_gate(
    rules: Sequence[GateRule],
    scope: Mapping[str, Any],
    *,
    allowed_modules: Collection[str] | None = None,
) -> list[str]:
    """The failure messages of a gate's rules; empty when every rule passed.

    ``allowed_modules``, when given, limits ``python`` rules to functions of those
    modules (and their submodules) — a shared server should set it.
    """
    failures: list[str] = []
    for rule in rules:
        detail = evaluate_rule(rule, scope, allowed_modules=allowed_modules)
        if detail is not None:
            failures.append(f"{rule.message}: {detail}" if rule.message else detail)
    return failures


def evaluate_rule(
    rule: GateRule,
    scope: Mapping[str, Any],
    *,
    allowed_modules: Collection[str] | None = None,
) -> str | None:
    """Why one rule failed, or None when it passed."""
    try:
        if rule.check is not None and _only(rule, "check"):
            return None if truthy(rule.check, scope) else f"check {rule.check!r} is false"
        if rule.schema_ is not None and _only(rule, "schema"):
            return _check_schema(rule.schema_, _value(rule, scope))
        if rule.regex is not None and _only(rule, "regex"):
            return _check_regex(rule.regex, _value(rule, scope))
        if rule.min_confidence is not None and _only(rule, "min_confidence"):
            return _check_confidence(rule.min_confidence, _value(rule, scope))
        if rule.python is not None and _only(rule, "python"):
            return _check_python(rule.python, scope, allowed_modules)
    except ExpressionError as exc:
        return exc.message
    return "a rule needs exactly one of check, schema, regex, min_confidence, python"


def _only(rule: GateRule, kind: str) -> bool:
    present = {
        "check": rule.check,
        "schema": rule.schema_,
        "regex": rule.regex,
        "min_confidence": rule.min_confidence,
        "python": rule.python,
    }
    return all(value is None for name, value in present.items() if name != kind)


def _value(rule: GateRule, scope: Mapping[str, Any]) -> Any:
    return None if rule.value is None else render(rule.value, scope)


def _shown(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _check_schema(schema: dict[str, Any], value: Any) -> str | None:
    try:
        validator = jsonschema.validators.validator_for(schema)(schema)
        validator.check_schema(schema)
    except SchemaError as exc:
        return f"invalid JSON schema: {exc.message}"
    errors = list(validator.iter_errors(value))
    if errors and isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            pass
        else:
            errors = list(validator.iter_errors(parsed))
    if not errors:
        return None
    errors.sort(key=lambda e: (list(map(str, e.absolute_path)), e.message))
    described = [f"{e.json_path}: {e.message}" for e in errors[:_MAX_REPORTED]]
    if len(errors) > _MAX_REPORTED:
        described.append(f"and {len(errors) - _MAX_REPORTED} more")
    return "does not match the schema: " + "; ".join(described)


def _check_regex(pattern: str, value: Any) -> str | None:
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value
    elif isinstance(value, (dict, list, tuple)):
        text = json.dumps(value, ensure_ascii=False, default=str)
    else:
        text = str(value)
    try:
        matched = re.search(pattern, text)
    except re.error as exc:
        return f"invalid regex {pattern!r}: {exc}"
    return None if matched else f"{_shown(text)} does not match /{pattern}/"


def _check_confidence(threshold: float, value: Any) -> str | None:
    if value is None or value == "":
        return "no confidence reported"
    if isinstance(value, bool):
        return f"confidence {value!r} is not a number"
    try:
        confidence = float(value)
    except (TypeError, ValueError):
        return f"confidence {_shown(value)} is not a number"
    if confidence >= threshold:
        return None
    return f"confidence {confidence:.2f} is below {threshold:.2f}"


def _check_python(
    ref: str, scope: Mapping[str, Any], allowed_modules: Collection[str] | None
) -> str | None:
    module_name, _, function_name = ref.partition(":")
    if not module_name or not function_name:
        return f"python check {ref!r} must be written 'module:function'"
    if allowed_modules is not None and not any(
        module_name == allowed or module_name.startswith(allowed + ".")
        for allowed in allowed_modules
    ):
        return f"python check {ref!r}: module '{module_name}' is not allowed here"
    try:
        target: Any = importlib.import_module(module_name)
        for part in function_name.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        return f"python check {ref!r} cannot be loaded: {exc}"
    if not (inspect.isfunction(target) or inspect.ismethod(target)):
        return f"python check {ref!r} is not a Python function"
    try:
        result = target(scope)
    except (Exception, SystemExit) as exc:
        return f"python check {ref!r} raised {type(exc).__name__}: {exc}"
    if inspect.isawaitable(result):
        if inspect.iscoroutine(result):
            result.close()
        return f"python check {ref!r} returned an awaitable; checks must be synchronous"
    message: Any = None
    if isinstance(result, tuple) and len(result) == 2:
        result, message = result
    if result is None:
        return f"python check {ref!r} returned nothing (return True or False)"
    if result:
        return None
    return str(message) if message else f"python check {ref!r} returned False"
