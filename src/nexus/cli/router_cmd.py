"""``nexus router …``: ask the router why it would choose a model, and what it learned (M4)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any

import typer
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from nexus.cli._session import handle_errors, load_settings, out_console, print_json
from nexus.errors import ConfigError

app = typer.Typer(help="Explain routing decisions and show what the router learned.")

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
_MODES = ("speed", "quality", "cost", "balance")
_NODE_COLUMNS = ("task_fit", "quality", "speed", "cost", "history", "confidence")


def _features_line(features: Mapping[str, Any]) -> str:
    tools = "tools" if features.get("needs_tools") else "no tools"
    return (
        f"{features['task_type']} · complexity {features['complexity']:.2f}"
        f" ({features['level']}) · {tools} · ~{features['context_tokens']} tokens"
    )


def explain_view(report: Mapping[str, Any]) -> RenderableType:
    """The human form of :meth:`nexus.routing.Router.explain`."""
    info = Table.grid(padding=(0, 2))
    info.add_column(style="dim", no_wrap=True)
    info.add_column()
    if report.get("task"):
        info.add_row("task", str(report["task"]))
    info.add_row("features", _features_line(report["features"]))
    info.add_row(
        "asked",
        f"role {report['role']} · mode {report['mode']} · strategy {report['strategy']}",
    )
    weights = report["weights"]
    info.add_row("weights", " · ".join(f"{k} {v:g}" for k, v in weights.items()))
    info.add_row("rule", report.get("rule_description") or "none matched")
    for note in report.get("notes") or ():
        info.add_row("", Text(note, style="yellow"))
    info.add_row("chosen", Text(str(report["model"]), style="bold green"))
    info.add_row("reason", str(report["reason"]))

    table = Table(show_edge=False, title="candidates, best first", title_justify="left")
    table.add_column("model", no_wrap=True)
    for column in _NODE_COLUMNS:
        table.add_column(column, justify="right")
    table.add_column("total", justify="right", style="bold")
    table.add_column("outcomes", justify="right")
    thompson = any("thompson_share" in row for row in report["candidates"])
    if thompson:
        table.add_column("draws won", justify="right")
    for row in report["candidates"]:
        name = Text(row["model"], style="green" if row["model"] == report["model"] else "")
        cells: list[str | Text] = [name]
        cells += [f"{row[column]:.3f}" for column in _NODE_COLUMNS]
        cells += [f"{row['total']:.3f}", f"{row['outcomes']:g}"]
        if thompson:
            cells.append(f"{row.get('thompson_share', 0.0):.0%}")
        table.add_row(*cells)
    parts: list[RenderableType] = [info, Text(""), table]
    excluded = report.get("excluded") or []
    if excluded:
        parts.append(Text("left out", style="dim"))
        parts.extend(Text(f"  {item['model']}: {item['why']}", style="dim") for item in excluded)
    return Group(*parts)


def arms_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """One row per (role, task type, model) the router has outcomes for."""
    table = Table(show_edge=False, title=f"{len(rows)} learned arm(s)", title_justify="left")
    for column in ("role", "task type", "model"):
        table.add_column(column, no_wrap=True)
    for column in ("outcomes", "verified", "mean cost", "mean duration", "proven"):
        table.add_column(column, justify="right", no_wrap=True)
    for row in rows:
        n = float(row["n"]) or 1.0
        table.add_row(
            str(row["role"]),
            str(row["task_type"]),
            str(row["model"]),
            f"{row['n']:g}",
            f"{row['success_rate']:.0%}",
            f"${row['cost_usd'] / n:.4f}",
            f"{row['latency_s'] / n:.1f}s",
            "yes" if row["proven"] else "",
        )
    return table


@app.command("explain")
def explain(
    task: Annotated[str, typer.Argument(help="The task, in words.")],
    role: Annotated[str, typer.Option("--role", "-r", help="The agent's role.")] = "developer",
    mode: Annotated[
        str, typer.Option("--mode", "-m", help="Priority mode: speed, quality, cost or balance.")
    ] = "balance",
    candidate: Annotated[
        list[str] | None,
        typer.Option("--candidate", "-c", help="Only this model (repeatable)."),
    ] = None,
    available: Annotated[
        bool,
        typer.Option(
            "--available", help="Only the models router:auto may use (configured providers)."
        ),
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Show how the router would route TASK: its features, the rule that fired, every
    candidate's node scores, the chosen model and the reason."""
    from nexus.routing import Router
    from nexus.routing.provider import provider_configured

    with handle_errors(json_output=json_output):
        if mode not in _MODES:
            raise ConfigError(f"unknown priority mode '{mode}'; known: {', '.join(_MODES)}")
        router = Router.open(load_settings().home)
        try:
            candidates: Sequence[str] | None = candidate or None
            if available and candidates is None:
                candidates = router.candidates_where(
                    lambda m: provider_configured(m.partition(":")[0])
                )
            report = router.explain(task, role, mode, candidates)
        finally:
            router.close()
        if json_output:
            print_json(report)
        else:
            out_console().print(explain_view(report))


@app.command("stats")
def stats(
    role: Annotated[str | None, typer.Option("--role", "-r", help="Only this role.")] = None,
    json_output: JsonOption = False,
) -> None:
    """What the router learned from verified outcomes, per role, task type and model."""
    from nexus.routing import Router

    with handle_errors(json_output=json_output):
        router = Router.open(load_settings().home)
        try:
            rows = router.arms(role)
        finally:
            router.close()
        if json_output:
            print_json({"arms": rows})
        elif rows:
            out_console().print(arms_table(rows))
        else:
            out_console().print(Text("no verified outcomes recorded yet", style="dim"))
