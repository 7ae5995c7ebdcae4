"""Plan inputs: defaults, required values and types, checked before a run is created."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

from nexus.domain.plan import InputSpec, Plan
from nexus.errors import UserError


class InputError(UserError):
    code = "invalid_input"


def _coerce(name: str, spec: InputSpec, value: Any) -> Any:
    kind = spec.type
    if kind == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float, bool)):
            return str(value)
    elif kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0"):
            return value.lower() in ("true", "yes", "1")
    elif kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
    elif kind == "number":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif kind in ("object", "array"):
        expected = dict if kind == "object" else list
        if isinstance(value, str):
            with contextlib.suppress(json.JSONDecodeError):
                value = json.loads(value)
        if isinstance(value, expected):
            return value
    raise InputError(
        f"input '{name}' must be of type {kind}, got {type(value).__name__} {value!r}",
        input=name,
    )


def resolve_inputs(plan: Plan, given: Mapping[str, Any]) -> dict[str, Any]:
    """The run's inputs: given values checked and coerced, defaults filled in.

    Keys starting with ``_`` are Nexus's own (e.g. ``_cassette_dirs``) and pass through."""
    unknown = [k for k in given if k not in plan.inputs and not k.startswith("_")]
    if unknown:
        declared = ", ".join(plan.inputs) or "none"
        raise InputError(
            f"unknown input {', '.join(repr(k) for k in unknown)} for plan '{plan.name}' "
            f"(declared: {declared})"
        )
    values: dict[str, Any] = {k: v for k, v in given.items() if k.startswith("_")}
    for name, spec in plan.inputs.items():
        if name in given and given[name] is not None:
            values[name] = _coerce(name, spec, given[name])
        elif spec.default is not None:
            values[name] = spec.default
        elif spec.required:
            raise InputError(f"input '{name}' of plan '{plan.name}' is required", input=name)
        else:
            values[name] = None
    return values
