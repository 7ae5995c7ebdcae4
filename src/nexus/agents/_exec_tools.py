"""Tools that run things in the workspace: ``run`` (a shell command) and ``run_tests`` (pytest).

Both go through the step handlers of the same name (``shell`` and ``pytest``),
so agents get exactly the sandbox, timeouts and structured results that plans
get. A command that fails or times out is an answer for the model, not a crash.
"""

from __future__ import annotations

from typing import Any

from nexus.agents._toolkit import AgentTool, ToolContext, ToolReply, schema
from nexus.errors import StepTimeout, ToolError
from nexus.handlers.base import StepContext, StepHandler
from nexus.handlers.common import truncate_tail
from nexus.handlers.pytest_runner import PytestHandler
from nexus.handlers.shell import ShellHandler

__all__ = ["EXEC_TOOLS"]

DEFAULT_RUN_TIMEOUT = 60.0
MAX_RUN_TIMEOUT = 600.0
DEFAULT_TEST_TIMEOUT = 300.0
MAX_COMMAND_OUTPUT = 8000


def _handler(ctx: ToolContext, name: str, fallback: type[StepHandler]) -> StepHandler:
    if ctx.handlers is not None:
        found = ctx.handlers.find("tool", name)
        if found is not None:
            return found
    return fallback()


def _sub_context(ctx: ToolContext, name: str, params: dict[str, Any]) -> StepContext:
    return StepContext(
        run_id=ctx.run_id,
        step_key=ctx.step_key,
        kind="tool",
        name=name,
        params=params,
        inputs={},
        correlation_id=ctx.correlation_id,
        workspace=str(ctx.root()),
        timeout=ctx.timeout,
    )


async def run(ctx: ToolContext, args: dict[str, Any]) -> ToolReply:
    command = str(args["command"])
    timeout = min(float(args.get("timeout_s") or DEFAULT_RUN_TIMEOUT), MAX_RUN_TIMEOUT)
    handler = _handler(ctx, "shell", ShellHandler)
    params = {"command": command, "timeout": timeout, "check": False}
    try:
        result = await handler.run(_sub_context(ctx, "shell", params))
    except StepTimeout as exc:
        raise ToolError(f"the command timed out after {timeout:g}s and was killed") from exc
    out = result.output
    stdout, _ = truncate_tail(out.get("stdout", ""), MAX_COMMAND_OUTPUT)
    stderr, _ = truncate_tail(out.get("stderr", ""), MAX_COMMAND_OUTPUT)
    code = out.get("exit_code")
    parts = [f"exit code {code} in {out.get('duration_s', 0.0):.2f}s"]
    if stdout.strip():
        parts.append("--- stdout ---\n" + stdout.rstrip())
    if stderr.strip():
        parts.append("--- stderr ---\n" + stderr.rstrip())
    short = command if len(command) <= 60 else command[:59] + "…"
    return ToolReply("\n".join(parts), f"ran '{short}': exit code {code}")


async def run_tests(ctx: ToolContext, args: dict[str, Any]) -> ToolReply:
    params: dict[str, Any] = {"args": [str(a) for a in args.get("args") or []]}
    params["timeout"] = float(args.get("timeout_s") or DEFAULT_TEST_TIMEOUT)
    if args.get("path"):
        params["args"].append(ctx.rel(ctx.path(str(args["path"]))))
    handler = _handler(ctx, "pytest", PytestHandler)
    try:
        result = await handler.run(_sub_context(ctx, "pytest", params))
    except StepTimeout as exc:
        raise ToolError(f"the tests timed out: {exc.message}") from exc
    tests = dict(result.output)
    ctx.last_tests = tests
    summary = (
        f"tests: {tests.get('passed', 0)} passed, {tests.get('failed', 0)} failed,"
        f" {tests.get('errors', 0)} errors"
    )
    return ToolReply(str(tests.get("report", summary)), summary)


EXEC_TOOLS: tuple[AgentTool, ...] = (
    AgentTool(
        "run",
        "Run a shell command in the workspace root (sandboxed, no secrets, with a timeout)."
        " Answers the exit code, stdout and stderr.",
        schema(
            {
                "command": {"type": "string", "minLength": 1},
                "timeout_s": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_RUN_TIMEOUT},
            },
            ("command",),
        ),
        run,
    ),
    AgentTool(
        "run_tests",
        "Run the workspace's tests with pytest. Answers the counts of passed, failed, errors"
        " and skipped tests, and each failure's assertion.",
        schema(
            {
                "path": {"type": "string", "description": "A test file or directory to run."},
                "args": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "Extra pytest arguments, e.g. ['-k', 'slug'].",
                },
                "timeout_s": {"type": "number", "exclusiveMinimum": 0},
            }
        ),
        run_tests,
    ),
)
