"""Request and response models of the REST API (they make the OpenAPI document).

Conversions from the engine's records live next to the models they fill:
:meth:`RunOut.of`, :meth:`StepOut.of`, :meth:`EventOut.of`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nexus.domain.runs import Event, RunRecord, RunStatus, StepRecord, StepStatus

__all__ = [
    "AnswerIn",
    "CheckpointIn",
    "CheckpointOut",
    "EventOut",
    "EventPage",
    "ForkIn",
    "PlanProblemOut",
    "PlanValidateIn",
    "PlanValidateOut",
    "QuestionOut",
    "RunCreate",
    "RunDetail",
    "RunOut",
    "RunPage",
    "StepOut",
]

PlanBody = dict[str, Any] | str


def public_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    """Inputs without the engine's private ones (``_cassette_dirs`` …)."""
    return {k: v for k, v in inputs.items() if not k.startswith("_")}


class RunCreate(BaseModel):
    """A run of a plan (inline JSON object or YAML/JSON text), of a built-in plan by
    name, or — with only ``task`` — of the built-in software team's plan."""

    model_config = ConfigDict(extra="forbid")

    plan: PlanBody | None = Field(None, description="The plan: a JSON object or YAML/JSON text.")
    plan_name: str | None = Field(
        None, description="A built-in plan (e.g. 'software') when no plan is given."
    )
    task: str | None = Field(None, max_length=100_000, description="Sets the 'task' input.")
    inputs: dict[str, Any] = Field(default_factory=dict)
    workspace: str | None = Field(
        None, description="A directory to work in (admin only); default: a new one."
    )


class RunOut(BaseModel):
    run_id: str
    plan_name: str
    status: RunStatus
    tenant_id: str
    correlation_id: str
    workspace: str | None
    parent_run_id: str | None
    forked_from_step: str | None
    inputs: dict[str, Any]
    output: Any = None
    error: dict[str, Any] | None = None
    created_at: float
    updated_at: float
    finished_at: float | None
    duration_s: float | None
    options: dict[str, Any]

    @classmethod
    def of(cls, run: RunRecord) -> RunOut:
        return cls(
            run_id=run.run_id,
            plan_name=run.plan_name,
            status=run.status,
            tenant_id=run.tenant_id,
            correlation_id=run.correlation_id,
            workspace=run.workspace,
            parent_run_id=run.parent_run_id,
            forked_from_step=run.forked_from_step,
            inputs=public_inputs(run.inputs),
            output=run.output,
            error=run.error,
            created_at=run.created_at,
            updated_at=run.updated_at,
            finished_at=run.finished_at,
            duration_s=(run.finished_at - run.created_at) if run.finished_at else None,
            options={k: v for k, v in run.options.items() if not k.startswith("_")},
        )


class QuestionOut(BaseModel):
    """What a step that waits for a human asks."""

    step: str
    question: str
    options: list[str] | None = None
    default: str | None = None


class RunDetail(RunOut):
    plan: dict[str, Any]
    progress: float = Field(description="Finished top-level steps / all top-level steps.")
    steps_total: int
    steps_done: int
    step_status: dict[str, int] = Field(description="Number of journaled steps per status.")
    waiting: list[QuestionOut]


class RunPage(BaseModel):
    items: list[RunOut]
    limit: int
    offset: int
    next_offset: int | None = Field(description="Offset of the next page; null on the last.")


class StepOut(BaseModel):
    run_id: str
    step_key: str
    kind: str
    status: StepStatus
    attempt: int
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None = None
    started_at: float | None
    finished_at: float | None
    duration_s: float | None
    meta: dict[str, Any]

    @classmethod
    def of(cls, step: StepRecord) -> StepOut:
        return cls(
            run_id=step.run_id,
            step_key=step.step_key,
            kind=step.kind,
            status=step.status,
            attempt=step.attempt,
            input=step.input,
            output=step.output,
            error=step.error,
            started_at=step.started_at,
            finished_at=step.finished_at,
            duration_s=step.duration,
            meta=step.meta,
        )


class EventOut(BaseModel):
    run_id: str
    seq: int
    type: str
    step_key: str | None
    correlation_id: str
    ts: float
    data: dict[str, Any]

    @classmethod
    def of(cls, event: Event) -> EventOut:
        return cls(**event.to_dict())


class EventPage(BaseModel):
    events: list[EventOut]
    next_after_seq: int = Field(description="Pass as after_seq to read on.")
    has_more: bool


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    step: str = Field(min_length=1, description="The key of the step that waits.")
    value: Any = Field(description="The answer; one of the step's options if it has any.")


class CheckpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(None, max_length=200)


class CheckpointOut(BaseModel):
    checkpoint_id: str
    run_id: str
    created_at: float
    label: str | None
    workspace_commit: str | None
    steps: int = Field(description="Finished steps captured.")


class ForkIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_step: str = Field(min_length=1, description="This step and what depends on it run again.")
    set_inputs: dict[str, Any] = Field(default_factory=dict, alias="set")
    replay: bool = Field(False, description="Re-use recorded model outputs at zero cost.")


class PlanValidateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: PlanBody


class PlanProblemOut(BaseModel):
    node: str | None
    kind: str
    message: str


class PlanValidateOut(BaseModel):
    valid: bool
    name: str | None = None
    steps: list[str] = Field(default_factory=list, description="Every step path of the plan.")
    problems: list[PlanProblemOut] = Field(default_factory=list)


class TaskCreate(BaseModel):
    """A task for the software team (seed 001), or for a plan given inline."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(None, max_length=100_000)
    task: str | None = Field(None, max_length=100_000, description="Same as description.")
    requirements: list[str] = Field(default_factory=list, max_length=200)
    plan: PlanBody | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    workspace: str | None = None

    def text(self) -> str | None:
        base = self.description or self.task
        if not self.requirements:
            return base
        lines = [base or "", "", "Requirements:", *(f"- {r}" for r in self.requirements)]
        return "\n".join(lines).strip()


class TaskCreated(BaseModel):
    task_id: str
    status: Literal["processing"] = "processing"
    run_id: str


class TaskStatus(BaseModel):
    task_id: str
    status: RunStatus
    progress: float
    steps_total: int
    steps_done: int
    waiting: list[QuestionOut]


class TaskResult(BaseModel):
    task_id: str
    status: RunStatus
    finished: bool
    result: Any = None
    error: dict[str, Any] | None = None
    summary: dict[str, Any] = Field(description="Steps, durations, tokens, cost, tests.")


class TaskCancelled(BaseModel):
    task_id: str
    status: RunStatus
