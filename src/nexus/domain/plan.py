"""Plans: a DAG of typed nodes (E1), as the user writes them in YAML, JSON or Python.

A plan is a mapping of step keys to nodes. The node kind is told by the one
kind key the node carries (``agent``, ``tool``, ``gate``, ``human``,
``condition``, ``loop``, ``parallel``, ``sequence``, ``transform``). Edges are
``needs`` lists. Strings may hold ``${{ expression }}`` templates evaluated by
the sandboxed evaluator in :mod:`nexus.engine.expressions`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

PLAN_SCHEMA_VERSION = 1

NODE_KINDS: tuple[str, ...] = (
    "agent",
    "tool",
    "gate",
    "human",
    "condition",
    "loop",
    "parallel",
    "sequence",
    "transform",
)


class RetryPolicy(BaseModel):
    """How a failed step is tried again.

    ``max_attempts`` counts the first try. The wait before attempt *n* (n ≥ 2) is
    ``min(backoff * multiplier**(n-2), max_backoff)``, then multiplied by a random
    factor in ``[1 - jitter, 1 + jitter]``. ``retry_on`` lists error codes
    (see :mod:`nexus.errors`) that may be retried; ``["*"]`` means any retryable error.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_attempts: int = Field(1, ge=1, le=100)
    backoff: float = Field(0.5, ge=0)
    multiplier: float = Field(2.0, ge=1)
    max_backoff: float = Field(30.0, ge=0)
    jitter: float = Field(0.25, ge=0, le=1)
    retry_on: tuple[str, ...] = ("*",)


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    key: str = ""
    needs: tuple[str, ...] = ()
    if_: str | None = Field(None, alias="if")
    retry: RetryPolicy | None = None
    timeout: float | None = Field(None, gt=0)
    description: str | None = None


class AgentNode(_Node):
    kind: Literal["agent"] = "agent"
    agent: str
    prompt: str
    tools: tuple[str, ...] | None = None
    max_turns: int | None = Field(None, ge=1, le=200)
    model: str | None = None


class ToolNode(_Node):
    kind: Literal["tool"] = "tool"
    tool: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")


class GateRule(BaseModel):
    """One validation rule. Exactly one of check, schema, regex, min_confidence, python."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    check: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    regex: str | None = None
    min_confidence: float | None = Field(None, ge=0, le=1)
    python: str | None = None
    value: str | None = None
    message: str | None = None


class GateNode(_Node):
    kind: Literal["gate"] = "gate"
    gate: tuple[GateRule, ...]
    on_fail: Literal["fail", "rollback"] = "fail"
    rollback_to: str | None = None


class HumanNode(_Node):
    kind: Literal["human"] = "human"
    human: str
    options: tuple[str, ...] | None = None
    default: str | None = None


class ConditionNode(_Node):
    kind: Literal["condition"] = "condition"
    condition: str
    then: tuple[str, ...] = ()
    else_: tuple[str, ...] = Field((), alias="else")


def _fill_order(steps: dict[str, Any], order: tuple[str, ...]) -> tuple[str, ...]:
    """The children's order as written. Stored plans are JSON with sorted keys, so the
    order is kept in its own list; a given list must name each child once."""
    if not order:
        return tuple(steps)
    if sorted(order) != sorted(steps):
        raise ValueError(
            f"order {list(order)} must list each of the steps {sorted(steps)} exactly once"
        )
    return order


class LoopSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max: int | str = 3
    until: str | None = None
    steps: dict[str, Node]
    #: the steps' order as written (filled in when parsed; kept when stored)
    order: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _order(self) -> LoopSpec:
        object.__setattr__(self, "order", _fill_order(self.steps, self.order))
        return self

    def ordered_steps(self) -> dict[str, Node]:
        return {key: self.steps[key] for key in self.order}


class LoopNode(_Node):
    kind: Literal["loop"] = "loop"
    loop: LoopSpec


class GroupSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: dict[str, Node]
    max_concurrency: int | None = Field(None, ge=1)
    #: the steps' order as written (a sequence runs them in this order)
    order: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _order(self) -> GroupSpec:
        object.__setattr__(self, "order", _fill_order(self.steps, self.order))
        return self

    def ordered_steps(self) -> dict[str, Node]:
        return {key: self.steps[key] for key in self.order}


class ParallelNode(_Node):
    kind: Literal["parallel"] = "parallel"
    parallel: GroupSpec


class SequenceNode(_Node):
    kind: Literal["sequence"] = "sequence"
    sequence: GroupSpec


class TransformNode(_Node):
    kind: Literal["transform"] = "transform"
    transform: dict[str, Any]


Node = Annotated[
    AgentNode
    | ToolNode
    | GateNode
    | HumanNode
    | ConditionNode
    | LoopNode
    | ParallelNode
    | SequenceNode
    | TransformNode,
    Field(discriminator="kind"),
]

GROUP_KINDS = frozenset({"loop", "parallel", "sequence"})


class InputSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["string", "integer", "number", "boolean", "object", "array"] = "string"
    default: Any = None
    required: bool = False
    description: str | None = None


class PlanBudget(BaseModel):
    """What one run of the plan may spend on model calls: USD and tokens (all kinds).

    Replaces the default run budget (``NEXUS_BUDGET_RUN_USD`` / ``_TOKENS``) field by
    field; see :mod:`nexus.budgets`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    usd: float | None = Field(None, ge=0)
    tokens: int | None = Field(None, ge=0)


class PlanSettings(BaseModel):
    """Run-wide policies. ``on_input`` is the E10 policy for input sent while the run is busy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_concurrency: int = Field(8, ge=1, le=1024)
    on_input: Literal["queue", "interrupt", "reject"] = "queue"
    default_retry: RetryPolicy | None = None
    default_timeout: float | None = Field(None, gt=0)
    budget: PlanBudget | None = None


class WorkspaceSpec(BaseModel):
    """How a run's workspace starts. ``seed``: a directory (relative to the plan file)
    whose files are copied into a fresh workspace before the first step."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: str | None = None


class Plan(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = PLAN_SCHEMA_VERSION
    name: str
    description: str | None = None
    inputs: dict[str, InputSpec] = Field(default_factory=dict)
    team: str | None = None
    workspace: WorkspaceSpec | None = None
    settings: PlanSettings = Field(default_factory=PlanSettings)
    steps: dict[str, Node]


def node_children(node: Node) -> dict[str, Node] | None:
    """The sub-steps of a group node (loop, parallel, sequence), or None."""
    if isinstance(node, LoopNode):
        return node.loop.steps
    if isinstance(node, ParallelNode):
        return node.parallel.steps
    if isinstance(node, SequenceNode):
        return node.sequence.steps
    return None


LoopSpec.model_rebuild()
GroupSpec.model_rebuild()
Plan.model_rebuild()
