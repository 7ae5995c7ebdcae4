"""The ``nexus`` command line (I1): run plans with live progress, inspect and steer runs.

Human output (Rich tables) by default, ``--json`` on every command that prints
data. Exit codes: 0 success, 1 run failed or cancelled, 2 bad usage or invalid
plan, 3 run waiting for input, 130 interrupted (see :mod:`nexus.cli._session`).
"""

from __future__ import annotations

import platform
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

import nexus
from nexus.cli import plans, router_cmd, runs, serve_cmd, tenancy_cmd
from nexus.cli._args import is_plan_reference, parse_assignments, plan_path
from nexus.cli._drive import drive_run
from nexus.cli._session import ExitCode, handle_errors, out_console, print_json, run_with_nexus
from nexus.cli.render import agents_table, doctor_table, run_to_dict, runs_table
from nexus.domain.runs import RunStatus

if TYPE_CHECKING:
    from nexus.runtime import Nexus

app = typer.Typer(
    name="nexus",
    help="Nexus: a durable control plane for teams of LLM agents that do software work.\n\n"
    "Exit codes: 0 success, 1 run failed or cancelled, 2 bad usage or invalid plan, "
    "3 run waiting for input, 130 interrupted.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(runs.app, name="runs")
app.add_typer(plans.app, name="plan")
app.add_typer(router_cmd.app, name="router")
app.command("serve")(serve_cmd.serve)
app.add_typer(tenancy_cmd.tenants_app, name="tenants")
app.add_typer(tenancy_cmd.keys_app, name="keys")
app.add_typer(tenancy_cmd.audit_app, name="audit")

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]

#: doctor checks whose failure makes ``nexus doctor`` exit 1 (unless a check says otherwise)
ESSENTIAL_CHECKS = frozenset({"store", "workspace", "workspaces", "git"})


@app.command("run")
def run(
    target: Annotated[
        str,
        typer.Argument(
            metavar="PLAN_FILE|TASK",
            help="A plan file (.yaml/.yml/.json), or a task in words for the software team.",
        ),
    ],
    input_: Annotated[
        list[str] | None,
        typer.Option("--input", "-i", help="A plan input KEY=VALUE (JSON or text); repeatable."),
    ] = None,
    workspace: Annotated[
        Path | None,
        typer.Option("--workspace", "-w", file_okay=False, help="Work in this directory."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Run a plan, or hand a task to the built-in software team, with live progress.

    Exit 0 if the run succeeded, 1 if it failed or was cancelled, 3 if it waits for
    input (answer with ``nexus runs answer``), 2 for bad usage or an invalid plan.
    """
    with handle_errors(json_output=json_output):
        inputs = parse_assignments(input_ or [], "--input")
        path = plan_path(target) if is_plan_reference(target) else None

    async def body(nx: Nexus) -> int:
        if path is not None:
            plan = nx.load_plan(path)
            run_inputs = inputs
        else:
            plan = nx.builtin_plan("software")
            run_inputs = {**inputs, "task": target}
        record = await nx.start_run(
            plan,
            run_inputs,
            workspace=workspace,
            plan_dir=path.parent if path is not None else None,
        )
        if not json_output:
            out_console().print(
                Text.assemble(
                    ("run ", "dim"),
                    (record.run_id, "bold"),
                    f"  plan {record.plan_name}",
                    f"  workspace {record.workspace}" if record.workspace else "",
                )
            )
        return await drive_run(
            nx, record, lambda: nx.execute(record.run_id), json_output=json_output
        )

    run_with_nexus(body, json_output=json_output)


@app.command("status")
def status(json_output: JsonOption = False) -> None:
    """Agents and their state, and the runs in progress (running or waiting for input)."""

    async def body(nx: Nexus) -> int:
        agents = nx.agent_status()
        active = await nx.list_runs(status=RunStatus.RUNNING, limit=100)
        active += await nx.list_runs(status=RunStatus.WAITING_INPUT, limit=100)
        if json_output:
            print_json({"agents": agents, "runs": [run_to_dict(r) for r in active]})
            return 0
        console = out_console()
        console.print(agents_table(agents))
        if active:
            table = runs_table(active)
            table.title = f"{len(active)} run(s) in progress"
            console.print(table)
        else:
            console.print(Text("no runs in progress", style="dim"))
        return 0

    run_with_nexus(body, json_output=json_output)


def essential_checks(checks: dict[str, Any]) -> set[str]:
    """The doctor checks that must pass: those marked ``essential`` or named in
    :data:`ESSENTIAL_CHECKS` (providers and pytest are advisory)."""
    essential = set()
    for name, check in checks.items():
        flag = check.get("essential") if isinstance(check, dict) else None
        if flag is True or (flag is None and name.split(".")[0] in ESSENTIAL_CHECKS):
            essential.add(name)
    return essential


@app.command("doctor")
def doctor(json_output: JsonOption = False) -> None:
    """Check the store, the workspace directory, git, pytest and the model providers.

    Exit 1 if an essential check (store, workspace, git) fails.
    """

    async def body(nx: Nexus) -> int:
        checks = await nx.doctor()
        essential = essential_checks(checks)
        failed = sorted(n for n in essential if not checks[n].get("ok"))
        if json_output:
            print_json({"ok": not failed, "failed": failed, "checks": checks})
        else:
            console = out_console()
            console.print(doctor_table(checks, essential))
            if failed:
                console.print(Text(f"essential checks failed: {', '.join(failed)}", style="red"))
        return int(ExitCode.FAILED if failed else ExitCode.OK)

    run_with_nexus(body, json_output=json_output)


@app.command("version")
def version(json_output: JsonOption = False) -> None:
    """Print the Nexus version."""
    if json_output:
        print_json({"version": nexus.__version__, "python": platform.python_version()})
    else:
        out_console().print(f"nexus {nexus.__version__} (python {platform.python_version()})")


def main() -> None:
    """Entry point of the ``nexus`` script."""
    app()


if __name__ == "__main__":
    main()
