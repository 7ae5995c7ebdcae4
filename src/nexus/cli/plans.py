"""``nexus plan …``: check a plan file without running it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text
from rich.tree import Tree

from nexus.cli._args import plan_path
from nexus.cli._session import (
    ExitCode,
    err_console,
    handle_errors,
    out_console,
    print_json,
    run_with_nexus,
)
from nexus.cli.progress import node_actor, plan_steps
from nexus.domain.plan import Plan
from nexus.errors import PlanError

if TYPE_CHECKING:
    from nexus.runtime import Nexus

app = typer.Typer(help="Check plans.", no_args_is_help=True)

_GROUPS = ("loop", "parallel", "sequence")


def outline(plan: Plan) -> list[dict[str, Any]]:
    """The steps of a plan as a nested list: key, kind/actor, needs, sub-steps."""

    def walk(steps: Mapping[str, Any]) -> list[dict[str, Any]]:
        result = []
        for key, node in steps.items():
            entry: dict[str, Any] = {
                "key": key,
                "kind": node.get("kind") or node_actor(node).split(" ")[0],
                "actor": node_actor(node),
                "needs": list(node.get("needs") or []),
            }
            for group in _GROUPS:
                spec = node.get(group)
                if isinstance(spec, Mapping) and isinstance(spec.get("steps"), Mapping):
                    entry["steps"] = walk(spec["steps"])
            result.append(entry)
        return result

    return walk(plan_steps(plan))


def outline_tree(plan: Plan) -> Tree:
    """The outline as a Rich tree: ``key  actor  needs: …``."""
    root = Tree(Text.assemble((plan.name, "bold"), f"  ({len(plan.steps)} top-level steps)"))

    def add(parent: Tree, entries: list[dict[str, Any]]) -> None:
        for entry in entries:
            label = Text.assemble((entry["key"], "bold"), "  ", (entry["actor"], "cyan"))
            if entry["needs"]:
                label.append(f"  needs: {', '.join(entry['needs'])}", style="dim")
            branch = parent.add(label)
            add(branch, entry.get("steps", []))

    add(root, outline(plan))
    return root


@app.command("validate")
def validate(
    file: Annotated[str, typer.Argument(help="The plan file (YAML or JSON).")],
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Validate a plan: print every problem with the step it is in (exit 1), or its outline."""
    with handle_errors(json_output=json_output):
        path = plan_path(file)

    async def body(nx: Nexus) -> int:
        return _validate(nx, path, json_output)

    run_with_nexus(body, json_output=json_output)


def _validate(nx: Nexus, path: Path, json_output: bool) -> int:
    try:
        plan = nx.load_plan(path)
    except PlanError as exc:
        if json_output:
            print_json({"valid": False, "file": str(path), **exc.to_dict()})
        else:
            console = err_console()
            console.print(Text.assemble(("invalid plan ", "bold red"), str(path)))
            if exc.message:
                console.print(Text(f"  {exc.message}"))
            for problem in exc.problems:
                console.print(Text(f"  - {problem}"))
        return int(ExitCode.FAILED)
    if json_output:
        print_json({"valid": True, "file": str(path), "name": plan.name, "steps": outline(plan)})
    else:
        console = out_console()
        console.print(Text.assemble(("valid ", "bold green"), str(path)))
        console.print(outline_tree(plan))
    return int(ExitCode.OK)
