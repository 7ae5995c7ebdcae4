"""The Nexus error hierarchy.

::

    NexusError                      every error Nexus raises on purpose
    ├── UserError                   the caller's mistake; exit code 2 in the CLI
    │   ├── PlanError               a plan that cannot be parsed or validated
    │   ├── ExpressionError         a ``${{ … }}`` expression that does not compile or evaluate
    │   ├── NotFoundError           an unknown run, step, agent, checkpoint …
    │   ├── ConfigError             a setting, a team file, a workspace that is unusable
    │   └── InvalidStateError       an action that the run's state does not allow
    ├── StepError                   a step failed while running (retry policy decides)
    │   ├── StepTimeout             the step ran past its timeout
    │   ├── GateFailed              a validation gate did not pass
    │   ├── ToolError               a tool handler or an agent tool failed
    │   └── ModelError              a model provider failed
    │       └── NoRecordingError    the offline provider has no recording for a request
    └── StoreError                  the run store failed or found a conflict

Cancellation is ``asyncio.CancelledError`` (a ``BaseException``), so an
``except Exception`` can never swallow it.
"""

from __future__ import annotations

from typing import Any


class NexusError(Exception):
    """Base of every error Nexus raises on purpose. ``code`` is stable and machine-readable."""

    code = "nexus_error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, **self.details}


class UserError(NexusError):
    code = "user_error"


class PlanError(UserError):
    """A plan failed to parse or validate. ``problems`` lists every problem found."""

    code = "invalid_plan"

    def __init__(self, message: str, problems: list[PlanProblem] | None = None) -> None:
        super().__init__(message)
        self.problems: list[PlanProblem] = problems or []

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        lines = [self.message]
        lines.extend(f"  - {p}" for p in self.problems)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "problems": [p.to_dict() for p in self.problems],
        }


class PlanProblem:
    """One problem in a plan, tied to the node (step path) it is in."""

    __slots__ = ("kind", "message", "node")

    def __init__(self, node: str | None, kind: str, message: str) -> None:
        self.node = node
        self.kind = kind
        self.message = message

    def __str__(self) -> str:
        where = f"step '{self.node}'" if self.node else "plan"
        return f"{where}: {self.message} [{self.kind}]"

    def __repr__(self) -> str:
        return f"PlanProblem({self.node!r}, {self.kind!r}, {self.message!r})"

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "kind": self.kind, "message": self.message}


class ExpressionError(UserError):
    code = "invalid_expression"


class NotFoundError(UserError):
    code = "not_found"


class ConfigError(UserError):
    code = "config_error"


class InvalidStateError(UserError):
    code = "invalid_state"


class StepError(NexusError):
    """A step failed. ``retryable`` tells the retry policy whether another attempt may help."""

    code = "step_failed"
    retryable = True


class StepTimeout(StepError):
    code = "timeout"


class GateFailed(StepError):
    code = "gate_failed"
    retryable = False


class ToolError(StepError):
    code = "tool_error"


class ModelError(StepError):
    code = "model_error"


class NoRecordingError(ModelError):
    code = "no_recording"
    retryable = False


class StoreError(NexusError):
    code = "store_error"
