"""A key of tenant A gets 404 for every resource of tenant B, on SQLite and PostgreSQL.

The cases come from the app itself: every HTTP operation whose path names a
resource (run, task, checkpoint, step) and every WebSocket route with a run
id. A new route is covered the day it is added.
"""

from __future__ import annotations

from typing import Any

from tests.tenancy.conftest import World
from tests.tenancy.routes import http_operations, minimal_body, websocket_paths

#: Path parameters that name a tenant's resource, and which of B's ids fills them.
RESOURCE_PARAMS = {
    "run_id": "run_id",
    "task_id": "task_id",
    "checkpoint_id": "checkpoint_id",
    "step_key": "step_key",
}
#: Bodies that would succeed on B's resource (so a leak would show as a 2xx, not a 422).
BODIES: dict[str, Any] = {
    "/api/runs/{run_id}/answers": {"step": "ask", "value": "yes"},
    "/api/runs/{run_id}/forks": {"from_step": "b"},
    "/api/runs/{run_id}/checkpoints": {"label": "stolen"},
}
#: Actions that would change a run waiting for input: tried on B's waiting run.
ON_WAITING_RUN = ("/answers", "/cancel", "/resume")
#: What the sweep must reach at the least (the issue's list of resources).
EXPECTED = {
    "GET /api/runs/{run_id}",
    "GET /api/runs/{run_id}/steps",
    "GET /api/runs/{run_id}/events",
    "GET /api/runs/{run_id}/artifacts",
    "GET /api/runs/{run_id}/checkpoints",
    "POST /api/runs/{run_id}/checkpoints",
    "POST /api/checkpoints/{checkpoint_id}/restore",
    "POST /api/runs/{run_id}/forks",
    "POST /api/runs/{run_id}/answers",
    "POST /api/runs/{run_id}/cancel",
    "GET /api/runs/{run_id}/stream",
    "GET /api/tasks/{task_id}/status",
    "GET /api/tasks/{task_id}/result",
    "DELETE /api/tasks/{task_id}",
}


def _ids_for(path: str, world: World) -> dict[str, str]:
    ids = dict(world.b)
    if path.endswith(ON_WAITING_RUN):
        ids["run_id"] = world.b["waiting_id"]
    return {param: ids[source] for param, source in RESOURCE_PARAMS.items()}


async def test_every_resource_of_another_tenant_is_404(world_with_b: World) -> None:
    world = world_with_b
    swept: list[str] = []
    for op in http_operations(world.app):
        if not set(op.params) & set(RESOURCE_PARAMS):
            continue
        url = op.url(_ids_for(op.path, world))
        body = BODIES.get(op.path, minimal_body(world.app, op.body_schema))
        kwargs: dict[str, Any] = {} if body is None else {"json": body}
        for who in ("a_admin", "a_operator", "a_viewer"):
            response = await world.call(who, op.method, url, **kwargs)
            if who == "a_viewer" and op.method != "GET":
                assert response.status_code == 403, f"{op} as {who}: {response.text}"
                continue
            assert response.status_code == 404, f"{op} as {who}: {response.text}"
            assert response.json()["error"]["code"] == "not_found", f"{op}: {response.text}"
            assert "beta" not in response.text
        swept.append(str(op))
    assert set(swept) >= EXPECTED, f"not reached: {EXPECTED - set(swept)}"

    # nothing of B's changed: the waiting run still waits, no fork or checkpoint was added
    waiting = await world.call("b_viewer", "GET", f"/api/runs/{world.b['waiting_id']}")
    assert waiting.json()["status"] == "waiting_input"
    cps = await world.call("b_viewer", "GET", f"/api/runs/{world.b['run_id']}/checkpoints")
    assert len(cps.json()) == 1
    assert all(c["label"] != "stolen" for c in cps.json())
    b_runs = (await world.call("b_viewer", "GET", "/api/runs", params={"limit": 500})).json()
    assert len(b_runs["items"]) == 4  # run, its fork, the waiting run, the task's run


async def test_the_owner_and_the_installation_admin_see_the_same_resources(
    world_with_b: World,
) -> None:
    world = world_with_b
    for who in ("b_viewer", "root"):
        for path in (
            f"/api/runs/{world.b['run_id']}",
            f"/api/runs/{world.b['run_id']}/steps",
            f"/api/runs/{world.b['run_id']}/events",
            f"/api/runs/{world.b['run_id']}/checkpoints",
            f"/api/tasks/{world.b['task_id']}/status",
        ):
            response = await world.call(who, "GET", path)
            assert response.status_code == 200, f"{who} {path}: {response.text}"
    steps = (await world.call("b_viewer", "GET", f"/api/runs/{world.b['run_id']}/steps")).json()
    assert [s["step_key"] for s in steps] == ["a", "b"]


async def test_listings_show_only_the_callers_tenant(world_with_b: World) -> None:
    world = world_with_b
    a_run = await world.call(
        "a_operator",
        "POST",
        "/api/runs",
        json={"plan": {"name": "a-plan", "steps": {"s": {"tool": "echo", "with": {}}}}},
    )
    assert a_run.status_code == 201, a_run.text
    assert a_run.json()["tenant_id"] == "alpha"
    listed = (await world.call("a_viewer", "GET", "/api/runs", params={"limit": 500})).json()
    assert [r["run_id"] for r in listed["items"]] == [a_run.json()["run_id"]]
    everyone = (await world.call("root", "GET", "/api/runs", params={"limit": 500})).json()
    assert len(everyone["items"]) == 5

    tenants = (await world.call("a_admin", "GET", "/api/tenants")).json()
    assert [t["tenant_id"] for t in tenants] == ["alpha"]
    assert (await world.call("a_admin", "GET", "/api/tenants/beta")).status_code == 404
    keys = (await world.call("a_admin", "GET", "/api/keys")).json()
    assert {k["tenant_id"] for k in keys} == {"alpha"} and len(keys) == 3
    b_key = next(k for k in await world.tenancy.store.list_keys("beta"))
    assert (await world.call("a_admin", "GET", f"/api/keys/{b_key.key_id}")).status_code == 404
    assert (await world.call("a_admin", "DELETE", f"/api/keys/{b_key.key_id}")).status_code == 404
    assert not (await world.tenancy.store.get_key(b_key.key_id)).revoked
    stolen = await world.call("a_admin", "POST", "/api/keys", json={"tenant_id": "beta"})
    assert stolen.status_code == 404
    audit = (await world.call("a_admin", "GET", "/api/audit", params={"limit": 1000})).json()
    assert audit["items"] and {e["tenant_id"] for e in audit["items"]} == {"alpha"}
    other = await world.call("a_admin", "GET", "/api/audit", params={"tenant_id": "beta"})
    assert other.status_code == 404
    usage = (await world.call("a_viewer", "GET", "/api/usage", params={"by": "tenant"})).json()
    assert "beta" not in str(usage)


async def test_agent_sessions_show_only_the_callers_messages(world: World) -> None:
    sent = await world.call(
        "b_operator",
        "POST",
        "/api/agents/aria/message",
        json={"message": "secret plan of beta", "wait": True, "timeout_s": 20},
    )
    assert sent.status_code in (200, 202), sent.text
    mine = (await world.call("b_viewer", "GET", "/api/agents/aria/session")).json()
    assert [e["message"] for e in mine["history"]] == ["secret plan of beta"]
    theirs = (await world.call("a_viewer", "GET", "/api/agents/aria/session")).json()
    assert theirs["history"] == [] and theirs["session_id"] is None


async def _websocket_close(world: World, path: str, key: str) -> dict[str, Any]:
    """Open a WebSocket on the app directly (ASGI) and return what the app sends first."""
    sent: list[dict[str, Any]] = []
    incoming = [{"type": "websocket.connect"}]

    async def receive() -> dict[str, Any]:
        if incoming:
            return incoming.pop(0)
        return {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "query_string": f"api_key={key}".encode(),
        "headers": [(b"host", b"nexus.test")],
        "client": ("203.0.113.7", 4711),
        "server": ("nexus.test", 80),
        "subprotocols": [],
        "state": {},
    }
    await world.app(scope, receive, send)
    return sent[0]


async def test_websockets_of_another_tenants_run_close_with_4404(world_with_b: World) -> None:
    world = world_with_b
    paths = [p for p in websocket_paths(world.app) if "{run_id}" in p]
    assert paths, "the app has no run WebSocket"
    for path in paths:
        url = path.replace("{run_id}", world.b["run_id"])
        first = await _websocket_close(world, url, world.keys["a_admin"])
        assert first == {"type": "websocket.close", "code": 4404, "reason": first.get("reason")}
        owner = await _websocket_close(world, url, world.keys["b_viewer"])
        assert owner["type"] == "websocket.accept"
