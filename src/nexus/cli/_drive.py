"""Executing a run from the CLI: live progress, questions for a human, the final summary.

``nexus run``, ``runs resume``, ``runs answer`` and ``runs fork`` all end here:
:func:`drive_run` subscribes to the run's events, shows them (a live table on a
terminal, one line per step event otherwise, nothing with ``--json``), awaits the
facade call that executes the run, asks the questions of a run that waits for
input when stdin is a terminal, and prints the summary.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.live import Live
from rich.prompt import Prompt
from rich.text import Text

from nexus.cli._session import ExitCode, err_console, exit_code_for, out_console, print_json
from nexus.cli.progress import PlainProgress, RunProgress
from nexus.cli.render import render_summary
from nexus.domain.runs import Event, RunRecord, RunStatus, StepRecord, StepStatus

if TYPE_CHECKING:
    from nexus.runtime import Nexus

_ITERATION = re.compile(r"\[\d+\]$")


@dataclass(frozen=True, slots=True)
class Question:
    """What a step that waits for input asks."""

    step_key: str
    question: str
    options: tuple[str, ...] | None = None
    default: str | None = None

    def to_dict(self, run_id: str) -> dict[str, Any]:
        return {
            "step": self.step_key,
            "question": self.question,
            "options": list(self.options) if self.options else None,
            "default": self.default,
            "answer_with": answer_command(run_id, self.step_key),
        }


def answer_command(run_id: str, step_key: str) -> str:
    return f"nexus runs answer {run_id} --step {step_key} VALUE"


def find_node(plan: Mapping[str, Any], step_key: str) -> Mapping[str, Any] | None:
    """The node dict of ``step_key`` (``a``, ``group/b``, ``loop[2]/c``) in a plan dict."""
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
                node[group].get("steps")
                for group in ("loop", "parallel", "sequence")
                if isinstance(node.get(group), Mapping)
            ),
            None,
        )
    return node if isinstance(node, Mapping) else None


def _question_of(run: RunRecord, step: StepRecord) -> Question:
    info: dict[str, Any] = {}
    node = find_node(run.plan, step.step_key)
    if node is not None:
        info.update(question=node.get("human"), options=node.get("options"))
        info.update(default=node.get("default"))
    # resolved values recorded by the engine win over the plan's templates
    for source in (step.input, step.meta, step.output):
        if isinstance(source, Mapping):
            for name in ("question", "options", "default"):
                if source.get(name) is not None:
                    info[name] = source[name]
            if info.get("question") is None and isinstance(source.get("human"), str):
                info["question"] = source["human"]
    options = info.get("options")
    if isinstance(options, str) or not isinstance(options, Sequence):
        options = ()
    default = info.get("default")
    return Question(
        step_key=step.step_key,
        question=str(info.get("question") or f"input for step {step.step_key}"),
        options=tuple(str(o) for o in options) or None,
        default=str(default) if default is not None else None,
    )


def pending_questions(run: RunRecord, steps: Sequence[StepRecord]) -> list[Question]:
    """The questions of the steps of ``run`` that wait for input."""
    return [_question_of(run, s) for s in steps if s.status == StepStatus.WAITING_INPUT]


def ask(question: Question, console: Console, stream: TextIO | None = None) -> str:
    """Ask one question on the terminal; the options, if any, are the only valid answers."""
    prompt = Text.assemble(
        ("? ", "bold magenta"), (question.step_key, "bold"), ": ", question.question
    )
    choices = list(question.options) if question.options else None
    if question.default is None:
        return Prompt.ask(prompt, console=console, choices=choices, stream=stream)
    return Prompt.ask(
        prompt, console=console, choices=choices, default=question.default, stream=stream
    )


class _Display:
    """The progress shown while a run executes; can pause for a prompt."""

    def __init__(self, run: RunRecord, console: Console, *, json_output: bool) -> None:
        self.live: Live | None = None
        self.feed: Callable[[Event], None] | None = None
        if json_output:
            return
        if console.is_terminal:
            progress = RunProgress(run.run_id, plan=run.plan, title=run.plan_name)
            self.feed = progress.handle
            self.live = Live(
                console=console,
                get_renderable=progress.render,
                refresh_per_second=4,
                transient=True,
            )
        else:
            plain = PlainProgress(run.run_id, _write_line, plan=run.plan)
            self.feed = plain.handle

    def __call__(self, event: Event) -> None:
        if self.feed is not None:
            self.feed(event)

    def showing(self) -> AbstractContextManager[Any]:
        return self.live if self.live is not None else nullcontext()


def _write_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def drive_run(
    nx: Nexus,
    run: RunRecord,
    action: Callable[[], Awaitable[RunRecord]],
    *,
    json_output: bool = False,
    interactive: bool | None = None,
) -> int:
    """Execute ``run`` through ``action`` with live progress; return the exit code.

    ``interactive`` (default: stdin is a terminal and no ``--json``) lets the
    command ask the questions of a run that waits for input and continue it.
    """
    console = out_console()
    if interactive is None:
        interactive = sys.stdin.isatty() and not json_output
    display = _Display(run, console, json_output=json_output)
    unsubscribe = nx.subscribe(display)
    try:
        with display.showing():
            run = await action()
        while run.status == RunStatus.WAITING_INPUT and interactive:
            questions = pending_questions(run, await nx.get_steps(run.run_id))
            if not questions:
                break
            try:
                answers = [(q.step_key, ask(q, console)) for q in questions]
            except (EOFError, KeyboardInterrupt):
                console.print()
                break
            for step_key, value in answers:
                await nx.answer(run.run_id, step_key, value)
            with display.showing():
                run = await nx.execute(run.run_id)
    except (KeyboardInterrupt, asyncio.CancelledError):
        err_console().print(
            Text(f"interrupted; continue with: nexus runs resume {run.run_id}", style="yellow")
        )
        raise
    finally:
        unsubscribe()
    return await finish_run(nx, run, json_output=json_output)


async def finish_run(nx: Nexus, run: RunRecord, *, json_output: bool = False) -> int:
    """Print the summary of ``run`` (and how to answer it if it waits); return the exit code."""
    summary = dict(await nx.run_summary(run.run_id))
    summary["run_id"] = run.run_id
    summary["status"] = str(run.status)
    questions: list[Question] = []
    if run.status == RunStatus.WAITING_INPUT:
        questions = pending_questions(run, await nx.get_steps(run.run_id))
        summary["waiting"] = [q.to_dict(run.run_id) for q in questions]
    if json_output:
        print_json(summary)
        return int(exit_code_for(run.status))
    console = out_console()
    console.print(render_summary(summary))
    for q in questions:
        options = f"  (options: {', '.join(q.options)})" if q.options else ""
        console.print(
            Text.assemble(
                ("waiting for input ", "bold magenta"),
                (q.step_key, "bold"),
                f": {q.question}{options}",
            )
        )
        console.print(Text(f"  answer with: {answer_command(run.run_id, q.step_key)}"))
    code = exit_code_for(run.status)
    if code == ExitCode.WAITING_INPUT and not questions:
        console.print(Text(f"run {run.run_id} waits for input", style="magenta"))
    return int(code)
