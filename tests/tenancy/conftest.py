"""Tenancy fixtures: the API app in-process on SQLite or PostgreSQL, with two tenants.

``world`` builds the app on a fresh database (an SQLite file, or a fresh
PostgreSQL schema), creates tenants ``alpha`` (A) and ``beta`` (B) with keys
of every role, and gives B a finished run (steps, events, a checkpoint, a
fork), a run waiting for a human answer and an agent message. PostgreSQL is
expected on loopback (``NEXUS_TEST_POSTGRES_URL``); without it its cases skip
on a developer machine and fail when ``CI`` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from nexus.api import create_app
from nexus.runtime import Nexus
from nexus.tenancy.service import Tenancy
from nexus.testing import FunctionModel
from tests.api.conftest import FakeBrain, echo_plan, server_settings

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TERMINAL = ("succeeded", "failed", "cancelled")

HUMAN_PLAN = {
    "name": "ask-first",
    "steps": {
        "prepare": {"tool": "echo", "with": {"message": "ready"}},
        "ask": {"needs": ["prepare"], "human": "Ship it?", "options": ["yes", "no"]},
    },
}


def pg_base_url() -> str:
    return os.environ.get("NEXUS_TEST_POSTGRES_URL", DEFAULT_PG_URL)


def libpq_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def require_postgres() -> None:
    """Skip when PostgreSQL is not reachable; fail instead when ``CI`` is set."""
    try:
        with psycopg.connect(libpq_url(pg_base_url()), connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        problem = f"PostgreSQL at {pg_base_url()} is not reachable: {exc}"
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)


def drop_schema(schema: str) -> None:
    with psycopg.connect(libpq_url(pg_base_url()), connect_timeout=5, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database: an SQLite file, or a new schema in the PostgreSQL test database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'db' / 'nexus.db'}"
        return
    require_postgres()
    schema = f"t_{secrets.token_hex(6)}"
    try:
        yield f"{pg_base_url()}?schema={schema}"
    finally:
        drop_schema(schema)


@dataclass
class World:
    """The app, its client, and who owns what."""

    app: FastAPI
    client: httpx.AsyncClient
    nx: Nexus
    tenancy: Tenancy
    brain: FakeBrain
    database_url: str
    keys: dict[str, str] = field(default_factory=dict)
    b: dict[str, str] = field(default_factory=dict)  # tenant B's resource ids

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    async def call(self, who: str | None, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}) or {})
        if who is not None:
            headers.update(self.auth(who))
        return await self.client.request(method, path, headers=headers, **kw)

    async def wait_status(
        self, who: str, run_id: str, statuses: tuple[str, ...] = TERMINAL
    ) -> dict[str, Any]:
        deadline = time.monotonic() + 30
        while True:
            response = await self.call(who, "GET", f"/api/runs/{run_id}")
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            if body["status"] in statuses:
                return body
            assert time.monotonic() < deadline, f"run {run_id} stayed {body['status']}"
            await asyncio.sleep(0.05)


async def open_world(stack: contextlib.AsyncExitStack, database_url: str, **changes: Any) -> World:
    settings = server_settings(database_url=database_url, **changes)
    brain = FakeBrain()
    brain.release = asyncio.Event()
    app = create_app(settings=settings)
    await stack.enter_async_context(app.router.lifespan_context(app))
    nx: Nexus = app.state.nx
    nx.services.models.register("function", lambda _model: FunctionModel(brain))
    tenancy: Tenancy = app.state.tenancy
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("203.0.113.7", 4711)),
        base_url="http://nexus.test",
        timeout=30,
    )
    await stack.enter_async_context(client)
    return World(app, client, nx, tenancy, brain, database_url)


async def add_tenants(world: World) -> None:
    """Tenants alpha (A) and beta (B) on the enterprise plan, and keys of every role."""
    store = world.tenancy.store
    for tenant in ("alpha", "beta"):
        await store.create_tenant(tenant, tenant.title(), "enterprise")
        for role in ("admin", "operator", "viewer"):
            _, token = await store.create_key(tenant, role, f"{tenant} {role}")
            world.keys[f"{tenant[0]}_{role}"] = token
    _, token = await store.create_key("default", "admin", "root")
    world.keys["root"] = token
    world.tenancy.authenticator.forget()


async def add_b_resources(world: World) -> None:
    """Tenant B's resources: a finished run with a checkpoint and a fork, a waiting run,
    a task, an agent message."""
    created = await world.call(
        "b_operator", "POST", "/api/runs", json={"plan": echo_plan(), "inputs": {"word": "b"}}
    )
    assert created.status_code == 201, created.text
    run_id = created.json()["run_id"]
    await world.wait_status("b_operator", run_id)
    cp = await world.call("b_operator", "POST", f"/api/runs/{run_id}/checkpoints", json={})
    assert cp.status_code == 201, cp.text
    fork = await world.call(
        "b_operator", "POST", f"/api/runs/{run_id}/forks", json={"from_step": "b"}
    )
    assert fork.status_code == 201, fork.text
    waiting = await world.call("b_operator", "POST", "/api/runs", json={"plan": HUMAN_PLAN})
    assert waiting.status_code == 201, waiting.text
    waiting_id = waiting.json()["run_id"]
    await world.wait_status("b_operator", waiting_id, ("waiting_input",))
    task = await world.call(
        "b_operator", "POST", "/api/tasks/create", json={"plan": echo_plan(), "inputs": {}}
    )
    assert task.status_code in (200, 201, 202), task.text
    world.b.update(
        run_id=run_id,
        step_key="a",
        checkpoint_id=cp.json()["checkpoint_id"],
        fork_id=fork.json()["run_id"],
        waiting_id=waiting_id,
        task_id=task.json()["task_id"],
    )
    await world.wait_status("b_operator", world.b["fork_id"])
    await world.wait_status("b_operator", world.b["task_id"])


@pytest.fixture
async def world(database_url: str) -> AsyncIterator[World]:
    async with contextlib.AsyncExitStack() as stack:
        w = await open_world(stack, database_url)
        await add_tenants(w)
        yield w


@pytest.fixture
async def world_with_b(world: World) -> World:
    await add_b_resources(world)
    return world
