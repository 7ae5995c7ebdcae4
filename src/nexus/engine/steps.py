"""What a run's walk passes around: step views, and the two ways a walk ends early."""

from __future__ import annotations

from typing import Any

from nexus.domain.runs import StepRecord
from nexus.errors import NexusError

__all__ = ["_PARKED", "Parked", "StepFailed", "StepView", "_error_dict", "_view"]

StepView = dict[str, Any]  # {"output": …, "status": "succeeded", "confidence": …}

_PARKED: StepView = {"status": "waiting_input", "output": None, "confidence": None}


class StepFailed(Exception):
    """A step failed for good: the run fails with ``error``."""

    def __init__(self, step_key: str, error: dict[str, Any]) -> None:
        super().__init__(f"step '{step_key}' failed: {error.get('message')}")
        self.step_key = step_key
        self.error = error


class Parked(Exception):
    """The run waits for a human answer."""


def _error_dict(error: BaseException, step_key: str) -> dict[str, Any]:
    if isinstance(error, NexusError):
        data = error.to_dict()
    else:
        data = {"code": type(error).__name__, "message": str(error) or type(error).__name__}
    data["step"] = step_key
    return data


def _view(rec: StepRecord) -> StepView:
    return {
        "output": rec.output,
        "status": rec.status.value,
        "confidence": rec.meta.get("confidence"),
    }
