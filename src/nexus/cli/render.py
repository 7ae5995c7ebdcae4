"""How the CLI shows things: Rich tables of runs, steps, agents and checks, the run summary.

Every function here turns data (records, dicts from the facade) into text or a
Rich renderable, or into JSON-able dicts for ``--json``; none does I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from nexus.cli._format import (
    OUTPUT_WIDTH,
    STATUS_STYLES,
    as_number,
    fmt_clock,
    fmt_cost,
    fmt_duration,
    fmt_time,
    jsonable,
    one_line,
    pick,
    styled,
    summarize_output,
)
from nexus.domain.runs import Checkpoint, Event, RunRecord, StepRecord


# runs -------------------------------------------------------------------------
def run_to_dict(run: RunRecord, *, with_plan: bool = False) -> dict[str, Any]:
    """A run as a JSON-able dict (the plan itself only when asked for)."""
    data: dict[str, Any] = jsonable(run)
    if not with_plan:
        data.pop("plan", None)
    data["duration"] = (run.finished_at - run.created_at) if run.finished_at else None
    return data


def step_to_dict(step: StepRecord, actor: str = "") -> dict[str, Any]:
    """A step journal row as a JSON-able dict, with its duration, actor, model and summary."""
    data: dict[str, Any] = jsonable(step)
    data["attempts"] = step.attempt
    data["duration"] = step.duration
    data["actor"] = actor
    data["model"] = step.meta.get("model")
    data["output_summary"] = summarize_output(step.output, 200)
    return data


def runs_table(runs: Sequence[RunRecord]) -> Table:
    """One row per run: id, plan, status, created, duration, parent."""
    table = Table(title=f"{len(runs)} run(s)", title_justify="left")
    table.add_column("run", no_wrap=True)
    table.add_column("plan")
    table.add_column("status", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("parent", no_wrap=True)
    for run in runs:
        duration = (run.finished_at - run.created_at) if run.finished_at else None
        parent = run.parent_run_id or ""
        if parent and run.forked_from_step:
            parent += f" @ {run.forked_from_step}"
        table.add_row(
            run.run_id,
            run.plan_name,
            styled(str(run.status)),
            fmt_time(run.created_at),
            fmt_duration(duration),
            parent,
        )
    return table


def steps_table(steps: Sequence[StepRecord], actors: Mapping[str, str]) -> Table:
    """One row per step: key, actor, model (if any), status, attempts, duration, output."""
    with_model = any(step.meta.get("model") for step in steps)
    table = Table(show_edge=False)
    table.add_column("step", no_wrap=True)
    table.add_column("agent/tool", no_wrap=True)
    if with_model:
        table.add_column("model", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("try", justify="right")
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("output", overflow="ellipsis", no_wrap=True, max_width=OUTPUT_WIDTH)
    for step in steps:
        output = summarize_output(step.output)
        if step.error and not output:
            output = one_line(str(step.error.get("message") or step.error), OUTPUT_WIDTH)
        cells: list[str | Text] = [step.step_key, actors.get(step.step_key, step.kind)]
        if with_model:
            cells.append(str(step.meta.get("model") or ""))
        cells += [
            styled(str(step.status)),
            str(step.attempt),
            fmt_duration(step.duration),
            output,
        ]
        table.add_row(*cells)
    return table


def run_detail(
    run: RunRecord,
    steps: Sequence[StepRecord],
    children: Sequence[RunRecord],
    actors: Mapping[str, str],
    alerts: Sequence[Mapping[str, Any]] = (),
) -> RenderableType:
    """``nexus runs show``: the run's fields, its parent and children, its steps, its alerts."""
    info = Table.grid(padding=(0, 2))
    info.add_column(style="dim", no_wrap=True)
    info.add_column()
    info.add_row("run", Text(run.run_id, style="bold"))
    info.add_row("plan", run.plan_name)
    info.add_row("status", styled(str(run.status)))
    info.add_row("created", fmt_time(run.created_at))
    info.add_row("finished", fmt_time(run.finished_at))
    duration = (run.finished_at - run.created_at) if run.finished_at else None
    info.add_row("duration", fmt_duration(duration))
    info.add_row("correlation", run.correlation_id or "-")
    info.add_row("workspace", run.workspace or "-")
    if run.inputs:
        info.add_row("inputs", one_line(json.dumps(jsonable(run.inputs)), 100))
    if run.parent_run_id:
        origin = f" (forked from step {run.forked_from_step})" if run.forked_from_step else ""
        info.add_row("parent", f"{run.parent_run_id}{origin}")
    for child in children:
        origin = f" from step {child.forked_from_step}" if child.forked_from_step else ""
        info.add_row("child", Text.assemble(child.run_id, " ", styled(str(child.status)), origin))
    if run.error:
        message = run.error.get("message") or json.dumps(jsonable(run.error))
        info.add_row("error", Text(one_line(str(message), 200), style="red"))
    parts: list[RenderableType] = [info, Text(""), steps_table(steps, actors)]
    parts.extend(route_lines(steps))
    parts.extend(alert_lines(alerts))
    return Group(*parts)


def route_lines(steps: Sequence[StepRecord]) -> list[Text]:
    """A ``routing`` heading and, per routed step, the model the router chose and why."""
    routed = [s for s in steps if s.meta.get("route_reason")]
    if not routed:
        return []
    lines = [Text("routing", style="bold")]
    for step in routed:
        lines.append(
            Text.assemble(
                ("  ", ""),
                (step.step_key, "dim"),
                f"  {step.meta.get('model') or '?'}: ",
                one_line(str(step.meta["route_reason"]), 300),
            )
        )
    return lines


def alert_lines(alerts: Sequence[Mapping[str, Any]]) -> list[Text]:
    """An ``alerts`` heading and one line per alert (cost anomaly, refused call), or nothing."""
    if not alerts:
        return []
    lines = [Text("alerts", style="bold yellow")]
    for alert in alerts:
        where = f" {alert['step']}" if alert.get("step") else ""
        lines.append(
            Text.assemble(
                ("  ", ""),
                (str(alert.get("type", "alert")), "yellow"),
                (where, "dim"),
                f"  {one_line(str(alert.get('message', '')), 160)}",
            )
        )
    return lines


def checkpoint_to_dict(checkpoint: Checkpoint) -> dict[str, Any]:
    """A checkpoint without its (large) state, for output."""
    return {
        "checkpoint_id": checkpoint.checkpoint_id,
        "run_id": checkpoint.run_id,
        "created_at": checkpoint.created_at,
        "label": checkpoint.label,
    }


# events -----------------------------------------------------------------------
def event_line(event: Event) -> Text:
    """One event of ``nexus runs logs``: seq, time, type, step, correlation id, data."""
    data = one_line(json.dumps(jsonable(event.data), ensure_ascii=False), 120)
    return Text.assemble(
        (f"{event.seq:>5} ", "dim"),
        f"{fmt_clock(event.ts)} ",
        (f"{event.type:<20}", STATUS_STYLES.get(event.type.rsplit(".", 1)[-1], "")),
        f" {event.step_key or '-':<20}",
        (f" {event.correlation_id or '-'} ", "dim"),
        data if event.data else "",
    )


# summary ----------------------------------------------------------------------
def _tokens_of(data: Mapping[str, Any]) -> int | None:
    total = as_number(data.get("total_tokens"))
    if total is not None:
        return int(total)
    given = as_number(pick(data, "input_tokens", "prompt_tokens"))
    produced = as_number(pick(data, "output_tokens", "completion_tokens"))
    if given is None and produced is None:
        return None
    return int((given or 0) + (produced or 0))


def summary_tokens(summary: Mapping[str, Any]) -> int | None:
    """Total tokens of a run summary (or one of its step rows): input plus output."""
    for nested in ("totals", "usage"):
        inner = summary.get(nested)
        if isinstance(inner, Mapping):
            found = _tokens_of(inner)
            if found is not None:
                return found
    tokens = summary.get("tokens")
    if isinstance(tokens, Mapping):
        return _tokens_of(tokens)
    number = as_number(tokens)
    if number is not None:
        return int(number)
    return _tokens_of(summary)


def summary_cost(summary: Mapping[str, Any]) -> float | None:
    """Total cost (USD) of a run summary (or one of its step rows)."""
    for nested in ("totals", "usage"):
        inner = summary.get(nested)
        if isinstance(inner, Mapping):
            found = as_number(pick(inner, "cost_usd", "cost"))
            if found is not None:
                return found
    return as_number(pick(summary, "cost_usd", "cost"))


def summary_git_log(summary: Mapping[str, Any]) -> list[str]:
    """The workspace's git log of a summary, as ``sha subject`` lines."""
    log = pick(summary, "git_log", "commits")
    workspace = summary.get("workspace")
    if log is None and isinstance(workspace, Mapping):
        log = pick(workspace, "git_log", "commits", "log")
    if log is None:
        return []
    if isinstance(log, str):
        return [line for line in log.splitlines() if line.strip()]
    lines = []
    for entry in log:
        if isinstance(entry, Mapping):
            sha = str(pick(entry, "short_sha", "sha", "commit", "hash", default=""))[:8]
            subject = str(pick(entry, "subject", "message", "title", default=""))
            lines.append(f"{sha} {one_line(subject, 80)}".strip())
        else:
            lines.append(str(entry))
    return lines


def summary_workspace(summary: Mapping[str, Any]) -> str | None:
    """The workspace path of a summary."""
    workspace = pick(summary, "workspace", "workspace_path")
    if isinstance(workspace, Mapping):
        workspace = pick(workspace, "path", "dir")
    return str(workspace) if workspace else None


def summary_actor(step: Mapping[str, Any]) -> str:
    """``agent aria``, ``tool echo``, ``gate`` … for a summary step row."""
    kind = str(pick(step, "kind", default=""))
    name = pick(step, "name", "agent", "tool")
    if kind in ("agent", "tool") and name:
        return f"{kind} {name}"
    return kind or str(name or "")


def _summary_steps_table(steps: Sequence[Mapping[str, Any]]) -> Table:
    """The steps of a summary; model, tokens, cost and output only when some step has one."""
    rows = []
    for step in steps:
        tokens = summary_tokens(step)
        cost = summary_cost(step)
        error = step.get("error")
        output = summarize_output(step.get("output"), 40)
        if isinstance(error, Mapping) and error.get("message"):
            output = one_line(str(error["message"]), 40)
        rows.append(
            {
                "step": str(pick(step, "key", "step_key", default="?")),
                "agent/tool": summary_actor(step),
                "model": str(pick(step, "model", default="")),
                "status": str(pick(step, "status", default="")),
                "try": str(pick(step, "attempts", "attempt", default="")),
                "duration": fmt_duration(as_number(pick(step, "duration_s", "duration"))),
                "tokens": str(tokens) if tokens else "",
                "cost": fmt_cost(cost) if cost else "",
                "output": output,
            }
        )
    optional = ("model", "tokens", "cost", "output")
    columns = [c for c in rows[0] if c not in optional or any(r[c] for r in rows)] if rows else []
    table = Table(show_edge=False)
    for column in columns:
        right = column in ("try", "duration", "tokens", "cost")
        if column == "output":
            table.add_column(column, overflow="ellipsis", no_wrap=True, max_width=40)
        else:
            table.add_column(column, no_wrap=True, justify="right" if right else "left")
    for row in rows:
        table.add_row(*(styled(row[c]) if c == "status" else row[c] for c in columns))
    return table


def _tests_text(tests: Any) -> str | None:
    if not isinstance(tests, Mapping) or not tests:
        return None
    order = ("passed", "failed", "errors", "skipped", "total")
    parts = [f"{tests[name]} {name}" for name in order if tests.get(name) is not None]
    parts += [f"{v} {k}" for k, v in tests.items() if k not in order and as_number(v) is not None]
    return ", ".join(parts) or None


def render_summary(summary: Mapping[str, Any]) -> RenderableType:
    """The end-of-run summary: status, steps, tokens, cost, tests, workspace and git log."""
    status = str(summary.get("status", ""))
    header = Text.assemble(
        ("run ", "dim"),
        (str(summary.get("run_id", "")), "bold"),
        f"  {summary['plan']}  " if summary.get("plan") else "  ",
        (status, STATUS_STYLES.get(status, "")),
    )
    parts: list[RenderableType] = [header]
    steps = summary.get("steps")
    if isinstance(steps, Sequence) and steps:
        parts.append(_summary_steps_table([s for s in steps if isinstance(s, Mapping)]))
    totals = Table.grid(padding=(0, 2))
    totals.add_column(style="dim", no_wrap=True)
    totals.add_column()
    duration = as_number(pick(summary, "duration_s", "duration"))
    if duration is not None:
        totals.add_row("duration", fmt_duration(duration))
    tokens = summary_tokens(summary)
    totals.add_row("tokens", str(tokens) if tokens is not None else "-")
    totals.add_row("cost", fmt_cost(summary_cost(summary)))
    tests = _tests_text(summary.get("tests"))
    if tests:
        totals.add_row("tests", tests)
    error = summary.get("error")
    if isinstance(error, Mapping) and error:
        totals.add_row("error", Text(one_line(str(error.get("message", error)), 200), style="red"))
    elif error:
        totals.add_row("error", Text(one_line(str(error), 200), style="red"))
    parent = summary.get("parent_run_id")
    if parent:
        origin = summary.get("forked_from_step")
        totals.add_row("parent", f"{parent} (from step {origin})" if origin else str(parent))
    workspace = summary_workspace(summary)
    totals.add_row("workspace", workspace or "-")
    parts.append(totals)
    alerts = summary.get("alerts")
    if isinstance(alerts, Sequence) and alerts:
        parts.extend(alert_lines([a for a in alerts if isinstance(a, Mapping)]))
    log = summary_git_log(summary)
    if log:
        parts.append(Text("git log", style="dim"))
        parts.extend(Text(f"  {line}") for line in log[:20])
        if len(log) > 20:
            parts.append(Text(f"  … {len(log) - 20} more", style="dim"))
    return Group(*parts)


# status and doctor ------------------------------------------------------------
def agents_table(agents: Sequence[Mapping[str, Any]]) -> Table:
    """``nexus status``: one row per agent: state, current step and track record."""
    table = Table(title="agents", title_justify="left")
    for column in ("agent", "name", "role", "model", "state", "current step"):
        table.add_column(column, no_wrap=True)
    table.add_column("steps", justify="right")
    table.add_column("success", justify="right")
    table.add_column("cost", justify="right")
    for agent in agents:
        live = agent.get("status")
        live = live if isinstance(live, Mapping) else agent
        stats = agent.get("stats")
        stats = stats if isinstance(stats, Mapping) else {}
        state = str(pick(live, "state", default=""))
        rate = as_number(stats.get("success_rate"))
        cost = as_number(stats.get("total_cost_usd"))
        table.add_row(
            str(pick(agent, "id", "agent_id", default="")),
            str(pick(agent, "name", default="")),
            str(pick(agent, "role", default="")),
            str(pick(agent, "model", default="")),
            Text(state, style={"idle": "dim", "processing": "cyan", "error": "red"}.get(state, "")),
            str(pick(live, "current_step", default="")),
            str(stats.get("steps", "")),
            f"{rate:.0%}" if rate is not None else "-",
            fmt_cost(cost) if cost else "-",
        )
    return table


def doctor_table(checks: Mapping[str, Mapping[str, Any]], essential: set[str]) -> Table:
    """``nexus doctor``: one row per check with ok / FAIL and its detail."""
    table = Table(title="doctor", title_justify="left")
    table.add_column("check", no_wrap=True)
    table.add_column("result", no_wrap=True)
    table.add_column("detail")
    for name, check in checks.items():
        ok = bool(check.get("ok"))
        mark = Text("ok", style="green") if ok else Text("FAIL", style="bold red")
        if not ok and name not in essential:
            mark = Text("warn", style="yellow")
        table.add_row(name, mark, str(check.get("detail", "")))
    return table
