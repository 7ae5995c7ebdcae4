"""The Nexus facade: one object that owns the store, the engine, the models and the team.

The CLI, the API server and the Python SDK all go through it::

    async with Nexus.open() as nx:
        plan = nx.load_plan("examples/slugify/plan.yaml")
        run = await nx.start_run(plan, {"task": "..."})
        run = await nx.execute(run.run_id)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from nexus.domain.plan import Plan
from nexus.domain.runs import Checkpoint, Event, RunRecord, RunStatus, StepRecord
from nexus.settings import Settings

EventListener = Callable[[Event], None]


class Nexus:
    """Facade. Create with ``await Nexus.open(settings)`` (or ``async with``)."""

    settings: Settings

    @classmethod
    async def open(cls, settings: Settings | None = None) -> Nexus:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Nexus:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # plans ------------------------------------------------------------------
    def load_plan(self, path: str | Path) -> Plan:
        """Parse and validate a YAML/JSON plan file (raises PlanError/NotFoundError)."""
        raise NotImplementedError

    def builtin_plan(self, name: str = "software") -> Plan:
        raise NotImplementedError

    # runs -------------------------------------------------------------------
    async def start_run(
        self,
        plan: Plan,
        inputs: Mapping[str, Any] | None = None,
        *,
        workspace: str | Path | None = None,
        plan_dir: str | Path | None = None,
    ) -> RunRecord:
        """Validate inputs, create the run (status created) and its workspace. Does not execute."""
        raise NotImplementedError

    async def execute(self, run_id: str) -> RunRecord:
        """Run (or continue) a run until it succeeds, fails, is cancelled or waits for input."""
        raise NotImplementedError

    async def resume(self, run_id: str) -> RunRecord:
        """Continue a run that was interrupted (process killed) or is waiting; same as execute
        but takes over a stale lease."""
        raise NotImplementedError

    async def cancel(self, run_id: str) -> RunRecord:
        raise NotImplementedError

    async def answer(self, run_id: str, step_key: str, value: Any) -> RunRecord:
        """Record the answer to a waiting human step; the caller then calls execute()."""
        raise NotImplementedError

    async def checkpoint(self, run_id: str, label: str | None = None) -> Checkpoint:
        raise NotImplementedError

    async def restore(self, checkpoint_id: str) -> RunRecord:
        """A new run (not executed yet) in the state of the checkpoint."""
        raise NotImplementedError

    async def fork(
        self,
        run_id: str,
        from_step: str,
        *,
        set_inputs: Mapping[str, Any] | None = None,
        replay: bool = False,
    ) -> RunRecord:
        """A new child run (not executed yet): steps not downstream of ``from_step`` are copied;
        ``from_step`` and what depends on it run again (recorded model outputs re-used at zero
        cost when ``replay``)."""
        raise NotImplementedError

    async def get_run(self, run_id: str) -> RunRecord:
        raise NotImplementedError

    async def list_runs(
        self, *, status: RunStatus | None = None, limit: int = 50, offset: int = 0
    ) -> list[RunRecord]:
        raise NotImplementedError

    async def get_steps(self, run_id: str) -> list[StepRecord]:
        raise NotImplementedError

    async def read_events(self, run_id: str, after_seq: int = 0, limit: int = 1000) -> list[Event]:
        raise NotImplementedError

    async def run_summary(self, run_id: str) -> dict[str, Any]:
        """Steps, durations, tokens, cost, test counts, workspace path and its git log."""
        raise NotImplementedError

    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        """Live events of runs executing in this process; returns an unsubscribe function."""
        raise NotImplementedError

    async def doctor(self) -> dict[str, Any]:
        """Checks of the store, workspace dir, git, pytest and providers."""
        raise NotImplementedError

    def agent_status(self) -> list[dict[str, Any]]:
        raise NotImplementedError
