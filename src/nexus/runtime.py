"""The Nexus facade: one object that owns the store, the engine, the models and the team.

The CLI, the API server and the Python SDK all go through it::

    async with await Nexus.open() as nx:
        plan = nx.load_plan("examples/slugify/plan.yaml")
        run = await nx.start_run(plan, {"task": "..."})
        run = await nx.execute(run.run_id)
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from nexus.domain.plan import Plan
from nexus.domain.runs import Checkpoint, Event, RunRecord, RunStatus, StepRecord, new_id
from nexus.engine import forking
from nexus.engine.inputs import resolve_inputs
from nexus.engine.plan_loader import load_plan_file
from nexus.engine.scheduler import Engine
from nexus.engine.summary import build_summary
from nexus.engine.validation import ensure_valid
from nexus.errors import ConfigError, InvalidStateError
from nexus.services import Services
from nexus.settings import Settings
from nexus.store.base import RunStore

EventListener = Callable[[Event], None]

_FILE_KINDS = ("agent", "tool")
BUILTIN_TEAM = "builtin:software"


def _needs_workspace(plan: Plan) -> bool:
    def walk(nodes: Mapping[str, Any]) -> bool:
        from nexus.domain.plan import node_children

        for node in nodes.values():
            if node.kind in _FILE_KINDS:
                return True
            children = node_children(node)
            if children and walk(children):
                return True
        return False

    return plan.workspace is not None or walk(plan.steps)


class Nexus:
    """Facade. Create with ``await Nexus.open(settings)``; use as an async context manager."""

    def __init__(self, settings: Settings, services: Services, engine: Engine) -> None:
        self.settings = settings
        self.services = services
        self.engine = engine
        self.store = services.store
        self._teams: set[str] = set()

    @classmethod
    async def open(
        cls, settings: Settings | None = None, *, store: RunStore | None = None
    ) -> Nexus:
        """Open the store (``store``, or the one of ``settings.store_url``) and wire the engine."""
        from nexus.agents.definition import load_team
        from nexus.agents.registry import AgentRegistry
        from nexus.budgets import Budgets
        from nexus.handlers.agent import AgentHandler
        from nexus.handlers.base import HandlerRegistry
        from nexus.handlers.builtin import builtin_handlers
        from nexus.providers.registry import default_registry
        from nexus.store.factory import open_store

        settings = settings or Settings()
        store = store if store is not None else open_store(settings.store_url)
        await store.open()
        handlers = HandlerRegistry([*builtin_handlers(), AgentHandler()])
        agents = AgentRegistry(load_team(BUILTIN_TEAM, None))
        services = Services(
            settings=settings,
            store=store,
            handlers=handlers,
            models=default_registry(settings),
            agents=agents,
            budgets=Budgets.open(settings.home),
        )
        engine = Engine(
            store,
            services,
            max_concurrency=settings.max_concurrency,
            lease_ttl_s=settings.lease_ttl_s,
        )
        engine.bus.subscribe(services.budgets.on_event)
        return cls(settings, services, engine)

    async def close(self) -> None:
        await self.engine.drain()
        await self.store.close()
        if self.services.budgets is not None:
            self.services.budgets.close()

    async def __aenter__(self) -> Nexus:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # plans ------------------------------------------------------------------
    def team_ref(self, plan: Plan, plan_dir: str | Path | None = None) -> str | None:
        """The plan's team as an absolute reference, or None for the built-in team."""
        if not plan.team or plan.team == BUILTIN_TEAM:
            return None
        if plan.team.startswith("builtin:"):
            return plan.team
        path = Path(plan.team).expanduser()
        if not path.is_absolute():
            path = Path(plan_dir or Path.cwd()) / path
        return str(path.resolve())

    def use_team(self, ref: str | None) -> None:
        """Register a team's agents (a plan's ``team:``) next to the built-in ones."""
        if ref is None or ref in self._teams:
            return
        from nexus.agents.definition import load_team

        self.services.agents.register(*load_team(ref, None).values())
        self._teams.add(ref)

    def validate(self, plan: Plan, plan_dir: str | Path | None = None) -> None:
        self.use_team(self.team_ref(plan, plan_dir))
        ensure_valid(plan, self.services.handlers, self.services.agents.ids())
        if self.services.budgets is not None:
            self.services.budgets.check_plan(plan)  # fan-out caps

    def load_plan(self, path: str | Path) -> Plan:
        """Parse and validate a YAML/JSON plan file (raises PlanError/NotFoundError)."""
        plan = load_plan_file(path)
        self.validate(plan, Path(path).resolve().parent)
        return plan

    def builtin_plan(self, name: str = "software") -> Plan:
        source = resources.files("nexus.agents").joinpath("builtin", f"{name}_plan.yaml")
        if not source.is_file():
            raise ConfigError(f"no built-in plan '{name}'")
        plan = load_plan_file(Path(str(source)))
        self.validate(plan)
        return plan

    # runs -------------------------------------------------------------------
    async def _prepare_workspace(
        self, plan: Plan, run_id: str, workspace: str | Path | None, plan_dir: Path | None
    ) -> str | None:
        from nexus.workspace.git import GitWorkspace

        if workspace is None and not _needs_workspace(plan):
            return None
        target = (
            Path(workspace) if workspace is not None else (self.settings.workspaces_dir / run_id)
        )
        target = target.expanduser().resolve()
        seed = plan.workspace.seed if plan.workspace is not None else None
        if seed:
            seed_dir = (plan_dir or Path.cwd()) / seed
            if not seed_dir.is_dir():
                raise ConfigError(
                    f"workspace seed '{seed_dir}' of plan '{plan.name}' is not a directory"
                )
            fresh = not target.exists() or not any(target.iterdir())
            if fresh:
                ws = GitWorkspace(target)
                await ws.ensure()
                shutil.copytree(
                    seed_dir,
                    target,
                    dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"),
                )
                await ws.commit_all("workspace: seed from plan")
                return str(target)
        await GitWorkspace(target).ensure()
        return str(target)

    async def start_run(
        self,
        plan: Plan,
        inputs: Mapping[str, Any] | None = None,
        *,
        workspace: str | Path | None = None,
        plan_dir: str | Path | None = None,
        tenant_id: str = "default",
    ) -> RunRecord:
        """Validate inputs, create the run (status created) and its workspace. Does not execute.

        Everything that can fail on bad input fails before anything is stored."""
        base = Path(plan_dir).resolve() if plan_dir is not None else None
        self.validate(plan, base)
        values = resolve_inputs(plan, inputs or {})  # fails before anything is stored
        if base is not None and (base / "cassettes").is_dir():
            values["_cassette_dirs"] = [str(base / "cassettes")]
        run_id = new_id()
        path = await self._prepare_workspace(plan, run_id, workspace, base)
        team = self.team_ref(plan, base)
        return await self.engine.create_run(
            plan,
            values,
            workspace=path,
            run_id=run_id,
            options={"team": team} if team else None,
            tenant_id=tenant_id,
        )

    async def _prepare_run(self, run_id: str) -> None:
        run = await self.store.get_run(run_id)
        self.use_team(run.options.get("team"))

    async def execute(self, run_id: str) -> RunRecord:
        """Run (or continue) a run until it succeeds, fails, is cancelled or waits for input."""
        await self._prepare_run(run_id)
        return await self.engine.execute(run_id)

    async def resume(self, run_id: str) -> RunRecord:
        """Continue an interrupted or waiting run; takes over the lease of a dead process."""
        run = await self.store.get_run(run_id)
        if run.status.finished:
            raise InvalidStateError(
                f"run '{run_id}' already {run.status.value}; fork it to run parts again"
            )
        self.use_team(run.options.get("team"))
        return await self.engine.execute(run_id, takeover=True)

    async def cancel(self, run_id: str) -> RunRecord:
        return await self.engine.cancel(run_id)

    async def answer(self, run_id: str, step_key: str, value: Any) -> RunRecord:
        """Record the answer to a waiting human step; the caller then calls execute()."""
        return await self.engine.answer(run_id, step_key, value)

    async def checkpoint(self, run_id: str, label: str | None = None) -> Checkpoint:
        from nexus.workspace.git import GitWorkspace

        run = await self.store.get_run(run_id)
        steps = await self.store.get_steps(run_id)
        commit = None
        if run.workspace and Path(run.workspace).exists():
            commit = await GitWorkspace(run.workspace).head()
        state = {
            "run_status": run.status.value,
            "steps": [forking.step_to_dict(s) for s in steps if s.status.finished],
            "workspace": run.workspace,
            "workspace_commit": commit,
            "sessions": run.options.get("sessions", {}),
        }
        cp = Checkpoint(new_id("cp-"), run_id, time.time(), label, state)
        await self.store.save_checkpoint(cp)
        return cp

    async def restore(self, checkpoint_id: str) -> RunRecord:
        """A new run (not executed yet) in the state of the checkpoint."""
        cp = await self.store.get_checkpoint(checkpoint_id)
        source = await self.store.get_run(cp.run_id)
        new_run_id = new_id()
        workspace = None
        if cp.state.get("workspace"):
            target = self.settings.workspaces_dir / new_run_id
            await forking.clone_workspace(
                cp.state["workspace"], target, cp.state.get("workspace_commit")
            )
            workspace = str(target)
        run = await self.engine.create_run(
            self.engine.plan_of(source),
            source.inputs,
            workspace=workspace,
            parent_run_id=source.run_id,
            plan_dict=source.plan,
            run_id=new_run_id,
            tenant_id=source.tenant_id,
            options={"restored_from": checkpoint_id, "team": source.options.get("team")},
        )
        for data in cp.state.get("steps", []):
            step = forking.step_from_dict(data)
            if step.status.value in ("succeeded", "skipped"):
                await self.store.save_step(forking.copy_step(step, run.run_id))
        return run

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
        parent = await self.store.get_run(run_id)
        plan = self.engine.plan_of(parent)
        steps = await self.store.get_steps(run_id)
        keep = forking.steps_to_keep(plan, steps, from_step)
        inputs = dict(parent.inputs)
        if set_inputs:
            public = {k: v for k, v in inputs.items() if not k.startswith("_")}
            public.update(set_inputs)
            resolved = resolve_inputs(plan, public)
            inputs.update(resolved)
        new_run_id = new_id()
        workspace = None
        if parent.workspace:
            target = self.settings.workspaces_dir / new_run_id
            await forking.clone_workspace(
                parent.workspace, target, forking.fork_commit(steps, from_step)
            )
            workspace = str(target)
        options: dict[str, Any] = {"forked_from": run_id}
        if parent.options.get("team"):
            options["team"] = parent.options["team"]
        if replay:
            options["replay_from"] = run_id
        child = await self.engine.create_run(
            plan,
            inputs,
            workspace=workspace,
            parent_run_id=run_id,
            forked_from_step=from_step,
            options=options,
            tenant_id=parent.tenant_id,
            plan_dict=parent.plan,
            run_id=new_run_id,
        )
        for step in keep:
            await self.store.save_step(forking.copy_step(step, child.run_id))
        return child

    async def get_run(self, run_id: str) -> RunRecord:
        return await self.store.get_run(run_id)

    async def list_runs(
        self, *, status: RunStatus | None = None, limit: int = 50, offset: int = 0
    ) -> list[RunRecord]:
        return await self.store.list_runs(status=status, limit=limit, offset=offset)

    async def get_steps(self, run_id: str) -> list[StepRecord]:
        await self.store.get_run(run_id)  # NotFoundError for an unknown id
        return await self.store.get_steps(run_id)

    async def read_events(self, run_id: str, after_seq: int = 0, limit: int = 1000) -> list[Event]:
        await self.store.get_run(run_id)
        return await self.store.read_events(run_id, after_seq=after_seq, limit=limit)

    async def children_of(self, run_id: str) -> list[RunRecord]:
        runs = await self.store.list_runs(limit=1000)
        return [r for r in runs if r.parent_run_id == run_id]

    async def run_summary(self, run_id: str) -> dict[str, Any]:
        """Steps, durations, tokens, cost, test counts, workspace path and its git log."""
        run = await self.store.get_run(run_id)
        steps = await self.store.get_steps(run_id)
        children = await self.children_of(run_id)
        alerts = await self.run_alerts(run_id)
        return await build_summary(run, steps, children, alerts=alerts)

    async def run_alerts(self, run_id: str) -> list[dict[str, Any]]:
        """The run's alerts: cost anomalies and refused calls (``nexus.analytics.alerts``)."""
        from nexus.analytics.alerts import read_alerts

        return await read_alerts(self.store, run_id)

    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        """Live events of runs executing in this process; returns an unsubscribe function."""
        return self.engine.bus.subscribe(listener)

    async def doctor(self) -> dict[str, Any]:
        """Checks of the store, workspace dir, git, pytest and providers."""
        from nexus.engine.doctor import run_checks

        return await run_checks(self.settings, self.services)

    def agent_status(self) -> list[dict[str, Any]]:
        status: list[dict[str, Any]] = self.services.agents.status()
        return status
