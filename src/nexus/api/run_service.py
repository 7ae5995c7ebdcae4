"""What several routes share: reading a plan from a request, starting a run for a caller,
a run's progress and the questions it waits on."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from nexus.api.auth import Principal
from nexus.api.errors import Forbidden
from nexus.api.executor import RunExecutor
from nexus.api.schemas import PlanBody, QuestionOut, RunDetail, RunOut
from nexus.domain.plan import Plan
from nexus.domain.runs import RunRecord, StepRecord, StepStatus
from nexus.engine.plan_loader import parse_plan, parse_plan_text
from nexus.errors import PlanError, PlanProblem, UserError
from nexus.runtime import Nexus

__all__ = [
    "check_plan_access",
    "detail_of",
    "parse_request_plan",
    "progress_of",
    "questions_of",
    "request_plan",
    "start_run_for",
]

_PLAN_NAME = re.compile(r"^[a-z][a-z0-9_\-]{0,63}$")
_ITERATION = re.compile(r"\[\d+\]$")


def parse_request_plan(plan: PlanBody, field: str = "plan") -> Plan:
    """A plan from a request body: a JSON object, or YAML/JSON text."""
    source = f"request field '{field}'"
    if isinstance(plan, str):
        return parse_plan_text(plan, source=source)
    return parse_plan(plan, source=source)


def request_plan(
    nx: Nexus, principal: Principal, plan: PlanBody | None, plan_name: str | None
) -> Plan:
    """The validated plan a request asks for: inline, a built-in one by name, or the
    built-in software plan. Inline plans that read server files (a team file, a
    workspace seed) need the admin role."""
    if plan is None:
        name = plan_name or "software"
        if not _PLAN_NAME.match(name):
            raise UserError(f"plan_name '{name}' is not a built-in plan name", field="plan_name")
        return nx.builtin_plan(name)
    if plan_name is not None:
        raise UserError("give either 'plan' or 'plan_name', not both", field="plan_name")
    parsed = parse_request_plan(plan)
    check_plan_access(principal, parsed)
    nx.validate(parsed)
    return parsed


def _server_admin(principal: Principal) -> bool:
    """The server's files are for the admins of the whole installation, not of one tenant."""
    return principal.all_tenants and principal.allows("admin")


def check_plan_access(principal: Principal, plan: Plan) -> None:
    """Inline plans that read files of the server (a team file, a workspace seed) need the
    admin role."""
    reads_files = (plan.team is not None and not plan.team.startswith("builtin:")) or (
        plan.workspace is not None and plan.workspace.seed
    )
    if reads_files and not _server_admin(principal):
        raise Forbidden(
            "a plan with a team file or a workspace seed reads files of the server: "
            "that needs an admin of the default tenant",
            required_role="admin",
            role=principal.role,
        )


async def start_run_for(
    nx: Nexus,
    executor: RunExecutor,
    principal: Principal,
    plan: Plan,
    inputs: Mapping[str, Any],
    workspace: str | None = None,
) -> RunRecord:
    """Create a run for the caller's tenant and execute it here if a slot is free (else
    the claim loop of this or another server takes it)."""
    if workspace is not None and not _server_admin(principal):
        raise Forbidden(
            "choosing the workspace directory needs an admin of the default tenant",
            required_role="admin",
            role=principal.role,
        )
    run = await nx.start_run(plan, inputs, workspace=workspace, tenant_id=principal.tenant_id)
    await executor.offer(run.run_id)
    return run


def _top_level_keys(plan: Mapping[str, Any]) -> list[str]:
    steps = plan.get("steps")
    return list(steps) if isinstance(steps, Mapping) else []


def progress_of(run: RunRecord, steps: Sequence[StepRecord]) -> tuple[int, int, float]:
    """(finished top-level steps, top-level steps, fraction); 1.0 once the run succeeded."""
    keys = _top_level_keys(run.plan)
    by_key = {s.step_key: s for s in steps}
    done = sum(1 for k in keys if k in by_key and by_key[k].status.finished)
    total = len(keys)
    if run.status.value == "succeeded":
        return total, total, 1.0
    return done, total, round(done / total, 4) if total else 0.0


def _node(plan: Mapping[str, Any], step_key: str) -> Mapping[str, Any] | None:
    steps: Any = plan.get("steps")
    node: Any = None
    for part in step_key.split("/"):
        if not isinstance(steps, Mapping):
            return None
        node = steps.get(_ITERATION.sub("", part))
        if not isinstance(node, Mapping):
            return None
        steps = next(
            (
                node[g].get("steps")
                for g in ("loop", "parallel", "sequence")
                if isinstance(node.get(g), Mapping)
            ),
            None,
        )
    return node if isinstance(node, Mapping) else None


def questions_of(run: RunRecord, steps: Sequence[StepRecord]) -> list[QuestionOut]:
    """The questions of the steps that wait for a human answer."""
    out = []
    for step in steps:
        if step.status != StepStatus.WAITING_INPUT:
            continue
        info: dict[str, Any] = {}
        node = _node(run.plan, step.step_key)
        if node is not None:
            info = {"question": node.get("human"), "options": node.get("options")}
            info["default"] = node.get("default")
        if isinstance(step.input, Mapping):
            info.update({k: v for k, v in step.input.items() if v is not None})
        options = info.get("options")
        options = options if isinstance(options, list) and options else None
        default = info.get("default")
        out.append(
            QuestionOut(
                step=step.step_key,
                question=str(info.get("question") or f"input for step {step.step_key}"),
                options=[str(o) for o in options]
                if isinstance(options, list) and options
                else None,
                default=str(default) if default is not None else None,
            )
        )
    return out


def detail_of(run: RunRecord, steps: Sequence[StepRecord]) -> RunDetail:
    done, total, progress = progress_of(run, steps)
    counts = Counter(s.status.value for s in steps)
    return RunDetail(
        **RunOut.of(run).model_dump(),
        plan=run.plan,
        progress=progress,
        steps_total=total,
        steps_done=done,
        step_status=dict(sorted(counts.items())),
        waiting=questions_of(run, steps),
    )


def plan_problems(exc: PlanError) -> list[PlanProblem]:
    if exc.problems:
        return exc.problems
    return [PlanProblem(None, "invalid_plan", exc.message)]
