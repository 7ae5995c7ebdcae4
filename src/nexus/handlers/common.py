"""Helpers the built-in handlers share: parameter checks, the workspace, timeouts, truncation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from nexus.errors import ToolError
from nexus.handlers.base import StepContext

__all__ = [
    "check_params",
    "effective_timeout",
    "fatal",
    "require_workspace",
    "truncate_tail",
]

_validators: dict[int, Draft202012Validator] = {}


def fatal(error: ToolError) -> ToolError:
    """Mark ``error`` as not worth retrying (bad parameters, a value that will not change)."""
    error.retryable = False
    return error


def check_params(tool: str, schema: dict[str, Any], params: Any) -> dict[str, Any]:
    """Validate a step's ``with`` parameters against the handler's schema; return them.

    Plans are checked against ``params_schema`` when they are validated, but
    expressions resolve only at run time, so the handler checks again. Every
    problem is listed with its JSON path.
    """
    validator = _validators.get(id(schema))
    if validator is None:
        validator = Draft202012Validator(schema)
        _validators[id(schema)] = validator
    errors = sorted(validator.iter_errors(params), key=lambda e: list(e.absolute_path))
    if errors:
        problems = [f"{e.json_path}: {e.message}" for e in errors]
        raise fatal(
            ToolError(
                f"tool '{tool}' got invalid parameters: " + "; ".join(problems),
                tool=tool,
                problems=problems,
            )
        )
    return dict(params)


def require_workspace(ctx: StepContext, tool: str) -> Path:
    """The step's workspace directory; a ToolError when the step has none or it is missing."""
    if not ctx.workspace:
        raise fatal(
            ToolError(f"tool '{tool}' needs a workspace but step '{ctx.step_key}' has none")
        )
    path = Path(ctx.workspace)
    if not path.is_dir():
        raise fatal(
            ToolError(f"workspace {path} of step '{ctx.step_key}' does not exist", tool=tool)
        )
    return path


def effective_timeout(requested: float | None, ctx: StepContext) -> float | None:
    """The smaller of the handler's own timeout and the step's timeout (either may be None)."""
    limits = [t for t in (requested, ctx.timeout) if t is not None and t > 0]
    return min(limits) if limits else None


def truncate_tail(text: str, limit: int) -> tuple[str, bool]:
    """Keep the last ``limit`` characters of ``text``, prefixed by a note of how much was cut."""
    cut = len(text) - limit
    if cut <= 0:
        return text, False
    tail = text[-limit:] if limit > 0 else ""
    return f"[… {cut} earlier characters truncated …]\n{tail}", True
