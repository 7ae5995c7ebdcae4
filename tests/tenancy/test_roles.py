"""Roles on every endpoint (viewer: read; operator: act; admin: tenants, keys, audit), and
what happens to requests without a valid key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tenancy.conftest import World, open_world
from tests.tenancy.routes import http_operations, minimal_body

#: POSTs that change nothing (a viewer may use them).
READ_ONLY_POSTS = {"POST /api/plans/validate"}
#: GETs that need the operator role (system details).
OPERATOR_GETS = {"GET /api/doctor"}
#: For the default tenant's admins only (a tenant may not change its own plan).
ROOT_ONLY = {"POST /api/tenants", "PATCH /api/tenants/{tenant_id}"}
ADMIN_PREFIXES = ("/api/tenants", "/api/keys", "/api/audit")


def _ids(world: World) -> dict[str, str]:
    return {
        "run_id": "run-none",
        "task_id": "task-none",
        "checkpoint_id": "cp-none",
        "step_key": "none",
        "agent_id": "aria",
        "tenant_id": "alpha",
        "key_id": "000000000000",
    }


async def test_every_endpoint_needs_a_key_once_keys_exist(world: World) -> None:
    ops = http_operations(world.app)
    assert len(ops) >= 30
    for op in ops:
        body = minimal_body(world.app, op.body_schema)
        response = await world.call(
            None, op.method, op.url(_ids(world)), **({} if body is None else {"json": body})
        )
        assert response.status_code == 401, f"{op}: {response.status_code} {response.text}"
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"


async def test_viewers_read_operators_act_admins_manage(world: World) -> None:
    checked = {"viewer": 0, "operator": 0}
    for op in http_operations(world.app):
        if op.path == "/api/agents/stream":
            continue  # an endless stream once allowed (the in-process client waits for the end)
        body = minimal_body(world.app, op.body_schema)
        kwargs = {} if body is None else {"json": body}
        url = op.url(_ids(world))
        admin_only = op.path.startswith(ADMIN_PREFIXES)
        viewer = await world.call("a_viewer", op.method, url, **kwargs)
        viewer_may = op.method == "GET" or str(op) in READ_ONLY_POSTS
        if not viewer_may or admin_only or str(op) in OPERATOR_GETS:
            assert viewer.status_code == 403, f"viewer {op}: {viewer.text}"
            assert viewer.json()["error"]["code"] == "forbidden"
            checked["viewer"] += 1
        else:
            assert viewer.status_code not in (401, 403), f"viewer {op}: {viewer.text}"
        operator = await world.call("a_operator", op.method, url, **kwargs)
        if admin_only:
            assert operator.status_code == 403, f"operator {op}: {operator.text}"
            checked["operator"] += 1
        else:
            assert operator.status_code not in (401, 403), f"operator {op}: {operator.text}"
        admin = await world.call("a_admin", op.method, url, **kwargs)
        if str(op) in ROOT_ONLY:
            assert admin.status_code == 403, f"admin {op}: {admin.text}"
        else:
            assert admin.status_code not in (401, 403), f"admin {op}: {admin.text}"
    assert checked["viewer"] >= 15 and checked["operator"] >= 8, checked


async def test_role_refusal_names_the_needed_role(world: World) -> None:
    response = await world.call("a_viewer", "POST", "/api/runs", json={"task": "x"})
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["details"] == {"required_role": "operator", "role": "viewer"}
    created = await world.call(
        "root", "POST", "/api/tenants", json={"tenant_id": "gamma", "plan": "professional"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["limits"]["max_agents"] == 25


@pytest.mark.parametrize(
    "presented",
    [
        "nx_not-a-key",
        "nx_0123456789ab_" + "A" * 43,  # well formed, unknown id
        "Bearer",
        "sk-someone-elses-key",
    ],
)
async def test_bad_keys_get_the_same_401(world: World, presented: str) -> None:
    response = await world.client.get("/api/runs", headers={"X-API-Key": presented})
    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "unauthorized",
        "message": "invalid API key",
        "details": {},
    }
    assert presented not in response.text


async def test_a_wrong_secret_or_a_revoked_key_is_refused_at_once(world: World) -> None:
    token = world.keys["a_viewer"]
    assert (await world.call("a_viewer", "GET", "/api/runs")).status_code == 200
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    response = await world.client.get("/api/runs", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    key_id = token.split("_")[1]
    revoked = await world.call("a_admin", "DELETE", f"/api/keys/{key_id}")
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    assert (await world.call("a_viewer", "GET", "/api/runs")).status_code == 401


async def test_without_any_key_the_server_is_open_until_the_first_key(database_url: str) -> None:
    import contextlib

    async with contextlib.AsyncExitStack() as stack:
        world = await open_world(stack, database_url)
        opened = await world.client.get("/api/runs")
        assert opened.status_code == 200
        created = await world.client.post(
            "/api/keys", json={"tenant_id": "default", "role": "admin", "name": "first"}
        )
        assert created.status_code == 201, created.text
        token = created.json()["token"]
        assert (await world.client.get("/api/runs")).status_code == 401
        again = await world.client.get("/api/runs", headers={"X-API-Key": token})
        assert again.status_code == 200


async def test_only_the_installations_admins_touch_server_files(
    world: World, tmp_path: Path
) -> None:
    plan = {"name": "p", "steps": {"s": {"tool": "echo", "with": {}}}}
    body = {"plan": plan, "workspace": str(tmp_path / "elsewhere")}
    tenant_admin = await world.call("a_admin", "POST", "/api/runs", json=body)
    assert tenant_admin.status_code == 403
    assert "admin of the default tenant" in tenant_admin.json()["error"]["message"]
    seeded = {"plan": {**plan, "team": "/etc/team.yaml"}}
    assert (await world.call("a_admin", "POST", "/api/runs", json=seeded)).status_code == 403
    assert not (tmp_path / "elsewhere").exists()
    root = await world.call("root", "POST", "/api/runs", json=body)
    assert root.status_code == 201, root.text
