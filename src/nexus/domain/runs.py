"""Runs, steps and events (E2, E5): the records the store keeps.

These are plain slotted dataclasses, not Pydantic models: they are created on
the engine's hot path, thousands per second.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

RUN_SCHEMA_VERSION = 1


class RunStatus(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    WAITING_INPUT = "waiting_input"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in _FINISHED_RUN


_FINISHED_RUN = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})


class StepStatus(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    WAITING_INPUT = "waiting_input"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in _FINISHED_STEP


_FINISHED_STEP = frozenset(
    {StepStatus.SUCCEEDED, StepStatus.FAILED, StepStatus.SKIPPED, StepStatus.CANCELLED}
)


def new_id(prefix: str = "") -> str:
    """A short random id: 16 hex characters (64 bits), with an optional prefix."""
    return prefix + secrets.token_hex(8)


def now() -> float:
    return time.time()


@dataclass(slots=True)
class RunRecord:
    """One run of a plan. ``plan`` is the plan as a JSON-able dict (stored by content hash)."""

    run_id: str
    plan_name: str
    plan: dict[str, Any]
    inputs: dict[str, Any]
    status: RunStatus = RunStatus.CREATED
    correlation_id: str = ""
    workspace: str | None = None
    tenant_id: str = "default"
    parent_run_id: str | None = None
    forked_from_step: str | None = None
    output: Any = None
    error: dict[str, Any] | None = None
    created_at: float = field(default_factory=now)
    updated_at: float = field(default_factory=now)
    finished_at: float | None = None
    schema_version: int = RUN_SCHEMA_VERSION
    # Settings the run was started with that are not part of the plan (replay mode, labels…)
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class StepRecord:
    """The journal row of one step, keyed by (run_id, step_key).

    ``step_key`` is the path of the node in the plan: ``implement``,
    ``checks/lint`` (in a group), ``validate[2]/run_tests`` (iteration 2 of a loop).
    """

    run_id: str
    step_key: str
    kind: str
    status: StepStatus = StepStatus.PENDING
    attempt: int = 0
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    started_at: float | None = None
    finished_at: float | None = None
    # model, tokens, cost, confidence, commit … whatever the handler reported
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return self.finished_at - self.started_at


@dataclass(slots=True)
class Event:
    """One entry of a run's append-only event log. ``seq`` is 1, 2, 3 … per run."""

    run_id: str
    seq: int
    type: str
    data: dict[str, Any]
    correlation_id: str = ""
    step_key: str | None = None
    ts: float = field(default_factory=now)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "seq": self.seq,
            "type": self.type,
            "step_key": self.step_key,
            "correlation_id": self.correlation_id,
            "ts": self.ts,
            "data": self.data,
        }


@dataclass(slots=True)
class Checkpoint:
    """A snapshot of a run: its steps' records, the workspace commit and provider sessions."""

    checkpoint_id: str
    run_id: str
    created_at: float
    label: str | None
    state: dict[str, Any]
