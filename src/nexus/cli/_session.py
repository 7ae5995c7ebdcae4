"""What every command shares: exit codes, consoles, JSON output, and error handling.

A command body is an ``async`` function of an open :class:`~nexus.runtime.Nexus`
that returns an exit code; :func:`run_with_nexus` opens the facade from
:class:`~nexus.settings.Settings`, runs the body with ``asyncio.run`` and turns
expected errors into one clear ``error:`` line on stderr and an exit code:

====  ==========================================================
0     success; a run that succeeded
1     a run that failed or was cancelled; a runtime error
2     bad usage: a bad argument, an invalid plan, an unknown run …
3     the run waits for input (answer with ``nexus runs answer``)
130   interrupted with Ctrl-C (the run can be resumed)
====  ==========================================================
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from enum import IntEnum
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from nexus.cli._format import dumps
from nexus.domain.runs import RunStatus
from nexus.errors import ConfigError, NexusError, PlanError, UserError
from nexus.settings import Settings

if TYPE_CHECKING:
    from nexus.runtime import Nexus


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    USAGE = 2
    WAITING_INPUT = 3
    INTERRUPTED = 130


def exit_code_for(status: RunStatus | str) -> ExitCode:
    """The exit code of a command that ends with a run in ``status``."""
    status = RunStatus(status)
    if status is RunStatus.SUCCEEDED:
        return ExitCode.OK
    if status is RunStatus.WAITING_INPUT:
        return ExitCode.WAITING_INPUT
    if status in (RunStatus.CREATED, RunStatus.RUNNING):
        # the command stopped before the run finished (it runs elsewhere or was not started)
        return ExitCode.OK
    return ExitCode.FAILED


#: the width of tables when stdout is not a terminal (CI logs, pipes) and COLUMNS is unset
PLAIN_WIDTH = 120


def out_console() -> Console:
    """A console on the current stdout (looked up at call time, so tests can capture it)."""
    console = Console(file=sys.stdout, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PLAIN_WIDTH
    return console


def err_console() -> Console:
    """A console on the current stderr; long lines are not broken (``soft_wrap``)."""
    return Console(file=sys.stderr, highlight=False, soft_wrap=True)


def print_json(value: Any) -> None:
    """Print one JSON document on stdout, unstyled."""
    sys.stdout.write(dumps(value) + "\n")
    sys.stdout.flush()


def report_error(exc: NexusError, *, json_output: bool = False) -> None:
    """Print an expected error: one red ``error:`` line on stderr (plus plan problems)."""
    console = err_console()
    console.print(Text.assemble(("error: ", "bold red"), exc.message))
    if isinstance(exc, PlanError):
        for problem in exc.problems:
            console.print(Text(f"  - {problem}"))
    if json_output:
        print_json({"error": exc.to_dict()})


def fail(message: str, code: ExitCode = ExitCode.USAGE) -> NoReturn:
    """Stop the command with an ``error:`` line and an exit code."""
    err_console().print(Text.assemble(("error: ", "bold red"), message))
    raise typer.Exit(int(code))


@contextmanager
def handle_errors(*, json_output: bool = False) -> Iterator[None]:
    """Turn expected errors into a message and an exit code (no traceback).

    User mistakes (:class:`~nexus.errors.UserError`) exit 2, other Nexus errors
    exit 1, Ctrl-C exits 130.
    """
    try:
        yield
    except UserError as exc:
        report_error(exc, json_output=json_output)
        raise typer.Exit(int(ExitCode.USAGE)) from None
    except NexusError as exc:
        report_error(exc, json_output=json_output)
        raise typer.Exit(int(ExitCode.FAILED)) from None
    except KeyboardInterrupt:
        raise typer.Exit(int(ExitCode.INTERRUPTED)) from None


def load_settings() -> Settings:
    """Settings from the environment and ``.env``; a bad value is a :class:`ConfigError`."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"NEXUS_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None


async def _with_nexus(body: Callable[[Nexus], Awaitable[int]]) -> int:
    settings = load_settings()
    from nexus.runtime import Nexus  # imported on use: ``--help`` and ``version`` stay fast

    nx = await Nexus.open(settings)
    try:
        return await body(nx)
    finally:
        await nx.close()


def run_with_nexus(
    body: Callable[[Nexus], Awaitable[int]], *, json_output: bool = False
) -> NoReturn:
    """Open the facade, run ``body`` in a fresh event loop, exit with its code."""
    with handle_errors(json_output=json_output):
        code = asyncio.run(_with_nexus(body))
    raise typer.Exit(int(code))
