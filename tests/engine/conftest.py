"""An engine on a real store with small test handlers (the thing under test is the engine)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from nexus.domain.runs import Event, RunRecord
from nexus.engine.plan_loader import parse_plan
from nexus.engine.scheduler import Engine
from nexus.errors import ToolError
from nexus.handlers.base import BaseHandler, HandlerRegistry, StepContext, StepResult
from nexus.handlers.builtin import builtin_handlers
from nexus.services import Services
from nexus.settings import Settings
from nexus.store.factory import open_store


@dataclass
class Probe:
    """What the test handlers observed."""

    calls: dict[str, int] = field(default_factory=dict)
    running: int = 0
    max_running: int = 0
    cancelled: list[str] = field(default_factory=list)
    started: asyncio.Event = field(default_factory=asyncio.Event)


class CountHandler(BaseHandler):
    """``tool: count`` — counts calls per step key; ``fail_times`` fails the first N attempts;
    ``sleep`` seconds of work."""

    name = "count"
    params_schema = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "sleep": {"type": "number"},
            "fail_times": {"type": "integer"},
            "sleep_first_call": {"type": "number"},
            "value": {},
        },
        "additionalProperties": False,
    }

    def __init__(self, probe: Probe) -> None:
        self.probe = probe

    async def run(self, ctx: StepContext) -> StepResult:
        p = self.probe
        p.calls[ctx.step_key] = p.calls.get(ctx.step_key, 0) + 1
        p.running += 1
        p.max_running = max(p.max_running, p.running)
        p.started.set()
        try:
            if ctx.params.get("sleep"):
                await asyncio.sleep(float(ctx.params["sleep"]))
            if ctx.params.get("sleep_first_call") and p.calls[ctx.step_key] == 1:
                await asyncio.sleep(float(ctx.params["sleep_first_call"]))
            if p.calls[ctx.step_key] <= int(ctx.params.get("fail_times", 0)):
                raise ToolError(f"planned failure {p.calls[ctx.step_key]}")
        except asyncio.CancelledError:
            p.cancelled.append(ctx.step_key)
            raise
        finally:
            p.running -= 1
        return StepResult(output={"value": ctx.params.get("value"), "attempt": ctx.attempt})


@dataclass
class EngineKit:
    engine: Engine
    probe: Probe
    events: list[Event]

    async def run(self, plan: dict[str, Any], inputs: dict[str, Any] | None = None) -> RunRecord:
        parsed = parse_plan(plan)
        run = await self.engine.create_run(parsed, inputs or {})
        return await self.engine.execute(run.run_id)

    def types(self, step_key: str | None = None) -> list[str]:
        return [e.type for e in self.events if step_key is None or e.step_key == step_key]


async def make_kit(url: str, probe: Probe | None = None) -> EngineKit:
    probe = probe or Probe()
    settings = Settings()
    store = open_store(url)
    await store.open()
    handlers = HandlerRegistry([CountHandler(probe), *builtin_handlers()])
    services = Services(settings=settings, store=store, handlers=handlers)
    engine = Engine(store, services, lease_ttl_s=5)
    events: list[Event] = []
    engine.bus.subscribe(events.append)
    return EngineKit(engine, probe, events)


@pytest.fixture
async def kit(tmp_path: Path) -> AsyncIterator[EngineKit]:
    k = await make_kit(f"sqlite:///{tmp_path / 'engine.db'}")
    yield k
    await k.engine.drain()
    await k.engine.store.close()


@pytest.fixture
def kit_factory(tmp_path: Path) -> Callable[..., Any]:
    return lambda probe=None: make_kit(f"sqlite:///{tmp_path / 'engine.db'}", probe)
