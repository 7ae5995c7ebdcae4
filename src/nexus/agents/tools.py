"""Agent tools (A8) and the toolbox that runs them for one agent step.

Built-in tools:

==================  ==========================================================
``list_files``      the workspace's files, recursively
``read_file``       a text file with line numbers, optionally a line range
``write_file``      create or overwrite a file
``edit_file``       replace an exact snippet that occurs exactly once
``search``          regular-expression search, answers ``file:line: text``
``run``             a shell command in the workspace (sandboxed, with a timeout)
``run_tests``       pytest with structured counts and the failure report
``send_message``    an A4 message to another agent (a ``message.sent`` event)
``write_scratchpad`` / ``read_scratchpad``   notes under ``scratchpads/``
``remember`` / ``recall``   the agent's memory across runs
==================  ==========================================================

Paths are confined to the workspace. A tool that fails, gets bad arguments or
is not allowed answers the model with an error result (``is_error``); the step
itself goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from nexus.agents._exec_tools import EXEC_TOOLS
from nexus.agents._file_tools import FILE_TOOLS
from nexus.agents._team_tools import TEAM_TOOLS
from nexus.agents._toolkit import AgentTool, ToolContext, ToolFn, ToolReply
from nexus.domain.messages import ToolCall, ToolResult, ToolSpec
from nexus.errors import ConfigError, NexusError

__all__ = [
    "BUILTIN_TOOLS",
    "TOOL_NAMES",
    "AgentTool",
    "ToolContext",
    "ToolFn",
    "ToolOutcome",
    "ToolReply",
    "Toolbox",
    "truncate_arguments",
]

log = logging.getLogger(__name__)

BUILTIN_TOOLS: dict[str, AgentTool] = {t.name: t for t in (*FILE_TOOLS, *EXEC_TOOLS, *TEAM_TOOLS)}
TOOL_NAMES: tuple[str, ...] = tuple(BUILTIN_TOOLS)

#: the longest tool result handed back to the model
MAX_RESULT_CHARS = 20_000
_ARG_PREVIEW = 200


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """What one tool call produced: the result for the model, and what the event log shows."""

    result: ToolResult
    tool: str
    arguments: dict[str, Any]
    ok: bool
    summary: str


def truncate_arguments(arguments: dict[str, Any], limit: int = _ARG_PREVIEW) -> dict[str, Any]:
    """A copy of tool arguments with long strings shortened, for events and logs."""

    def cut(value: Any) -> Any:
        if isinstance(value, str) and len(value) > limit:
            return value[:limit] + f"… [{len(value) - limit} more chars]"
        if isinstance(value, dict):
            return {k: cut(v) for k, v in value.items()}
        if isinstance(value, list):
            return [cut(v) for v in value[:20]]
        return value

    return {k: cut(v) for k, v in arguments.items()}


class Toolbox:
    """The tools one agent may use in one step, bound to that step's :class:`ToolContext`."""

    def __init__(
        self,
        allowed: Iterable[str],
        ctx: ToolContext,
        extra_tools: Iterable[AgentTool] = (),
    ) -> None:
        catalog = {**BUILTIN_TOOLS, **{t.name: t for t in extra_tools}}
        self.ctx = ctx
        self.tools: dict[str, AgentTool] = {}
        for name in allowed:
            tool = catalog.get(name)
            if tool is None:
                raise ConfigError(f"unknown tool '{name}'; known tools: {', '.join(catalog)}")
            self.tools[name] = tool
        self._validators = {
            name: Draft202012Validator(tool.parameters) for name, tool in self.tools.items()
        }

    @property
    def names(self) -> list[str]:
        return list(self.tools)

    @property
    def specs(self) -> tuple[ToolSpec, ...]:
        return tuple(tool.spec for tool in self.tools.values())

    async def call(self, call: ToolCall) -> ToolOutcome:
        """Run one tool call; any failure becomes an error result for the model."""
        arguments = dict(call.arguments)
        tool = self.tools.get(call.name)
        if tool is None:
            allowed = ", ".join(self.tools) or "none"
            return self._error(
                call, arguments, f"tool '{call.name}' is not available to you (allowed: {allowed})"
            )
        problems = [
            f"{e.json_path}: {e.message}"
            for e in sorted(
                self._validators[call.name].iter_errors(arguments),
                key=lambda e: list(e.absolute_path),
            )
        ]
        if problems:
            return self._error(
                call, arguments, f"invalid arguments for {call.name}: " + "; ".join(problems)
            )
        try:
            reply = await tool.fn(self.ctx, arguments)
        except NexusError as exc:
            return self._error(call, arguments, f"{call.name} failed: {exc.message}")
        except (OSError, ValueError) as exc:
            log.info("tool %s raised %r", call.name, exc)
            return self._error(call, arguments, f"{call.name} failed: {exc}")
        if isinstance(reply, str):
            reply = ToolReply(reply)
        content = reply.content
        if len(content) > MAX_RESULT_CHARS:
            cut = len(content) - MAX_RESULT_CHARS
            content = content[:MAX_RESULT_CHARS] + f"\n[… {cut} more characters not shown …]"
        summary = reply.summary
        if not summary and content:
            summary = content.splitlines()[0][:120]
        return ToolOutcome(
            result=ToolResult(tool_call_id=call.id, content=content),
            tool=call.name,
            arguments=arguments,
            ok=True,
            summary=summary,
        )

    def _error(self, call: ToolCall, arguments: dict[str, Any], message: str) -> ToolOutcome:
        return ToolOutcome(
            result=ToolResult(tool_call_id=call.id, content=f"error: {message}", is_error=True),
            tool=call.name,
            arguments=arguments,
            ok=False,
            summary=message[:240],
        )
