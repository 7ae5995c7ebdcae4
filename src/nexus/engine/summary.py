"""The end-of-run summary: steps, durations, tokens, cost, tests, workspace and git log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nexus.domain.runs import RunRecord, StepRecord


def _usage(step: StepRecord) -> dict[str, Any]:
    usage = step.meta.get("usage") or {}
    return usage if isinstance(usage, dict) else {}


def _tests_of(step: StepRecord) -> dict[str, Any] | None:
    out = step.output
    if not isinstance(out, dict):
        return None
    tests = out.get("tests")
    if isinstance(tests, dict) and "passed" in tests:
        return tests
    if "passed" in out and "failed" in out and "total" in out:
        return out
    return None


def _brief(value: Any, limit: int = 160) -> str:
    if value is None:
        return ""
    if isinstance(value, dict) and "text" in value and isinstance(value["text"], str):
        text = value["text"]
    else:
        text = str(value)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def step_row(step: StepRecord) -> dict[str, Any]:
    usage = _usage(step)
    return {
        "key": step.step_key,
        "kind": step.kind,
        "name": step.meta.get("name") or step.meta.get("agent"),
        "status": step.status.value,
        "attempts": step.attempt,
        "duration_s": round(step.duration, 4) if step.duration is not None else None,
        "model": step.meta.get("model"),
        "route_reason": step.meta.get("route_reason"),
        "input_tokens": int(usage.get("input_tokens", 0)),
        "output_tokens": int(usage.get("output_tokens", 0)),
        "cost_usd": float(step.meta.get("cost_usd", usage.get("cost_usd", 0.0)) or 0.0),
        "commit": step.meta.get("commit"),
        "output": _brief(step.output),
        "error": step.error,
    }


async def build_summary(
    run: RunRecord,
    steps: list[StepRecord],
    children: list[RunRecord],
    alerts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """``alerts``: the run's alert events (``nexus.analytics.alerts.read_alerts``)."""
    rows = [step_row(s) for s in sorted(steps, key=lambda s: (s.started_at or 0, s.step_key))]
    tests = None
    for step in sorted(steps, key=lambda s: s.finished_at or 0):
        found = _tests_of(step)
        if found is not None:
            tests = {k: found.get(k) for k in ("passed", "failed", "errors", "skipped", "total")}
    git_log: list[dict[str, Any]] = []
    if run.workspace and Path(run.workspace, ".git").exists():
        from nexus.workspace.git import GitWorkspace

        git_log = await GitWorkspace(run.workspace).log(limit=30)
    finished = run.finished_at or run.updated_at
    return {
        "run_id": run.run_id,
        "plan": run.plan_name,
        "status": run.status.value,
        "correlation_id": run.correlation_id,
        "parent_run_id": run.parent_run_id,
        "forked_from_step": run.forked_from_step,
        "children": [c.run_id for c in children],
        "created_at": run.created_at,
        "duration_s": round(finished - run.created_at, 3),
        "error": run.error,
        "steps": rows,
        "totals": {
            "steps": len(rows),
            "succeeded": sum(1 for r in rows if r["status"] == "succeeded"),
            "failed": sum(1 for r in rows if r["status"] == "failed"),
            "input_tokens": sum(r["input_tokens"] for r in rows),
            "output_tokens": sum(r["output_tokens"] for r in rows),
            "cost_usd": round(sum(r["cost_usd"] for r in rows), 6),
        },
        "tests": tests,
        "alerts": list(alerts or []),
        "workspace": run.workspace,
        "git_log": git_log,
    }
