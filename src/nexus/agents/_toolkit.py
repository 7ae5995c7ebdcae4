"""The pieces every agent tool is made of: its context, its definition, its reply."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexus.domain.messages import ToolSpec
from nexus.errors import ToolError
from nexus.handlers.base import EmitFn, HandlerRegistry
from nexus.workspace.paths import relative_to_root, resolve_inside

__all__ = ["AgentTool", "ToolContext", "ToolFn", "ToolReply"]


def _no_emit(event_type: str, data: dict[str, Any]) -> None:
    return None


@dataclass(slots=True)
class ToolContext:
    """What a tool may touch during one agent step.

    ``workspace``: the run's workspace (all paths are confined to it).
    ``home``: NEXUS_HOME, where agent memory lives. ``handlers``: the handler
    registry, to reuse the ``shell`` and ``pytest`` handlers. ``timeout``: an
    upper bound in seconds for commands (the step's timeout). ``known_agents``:
    valid ``send_message`` recipients, when known. ``last_tests`` is set by
    ``run_tests`` to its structured result.
    """

    agent_id: str
    workspace: Path | None = None
    run_id: str = ""
    step_key: str = ""
    correlation_id: str = ""
    emit: EmitFn = _no_emit
    home: Path | None = None
    handlers: HandlerRegistry | None = None
    timeout: float | None = None
    known_agents: tuple[str, ...] | None = None
    last_tests: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def root(self) -> Path:
        """The workspace root; a ToolError when the step has no workspace."""
        if self.workspace is None:
            raise ToolError(f"this step ('{self.step_key}') has no workspace to work in")
        if not self.workspace.is_dir():
            raise ToolError(f"the workspace {self.workspace} does not exist")
        return self.workspace

    def path(self, relative: str) -> Path:
        """``relative`` resolved inside the workspace (escapes are a ToolError)."""
        return resolve_inside(self.root(), relative)

    def rel(self, path: Path) -> str:
        """``path`` relative to the workspace root, for messages to the model."""
        return relative_to_root(self.root(), path)


@dataclass(frozen=True, slots=True)
class ToolReply:
    """A tool's answer: ``content`` goes to the model, ``summary`` into the event log."""

    content: str
    summary: str = ""


ToolFn = Callable[[ToolContext, dict[str, Any]], Awaitable[ToolReply | str]]


@dataclass(frozen=True, slots=True)
class AgentTool:
    """A tool an agent can call: name, description, JSON Schema of its arguments, function."""

    name: str
    description: str
    parameters: dict[str, Any]
    fn: ToolFn

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(name=self.name, description=self.description, parameters=self.parameters)


def schema(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """An object schema with no additional properties."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }
