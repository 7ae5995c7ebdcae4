"""API keys and provider secrets never appear in logs, events or error bodies (O2, S-series).

Fake provider keys sit in the environment, API keys travel in headers and the
query string, and the endpoints are exercised on their success and error paths
(401, 404, 422, 500, a failing step). Everything the server wrote to its JSON
log, every stored event and step, and every response body is then searched for
the secrets.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.requests import HTTPConnection

from nexus.api.auth import Principal, presented_key
from nexus.api.errors import Unauthorized
from nexus.observability.logging import MASK, Redactor, configure_logging
from tests.api.conftest import MakeApi

OPENAI = "sk-proj-FAKEOPENAIKEY0123456789abcdef"
ANTHROPIC = "sk-ant-api03-FAKEANTHROPIC9876543210"
SERVICE_TOKEN = "svc_TOKEN_value_that_is_secret_42"
API_KEY = "nxk_live_9f8e7d6c5b4a3210fedcba"
WRONG_KEY = "nxk_live_0000wrong0000key0000"
SECRETS = (OPENAI, ANTHROPIC, SERVICE_TOKEN, API_KEY, WRONG_KEY)


class OneKey:
    async def authenticate(self, conn: HTTPConnection) -> Principal | None:
        key = presented_key(conn)
        if key is None:
            return None
        if key != API_KEY:
            raise Unauthorized("unknown API key")
        return Principal("default", "admin", "k-1", all_tenants=True)

    async def has_keys(self) -> bool:
        return True


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC)
    monkeypatch.setenv("BILLING_SERVICE_TOKEN", SERVICE_TOKEN)
    stream = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging("DEBUG", "json", stream)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_secrets_stay_out_of_logs_events_and_error_bodies(
    make_api: MakeApi, captured: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = await make_api(authenticator=OneKey())
    good = {"Authorization": f"Bearer {API_KEY}"}
    bodies: list[str] = []

    async def call(method: str, url: str, **kwargs: Any) -> Any:
        response = await api.client.request(method, url, **kwargs)
        bodies.append(response.text)
        return response

    plan = {
        "name": "leaky",
        "steps": {
            "env": {"tool": "shell", "with": {"command": "env; echo key=$OPENAI_API_KEY"}},
            "ask": {"needs": ["env"], "agent": "code", "prompt": "summarise"},
            "boom": {"needs": ["ask"], "tool": "shell", "with": {"command": "exit 3"}},
        },
    }
    created = await call("POST", "/api/runs", json={"plan": plan}, headers=good)
    assert created.status_code == 201
    run_id = created.json()["run_id"]
    assert (await api.wait_status(run_id, headers=good))["status"] == "failed"
    assert (await call("GET", "/api/runs")).status_code == 401
    wrong = await call("GET", "/api/runs", headers={"X-API-Key": WRONG_KEY})
    assert wrong.status_code == 401
    assert (await call("GET", f"/api/runs?api_key={API_KEY}&limit=0")).status_code == 422
    assert (await call("GET", "/api/runs/nope", headers=good)).status_code == 404
    bad_plan = {"name": "p", "steps": {"a": {"tool": "shell", "with": {"command": OPENAI}}}}
    await call("POST", "/api/plans/validate", json={"plan": bad_plan}, headers=good)

    async def broken(run_id: str) -> Any:
        raise RuntimeError(f"provider said no to {OPENAI} (token {SERVICE_TOKEN})")

    monkeypatch.setattr(api.nx, "get_run", broken)
    crashed = await call("GET", f"/api/runs/{run_id}/steps", headers=good)
    assert crashed.status_code == 500
    monkeypatch.undo()

    steps = await call("GET", f"/api/runs/{run_id}/steps", headers=good)
    env_output = json.dumps(next(s for s in steps.json() if s["step_key"] == "env")["output"])
    assert "PATH" in env_output  # the step really printed its environment
    events = await call("GET", f"/api/runs/{run_id}/events", headers=good)
    stored = json.dumps([e.to_dict() for e in await api.nx.store.read_events(run_id)])

    logs = captured.getvalue()
    lines = [json.loads(line) for line in logs.splitlines() if line.strip()]
    assert any(line.get("correlation_id") == crashed.headers["x-correlation-id"] for line in lines)
    assert any("exception" in line for line in lines)  # the 500 was logged, traceback and all
    for secret in SECRETS:
        assert secret not in logs, f"{secret} leaked into the logs"
        assert secret not in stored, f"{secret} leaked into the events"
        assert secret not in events.text and secret not in steps.text
        for body in bodies:
            assert secret not in body, f"{secret} leaked into a response body"


def test_redactor_masks_shapes_pairs_and_env_values() -> None:
    redactor = Redactor({"MY_SECRET": "hunter2-is-long", "HOME": "/root"})
    assert redactor.text(f"calling with {OPENAI}") == f"calling with {MASK}"
    assert redactor.text("Authorization: Bearer abc.def.ghi") == f"Authorization: {MASK} {MASK}"
    assert redactor.text("GET /x?api_key=abcd1234&n=1") == f"GET /x?api_key={MASK}&n=1"
    assert redactor.text("pw hunter2-is-long!") == f"pw {MASK}!"
    assert redactor.text("the home is /root") == "the home is /root"
    assert redactor.text('{"input_tokens": 1200}') == '{"input_tokens": 1200}'
    assert redactor.value({"api_key": "x1", "key": "implement", "n": [OPENAI]}) == {
        "api_key": MASK,
        "key": "implement",
        "n": [MASK],
    }
