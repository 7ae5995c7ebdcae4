"""Services, workspaces and step contexts for agent tests."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nexus.agents.registry import AgentRegistry
from nexus.handlers.agent import AgentHandler
from nexus.handlers.base import HandlerRegistry, StepContext
from nexus.handlers.builtin import builtin_handlers
from nexus.providers.registry import ModelRegistry, default_registry
from nexus.services import Services
from nexus.settings import Settings
from nexus.store.memory import MemoryStore

Events = list[tuple[str, dict[str, Any]]]


def git_init(path: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=path, check=True, timeout=30)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "ws"
    path.mkdir()
    git_init(path)
    return path


def _services(models: ModelRegistry | None = None) -> Services:
    return Services(
        settings=Settings(),
        store=MemoryStore(),
        handlers=HandlerRegistry([*builtin_handlers(), AgentHandler()]),
        models=models if models is not None else default_registry(Settings()),
        agents=AgentRegistry.from_team(),
    )


MakeServices = Callable[..., Services]


@pytest.fixture
def make_services() -> MakeServices:
    """Real services (memory store, built-in handlers, the software team) around ``models``
    (default: the default registry with the offline provider)."""
    return _services


MakeCtx = Callable[..., StepContext]


@pytest.fixture
def events() -> Events:
    return []


@pytest.fixture
def make_ctx(workspace: Path, events: Events) -> MakeCtx:
    def make(
        services: Services,
        agent: str,
        *,
        step: str = "implement",
        prompt: str = "Do the work.",
        task: str | None = "A task",
        tools: list[str] | None = None,
        max_turns: int | None = None,
        model: str | None = None,
        attempt: int = 1,
        previous_error: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        workspace_dir: Path | None = None,
        timeout: float | None = None,
    ) -> StepContext:
        params: dict[str, Any] = {
            "agent": agent,
            "prompt": prompt,
            "tools": tools,
            "max_turns": max_turns,
            "model": model,
            **(extra or {}),
        }
        return StepContext(
            run_id="run1",
            step_key=step,
            kind="agent",
            name="agent",
            params=params,
            inputs={"task": task, **(inputs or {})},
            attempt=attempt,
            correlation_id="corr1",
            workspace=str(workspace_dir or workspace),
            timeout=timeout,
            previous_error=previous_error,
            emit=lambda type_, data: events.append((type_, data)),
            services=services,
        )

    return make
