"""``nexus runs …``: list, inspect, follow and steer runs (E2, E6)."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from nexus.cli._args import parse_assignments
from nexus.cli._drive import drive_run
from nexus.cli._format import jsonable
from nexus.cli._session import handle_errors, out_console, print_json, run_with_nexus
from nexus.cli.progress import plan_actors
from nexus.cli.render import (
    checkpoint_to_dict,
    event_line,
    run_detail,
    run_to_dict,
    runs_table,
    step_to_dict,
)
from nexus.domain.runs import Event, RunRecord, RunStatus

if TYPE_CHECKING:
    from nexus.runtime import Nexus

app = typer.Typer(help="List, inspect and steer runs.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
RunIdArg = Annotated[str, typer.Argument(help="The run id.")]

FOLLOW_INTERVAL_S = 0.5
_PAGE = 500


async def child_runs(nx: Nexus, run_id: str) -> list[RunRecord]:
    """The runs whose parent is ``run_id`` (forks and restores), oldest first."""
    children: list[RunRecord] = []
    offset = 0
    while True:
        page = await nx.list_runs(limit=_PAGE, offset=offset)
        children.extend(r for r in page if r.parent_run_id == run_id)
        if len(page) < _PAGE:
            break
        offset += _PAGE
    return sorted(children, key=lambda r: r.created_at)


@app.command("list")
def list_runs(
    status: Annotated[
        RunStatus | None, typer.Option("--status", "-s", help="Only runs in this status.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most N runs.")] = 20,
    json_output: JsonOption = False,
) -> None:
    """List runs, newest first."""

    async def body(nx: Nexus) -> int:
        runs = await nx.list_runs(status=status, limit=limit)
        if json_output:
            print_json([run_to_dict(r) for r in runs])
        else:
            out_console().print(runs_table(runs))
        return 0

    run_with_nexus(body, json_output=json_output)


@app.command("show")
def show(run_id: RunIdArg, json_output: JsonOption = False) -> None:
    """Show a run: status, parent and children, and each step with its output."""

    async def body(nx: Nexus) -> int:
        run = await nx.get_run(run_id)
        steps = await nx.get_steps(run_id)
        children = await child_runs(nx, run_id)
        actors = plan_actors(run.plan)
        alerts = await nx.run_alerts(run_id)
        if json_output:
            data = run_to_dict(run)
            data["children"] = [
                {"run_id": c.run_id, "status": c.status, "forked_from_step": c.forked_from_step}
                for c in children
            ]
            data["steps"] = [step_to_dict(s, actors.get(s.step_key, "")) for s in steps]
            data["alerts"] = alerts
            print_json(data)
        else:
            out_console().print(run_detail(run, steps, children, actors, alerts))
        return 0

    run_with_nexus(body, json_output=json_output)


async def _print_events(nx: Nexus, run_id: str, after: int, *, json_lines: bool) -> int:
    """Print the events after seq ``after`` (as text or JSON lines); return the last seq."""
    console = out_console()
    while True:
        events = await nx.read_events(run_id, after_seq=after)
        for event in events:
            if json_lines:
                print_json_line(event)
            else:
                console.print(event_line(event), soft_wrap=True)
            after = event.seq
        if not events:
            return after


def print_json_line(event: Event) -> None:
    """One event as one line of JSON (``--follow --json``)."""
    sys.stdout.write(json.dumps(jsonable(event.to_dict()), ensure_ascii=False) + "\n")
    sys.stdout.flush()


@app.command("logs")
def logs(
    run_id: RunIdArg,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new events until the run ends.")
    ] = False,
    json_output: Annotated[
        bool,
        typer.Option("--json", help="Print JSON: a list of events, or one per line with --follow."),
    ] = False,
) -> None:
    """Print a run's event log: seq, time, type, step, correlation id and data."""

    async def body(nx: Nexus) -> int:
        run = await nx.get_run(run_id)
        if json_output and not follow:
            events: list[Event] = []
            while batch := await nx.read_events(run_id, after_seq=events[-1].seq if events else 0):
                events.extend(batch)
            print_json([e.to_dict() for e in events])
            return 0
        after = await _print_events(nx, run_id, 0, json_lines=json_output)
        while follow and not run.status.finished:
            await asyncio.sleep(FOLLOW_INTERVAL_S)
            run = await nx.get_run(run_id)
            after = await _print_events(nx, run_id, after, json_lines=json_output)
        return 0

    run_with_nexus(body, json_output=json_output)


@app.command("cancel")
def cancel(run_id: RunIdArg, json_output: JsonOption = False) -> None:
    """Cancel a run; running steps are stopped."""

    async def body(nx: Nexus) -> int:
        run = await nx.cancel(run_id)
        if json_output:
            print_json(run_to_dict(run))
        else:
            out_console().print(Text(f"run {run.run_id} {run.status}"))
        return 0

    run_with_nexus(body, json_output=json_output)


@app.command("resume")
def resume(run_id: RunIdArg, json_output: JsonOption = False) -> None:
    """Continue an interrupted or waiting run, with live progress (a finished run: exit 2)."""

    async def body(nx: Nexus) -> int:
        run = await nx.get_run(run_id)
        return await drive_run(nx, run, lambda: nx.resume(run_id), json_output=json_output)

    run_with_nexus(body, json_output=json_output)


@app.command("answer")
def answer(
    run_id: RunIdArg,
    value: Annotated[str, typer.Argument(help="The answer (taken as text).")],
    step: Annotated[str, typer.Option("--step", help="The key of the waiting step.")],
    json_output: JsonOption = False,
) -> None:
    """Answer the question of a waiting step, then continue the run with live progress."""

    async def body(nx: Nexus) -> int:
        run = await nx.answer(run_id, step, value)
        return await drive_run(nx, run, lambda: nx.execute(run_id), json_output=json_output)

    run_with_nexus(body, json_output=json_output)


@app.command("checkpoint")
def checkpoint(
    run_id: RunIdArg,
    label: Annotated[str | None, typer.Option("--label", "-l", help="A label.")] = None,
    json_output: JsonOption = False,
) -> None:
    """Snapshot a run (steps, sessions, workspace commit); print the checkpoint id."""

    async def body(nx: Nexus) -> int:
        cp = await nx.checkpoint(run_id, label)
        if json_output:
            print_json(checkpoint_to_dict(cp))
        else:
            out_console().print(Text(cp.checkpoint_id))
        return 0

    run_with_nexus(body, json_output=json_output)


@app.command("restore")
def restore(
    checkpoint_id: Annotated[str, typer.Argument(help="The checkpoint id.")],
    execute: Annotated[
        bool, typer.Option("--run", help="Execute the restored run now, with live progress.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Create a new run in the state of a checkpoint; print its id (``--run`` executes it)."""

    async def body(nx: Nexus) -> int:
        run = await nx.restore(checkpoint_id)
        if execute:
            _announce(run, "restored", json_output)
            return await drive_run(nx, run, lambda: nx.execute(run.run_id), json_output=json_output)
        if json_output:
            print_json(run_to_dict(run))
        else:
            out_console().print(Text(run.run_id))
            out_console().print(
                Text(f"execute it with: nexus runs resume {run.run_id}", style="dim")
            )
        return 0

    run_with_nexus(body, json_output=json_output)


@app.command("fork")
def fork(
    run_id: RunIdArg,
    from_step: Annotated[
        str, typer.Option("--from", help="Re-run this step and what depends on it.")
    ],
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Change an input: KEY=VALUE (JSON or text); repeatable."),
    ] = None,
    replay: Annotated[
        bool, typer.Option("--replay", help="Re-use recorded model outputs (zero cost).")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Fork a run from a step into a child run, execute it and print the child's id."""
    with handle_errors(json_output=json_output):
        changes = parse_assignments(set_ or [], "--set")

    async def body(nx: Nexus) -> int:
        child = await nx.fork(run_id, from_step, set_inputs=changes or None, replay=replay)
        _announce(child, f"forked from {run_id} at step {from_step}", json_output)
        return await drive_run(nx, child, lambda: nx.execute(child.run_id), json_output=json_output)

    run_with_nexus(body, json_output=json_output)


def _announce(run: RunRecord, what: str, json_output: bool) -> None:
    if not json_output:
        out_console().print(Text.assemble(("run ", "dim"), (run.run_id, "bold"), f" {what}"))
