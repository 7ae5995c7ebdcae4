"""The server's claim loop picks up work from the shared store: runs created elsewhere, runs
whose executor stopped renewing its lease, runs answered elsewhere."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from nexus.engine.plan_loader import parse_plan
from nexus.runtime import Nexus
from nexus.settings import Settings
from tests.api.conftest import Api, MakeApi, echo_plan


@pytest.fixture
async def elsewhere() -> AsyncIterator[Nexus]:
    """Another process's facade on the same store (same NEXUS_HOME, SQLite file)."""
    nx = await Nexus.open(Settings())
    yield nx
    await nx.close()


async def test_runs_created_elsewhere_are_executed(api: Api, elsewhere: Nexus) -> None:
    run = await elsewhere.start_run(parse_plan(echo_plan()), {"word": "far"})
    final = await api.wait_status(run.run_id)
    assert final["status"] == "succeeded" and final["output"]["b"] == {"seen": "far"}


async def test_a_live_lease_is_respected_and_an_expired_one_taken_over(
    api: Api, elsewhere: Nexus
) -> None:
    run = await elsewhere.start_run(parse_plan(echo_plan()), {})
    assert await elsewhere.store.claim_run(run.run_id, "otherhost:4242:abc", 2.0) is None
    await asyncio.sleep(0.5)  # two claim rounds: the lease is live, nobody touches the run
    assert (await api.client.get(f"/api/runs/{run.run_id}")).json()["status"] == "created"
    final = await api.wait_status(run.run_id)
    assert final["status"] == "succeeded"
    events = (await api.client.get(f"/api/runs/{run.run_id}/events")).json()["events"]
    assert [e["type"] for e in events].count("run.started") == 1


async def test_runs_answered_elsewhere_continue(api: Api, elsewhere: Nexus) -> None:
    plan = parse_plan(
        {
            "name": "ask",
            "steps": {
                "q": {"human": "ok?"},
                "after": {"needs": ["q"], "tool": "echo", "with": {"a": "${{ steps.q.output }}"}},
            },
        }
    )
    run = await elsewhere.start_run(plan, {})
    assert (await api.wait_status(run.run_id, ("waiting_input",)))["status"] == "waiting_input"
    await elsewhere.answer(run.run_id, "q", "yes")
    final = await api.wait_status(run.run_id)
    assert final["status"] == "succeeded"
    assert final["output"]["after"] == {"a": {"answer": "yes"}}


async def test_a_server_without_claiming_leaves_foreign_runs_alone(
    make_api: MakeApi, elsewhere: Nexus
) -> None:
    api = await make_api(api_open=True, claim=False)
    run = await elsewhere.start_run(parse_plan(echo_plan()), {})
    await asyncio.sleep(0.5)
    assert (await api.client.get(f"/api/runs/{run.run_id}")).json()["status"] == "created"
    executor = (await api.client.get("/api/system/executor")).json()
    assert executor["claim"] is False and executor["active"] == []
