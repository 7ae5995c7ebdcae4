"""The step handler contract (E8): a registry of handlers, each ``match`` + ``run``.

A handler gets a plain :class:`StepContext` and returns a :class:`StepResult`,
or raises a :class:`~nexus.errors.StepError`. It holds no reference to the
engine: what it may use (models, agents, workspace, store) comes in
``ctx.services``, and live events leave through ``ctx.emit``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from nexus.errors import ConfigError

EmitFn = Callable[[str, dict[str, Any]], None]


def _no_emit(event_type: str, data: dict[str, Any]) -> None:
    return None


@dataclass(slots=True)
class StepContext:
    """Everything a handler needs to run one attempt of one step.

    ``params`` are the node's parameters with every expression already resolved:
    for a tool node its ``with`` mapping, for an agent node
    ``{"agent", "prompt", "tools", "max_turns", "model"}``.
    """

    run_id: str
    step_key: str
    kind: str
    name: str
    params: dict[str, Any]
    inputs: Mapping[str, Any]
    attempt: int = 1
    correlation_id: str = ""
    workspace: str | None = None
    timeout: float | None = None
    previous_error: dict[str, Any] | None = None
    emit: EmitFn = _no_emit
    services: Any = None  # nexus.runtime.Services in-process; rebuilt on a remote worker


@dataclass(slots=True)
class StepResult:
    """What a handler returns. ``meta`` carries model, usage, confidence … for the journal."""

    output: Any = None
    meta: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class StepHandler(Protocol):
    """A step handler. ``name`` is what plans write after ``tool:``; ``agent`` runs agent nodes."""

    name: str
    description: str
    #: JSON Schema of ``params`` (a tool node's ``with``); checked when a plan is validated
    params_schema: dict[str, Any]

    def match(self, kind: str, name: str) -> bool: ...

    async def run(self, ctx: StepContext) -> StepResult: ...


class BaseHandler:
    """Convenience base: matches ``tool`` nodes whose ``tool:`` equals ``name``."""

    name: str = ""
    description: str = ""
    params_schema: dict[str, Any] = {"type": "object"}  # noqa: RUF012

    def match(self, kind: str, name: str) -> bool:
        return kind == "tool" and name == self.name

    async def run(self, ctx: StepContext) -> StepResult:  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.run")


class HandlerRegistry:
    """Handlers by name; the first registered handler whose ``match`` accepts a node wins."""

    def __init__(self, handlers: list[StepHandler] | None = None) -> None:
        self._handlers: list[StepHandler] = []
        self._by_name: dict[str, StepHandler] = {}
        for handler in handlers or []:
            self.register(handler)

    def register(self, handler: StepHandler) -> None:
        self._handlers.append(handler)
        self._by_name.setdefault(handler.name, handler)

    def find(self, kind: str, name: str) -> StepHandler | None:
        handler = self._by_name.get(name)
        if handler is not None and handler.match(kind, name):
            return handler
        for handler in self._handlers:
            if handler.match(kind, name):
                return handler
        return None

    def get(self, kind: str, name: str) -> StepHandler:
        handler = self.find(kind, name)
        if handler is None:
            raise ConfigError(f"no handler for {kind} '{name}'", kind=kind, name=name)
        return handler

    def names(self) -> list[str]:
        return [h.name for h in self._handlers]

    def __iter__(self) -> Any:
        return iter(self._handlers)
