"""W1–W4 on Nexus: one configuration per process, one result line.

Each model step is a ``tool: fake_model`` node handled by :class:`FakeModelHandler`,
which calls the shared fake model once and returns ``{"reply": …}`` as the step's
output; the next step's prompt reads it with ``${{ steps.<prev>.output.reply }}``.
Runs go through the real engine (``Engine.create_run`` + ``Engine.execute``) on
the real stores: ``memory://`` in memory, a fresh SQLite file (the normal
durable store) otherwise. ``null`` runs the engine on a store that keeps
nothing (:mod:`_nullstore`): the engine's own cost, for analysis only.

Usage: ``python bench/workloads_nexus.py W2 --config sqlite [--runs N] [--dir D]
[--profile FILE.prof]``
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import (
    ROLES,
    STEPS_PER_RUN,
    W4_DELAY_S,
    WORKERS,
    FakeModel,
    Measurement,
    fresh_db_path,
    merge_prompt,
    prompt_for,
    remove_db,
    sqlite_bytes,
    worker_args,
)
from _nullstore import NullStore
from nexus.domain.plan import Plan
from nexus.domain.runs import RunRecord, RunStatus
from nexus.engine.plan_loader import parse_plan
from nexus.engine.scheduler import Engine
from nexus.handlers.base import BaseHandler, HandlerRegistry, StepContext, StepResult
from nexus.services import Services
from nexus.settings import Settings
from nexus.store.base import RunStore
from nexus.store.factory import open_store

FRAMEWORK = "nexus"
LABELS = {
    "sqlite": "durable SQLite store",
    "memory": "memory store",
    "null": "engine alone (null store)",
}
#: W4 starts every run at once: the engine must not queue them.
MAX_CONCURRENCY = 10_000


class FakeModelHandler(BaseHandler):
    """``tool: fake_model`` — asks the fake model ``with.prompt`` and returns its reply."""

    name = "fake_model"
    description = "Calls the benchmark's fake model once."
    params_schema = {  # noqa: RUF012
        "type": "object",
        "properties": {"prompt": {"type": "string"}},
        "required": ["prompt"],
        "additionalProperties": False,
    }

    def __init__(self, model: FakeModel) -> None:
        self.model = model

    async def run(self, ctx: StepContext) -> StepResult:
        return StepResult(output={"reply": await self.model.complete(ctx.params["prompt"])})


def _ref(step: str, path: str = "reply") -> str:
    return "${{ steps.%s.output.%s }}" % (step, path)  # noqa: UP031 - braces of the template


def pipeline_plan() -> dict[str, Any]:
    """coordinator → developer → test_creator → test_validator."""
    steps: dict[str, Any] = {}
    previous: str | None = None
    for role in ROLES:
        source = "${{ inputs.task }}" if previous is None else _ref(previous)
        node: dict[str, Any] = {"tool": "fake_model", "with": {"prompt": prompt_for(role, source)}}
        if previous is not None:
            node["needs"] = [previous]
        steps[role] = node
        previous = role
    return {
        "name": "bench-pipeline",
        "inputs": {"task": {"type": "string", "required": True}},
        "steps": steps,
    }


def fan_out_plan() -> dict[str, Any]:
    """planner → a parallel group of 8 workers → merge."""
    workers = {
        f"worker_{i}": {
            "tool": "fake_model",
            "with": {"prompt": prompt_for(f"worker {i}", _ref("planner"))},
        }
        for i in range(WORKERS)
    }
    replies = [_ref("work", f"worker_{i}.reply") for i in range(WORKERS)]
    return {
        "name": "bench-fan-out",
        "inputs": {"task": {"type": "string", "required": True}},
        "settings": {"max_concurrency": WORKERS},
        "steps": {
            "planner": {
                "tool": "fake_model",
                "with": {"prompt": prompt_for("planner", "${{ inputs.task }}")},
            },
            "work": {"needs": ["planner"], "parallel": workers},
            "merge": {
                "needs": ["work"],
                "tool": "fake_model",
                "with": {"prompt": merge_prompt(replies)},
            },
        },
    }


def _check(workload: str, run: RunRecord) -> None:
    """Refuse to report a measurement of runs that did not do the work."""
    last = "merge" if workload == "W3" else ROLES[-1]
    reply = (run.output or {}).get(last, {}).get("reply", "")
    if run.status != RunStatus.SUCCEEDED or not reply.startswith("ok "):
        raise SystemExit(f"{workload}: run {run.run_id} ended {run.status}: {run.error}")


async def _run_all(workload: str, engine: Engine, plan: Plan, runs: int) -> float:
    async def one(i: int) -> None:
        # executed right here: the run is created with this engine's lease (no separate claim)
        run = await engine.create_run(plan, {"task": f"task {i}"}, claim=True)
        _check(workload, await engine.execute(run.run_id))

    started = time.perf_counter()
    if workload == "W4":  # all runs at once
        await asyncio.gather(*(one(i) for i in range(runs)))
    else:
        for i in range(runs):
            await one(i)
    return time.perf_counter() - started


async def measure(
    workload: str, config: str, runs: int, directory: str | None, profile: str | None
) -> Measurement:
    model = FakeModel(W4_DELAY_S if workload == "W4" else 0.0)
    path = fresh_db_path(directory, f"nexus-{workload}") if config == "sqlite" else None
    store: RunStore
    if config == "null":
        store = NullStore()
    else:
        store = open_store(f"sqlite:///{path}" if path is not None else "memory://")
    await store.open()
    home = Path(directory or tempfile.gettempdir())
    services = Services(
        settings=Settings(home=home),
        store=store,
        handlers=HandlerRegistry([FakeModelHandler(model)]),
    )
    engine = Engine(store, services, max_concurrency=MAX_CONCURRENCY)
    plan = parse_plan(fan_out_plan() if workload == "W3" else pipeline_plan())
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        wall = await _run_all(workload, engine, plan, runs)
        profiler.disable()
        profiler.dump_stats(profile)
    else:
        wall = await _run_all(workload, engine, plan, runs)
    await engine.drain()
    stats = await store.stats()
    await store.close()
    size = sqlite_bytes(path) if path is not None else None
    if path is not None:
        remove_db(path)
    if model.calls != runs * STEPS_PER_RUN[workload]:
        raise SystemExit(f"{workload}: the model was called {model.calls} times")
    return Measurement(
        framework="nexus",
        workload=workload,
        config="Nexus " + LABELS[config],
        runs=runs,
        steps_per_run=STEPS_PER_RUN[workload],
        wall_s=wall,
        bytes_per_run=size / runs if size is not None else None,
        # W4 is defined with durability on; the null store is never a real configuration
        conformant=config != "null" and not (workload == "W4" and path is None),
        extra={"store_stats": stats},
    )


def main() -> None:
    args = worker_args(FRAMEWORK, __doc__.splitlines()[0], profile=True)
    asyncio.run(measure(args.workload, args.config, args.runs, args.dir, args.profile)).emit()


if __name__ == "__main__":
    main()
