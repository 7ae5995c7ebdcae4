"""One error body everywhere, and the auth seam: roles, open mode, tenant isolation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.requests import HTTPConnection
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from nexus.api import create_app
from nexus.api.auth import Principal, presented_key
from nexus.api.errors import Unauthorized
from tests.api.conftest import Api, MakeApi, echo_plan, server_settings


class KeyTable:
    """A test authenticator: a fixed table of keys."""

    def __init__(self, keys: dict[str, Principal]) -> None:
        self.keys = keys

    async def authenticate(self, conn: HTTPConnection) -> Principal | None:
        key = presented_key(conn)
        if key is None:
            return None
        principal = self.keys.get(key)
        if principal is None:
            raise Unauthorized("unknown API key")
        return principal

    async def has_keys(self) -> bool:
        return bool(self.keys)


KEYS = {
    "view-a": Principal("acme", "viewer", "k1"),
    "op-a": Principal("acme", "operator", "k2"),
    "op-b": Principal("globex", "operator", "k3"),
}


def _error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    error: dict[str, Any] = body["error"]
    return error


async def test_error_bodies_share_one_shape(api: Api) -> None:
    route = await api.client.get("/api/nowhere")
    assert route.status_code == 404 and _error(route)["code"] == "not_found"
    method = await api.client.put("/api/runs")
    assert method.status_code == 405 and _error(method)["code"] == "method_not_allowed"
    missing = await api.client.get("/api/runs/r-unknown/steps")
    assert missing.status_code == 404
    assert _error(missing) == {
        "code": "not_found",
        "message": "no run with id 'r-unknown'",
        "details": {"run_id": "r-unknown"},
    }
    invalid = await api.client.post("/api/runs/x/answers", json={"value": 1, "extra": 2})
    error = _error(invalid)
    assert invalid.status_code == 422 and error["code"] == "invalid_request"
    assert [f["field"] for f in error["details"]["fields"]] == ["body.step", "body.extra"]
    plan = await api.client.post("/api/runs", json={"plan": {"name": "p", "steps": {}}})
    assert plan.status_code == 422 and _error(plan)["code"] == "invalid_plan"
    assert _error(plan)["details"]["problems"]
    not_json = await api.client.post(
        "/api/runs", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 422 and _error(not_json)["code"] == "invalid_request"


async def test_validation_errors_do_not_echo_values(api: Api) -> None:
    secret = "sk-live-ABCDEFGHIJKLMNOP1234"
    response = await api.client.get("/api/runs", params={"limit": secret})
    assert response.status_code == 422
    assert secret not in response.text
    assert _error(response)["details"]["fields"][0]["field"] == "query.limit"


async def test_unexpected_errors_are_500_without_details(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(run_id: str) -> Any:
        raise RuntimeError("database exploded with password=hunter2secret")

    monkeypatch.setattr(api.nx, "get_run", broken)
    response = await api.client.get("/api/runs/anything")
    assert response.status_code == 500
    error = _error(response)
    assert error["code"] == "internal_error"
    assert "exploded" not in response.text and "Traceback" not in response.text
    assert error["details"]["correlation_id"] == response.headers["x-correlation-id"]


async def test_roles_are_checked_on_every_route(make_api: MakeApi) -> None:
    api = await make_api(authenticator=KeyTable(KEYS))
    anonymous = await api.client.get("/api/runs")
    assert anonymous.status_code == 401 and _error(anonymous)["code"] == "unauthorized"
    assert anonymous.headers["www-authenticate"] == "Bearer"
    wrong = await api.client.get("/api/runs", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    viewer = {"X-API-Key": "view-a"}
    assert (await api.client.get("/api/runs", headers=viewer)).status_code == 200
    create = await api.client.post("/api/runs", json={"plan": echo_plan()}, headers=viewer)
    assert create.status_code == 403
    assert _error(create)["details"] == {"required_role": "operator", "role": "viewer"}
    doctor = await api.client.get("/api/doctor", headers=viewer)
    assert doctor.status_code == 403
    for path in ("/api/health", "/metrics", "/api/usage", "/api/agents/status"):
        assert (await api.client.get(path)).status_code == 401, path
        assert (await api.client.get(path, headers=viewer)).status_code == 200, path


async def test_open_mode_lets_anonymous_callers_in_as_admin(make_api: MakeApi) -> None:
    api = await make_api(authenticator=KeyTable(KEYS), api_open=True)
    response = await api.client.post("/api/runs", json={"plan": echo_plan()})
    assert response.status_code == 201 and response.json()["tenant_id"] == "default"


async def test_a_tenant_never_sees_another_tenants_runs(make_api: MakeApi) -> None:
    api = await make_api(authenticator=KeyTable(KEYS))
    a = {"X-API-Key": "op-a"}
    b = {"X-API-Key": "op-b"}
    created = await api.client.post("/api/runs", json={"plan": echo_plan()}, headers=a)
    assert created.status_code == 201 and created.json()["tenant_id"] == "acme"
    run_id = created.json()["run_id"]
    assert (await api.wait_status(run_id, headers=a))["status"] == "succeeded"
    for method, path in [
        ("GET", f"/api/runs/{run_id}"),
        ("GET", f"/api/runs/{run_id}/steps"),
        ("GET", f"/api/runs/{run_id}/events"),
        ("GET", f"/api/runs/{run_id}/artifacts"),
        ("GET", f"/api/runs/{run_id}/stream"),
        ("GET", f"/api/tasks/{run_id}/status"),
        ("GET", f"/api/tasks/{run_id}/result"),
        ("DELETE", f"/api/tasks/{run_id}"),
        ("POST", f"/api/runs/{run_id}/cancel"),
        ("POST", f"/api/runs/{run_id}/resume"),
        ("POST", f"/api/runs/{run_id}/checkpoints"),
    ]:
        response = await api.client.request(method, path, headers=b)
        assert response.status_code == 404, (method, path, response.text)
        assert _error(response)["message"] == f"no run with id '{run_id}'"
    assert (await api.client.get("/api/runs", headers=b)).json()["items"] == []
    mine = (await api.client.get("/api/runs", headers=a)).json()["items"]
    assert [r["run_id"] for r in mine] == [run_id]


def test_websockets_check_keys_before_accepting() -> None:
    app = create_app(settings=server_settings(), authenticator=KeyTable(KEYS))
    with TestClient(app) as client:
        with (
            pytest.raises(WebSocketDisconnect) as refused,
            client.websocket_connect("/api/agents/ws"),
        ):
            pass
        assert refused.value.code == 4401
        with client.websocket_connect("/api/agents/ws?api_key=view-a") as ws:
            first = ws.receive_json()
            assert first["type"] == "snapshot"
            assert {a["id"] for a in first["data"]["agents"]} >= {"aria", "code"}
        with (
            pytest.raises(WebSocketDisconnect) as unknown,
            client.websocket_connect("/api/runs/r-missing/ws?api_key=view-a"),
        ):
            pass
        assert unknown.value.code == 4404
