"""Seed 001's task and agent endpoints: tasks as runs, agent status, messages under the
busy policies (queue, interrupt, reject), sessions."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.api.conftest import Api

HOLD = "HOLD-THE-AGENT"


def busy_plan(policy: str) -> dict[str, Any]:
    return {
        "name": f"busy-{policy}",
        "settings": {"on_input": policy},
        "steps": {
            "work": {"agent": "code", "prompt": f"{HOLD} implement the feature"},
            "after": {"needs": ["work"], "tool": "echo", "with": {"done": True}},
        },
    }


async def _wait_agent(api: Api, agent: str, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        status: dict[str, Any] = (await api.client.get("/api/agents/status")).json()[agent]
        if status["status"] == state:
            return status
        assert time.monotonic() < deadline, f"agent {agent} never became {state}"
        await asyncio.sleep(0.02)


async def _busy(api: Api, policy: str) -> str:
    api.brain.hold_prompts.add(HOLD)
    created = await api.client.post("/api/runs", json={"plan": busy_plan(policy)})
    run_id: str = created.json()["run_id"]
    status = await _wait_agent(api, "code", "processing")
    assert status["current_step"] == f"{run_id}/work"
    return run_id


async def test_task_lifecycle_create_status_result(api: Api) -> None:
    plan = {
        "name": "task-plan",
        "inputs": {"task": {"type": "string", "required": True}},
        "steps": {"answer": {"agent": "aria", "prompt": "${{ inputs.task }}"}},
    }
    created = await api.client.post(
        "/api/tasks/create",
        json={"description": "add a flag", "requirements": ["with tests"], "plan": plan},
    )
    assert created.status_code == 202
    body = created.json()
    assert body["status"] == "processing" and body["task_id"] == body["run_id"]
    await api.wait_status(body["task_id"])
    status = (await api.client.get(f"/api/tasks/{body['task_id']}/status")).json()
    assert status["status"] == "succeeded" and status["progress"] == 1.0
    result = (await api.client.get(f"/api/tasks/{body['task_id']}/result")).json()
    assert result["finished"] is True
    text = result["result"]["answer"]["text"]
    assert text.startswith("reply: add a flag") and "- with tests" in text
    assert result["summary"]["steps"][0]["input_tokens"] == 100


async def test_task_without_a_plan_uses_the_software_team_and_can_be_cancelled(api: Api) -> None:
    api.brain.hold_prompts.add("slugify")
    created = await api.client.post("/api/tasks/create", json={"description": "slugify titles"})
    assert created.status_code == 202
    task_id = created.json()["task_id"]
    run = await api.wait_status(task_id, ("running",))
    assert run["plan_name"] and run["inputs"]["task"] == "slugify titles"
    cancelled = await api.client.delete(f"/api/tasks/{task_id}")
    assert cancelled.status_code == 200
    assert cancelled.json() == {"task_id": task_id, "status": "cancelled"}
    missing = await api.client.post("/api/tasks/create", json={"requirements": []})
    assert missing.status_code == 400
    assert missing.json()["error"]["details"] == {"field": "description"}


async def test_message_to_an_idle_agent_is_answered(api: Api) -> None:
    sent = await api.client.post(
        "/api/agents/beta/message", json={"message": "are the tests green?", "wait": True}
    )
    assert sent.status_code == 200, sent.text
    out = sent.json()
    assert out["status"] == "answered" and out["policy"] is None
    assert out["response"].startswith("reply: are the tests green?")
    events = (await api.client.get(f"/api/runs/{out['run_id']}/events")).json()["events"]
    message = next(e for e in events if e["type"] == "message.sent")
    assert message["seq"] == 2
    assert message["data"]["to"] == "beta" and message["data"]["message_id"] == out["message_id"]
    assert message["data"]["payload"] == {"text": "are the tests green?"}
    assert message["data"]["from"] == "default:admin"

    session = (await api.client.get("/api/agents/beta/session")).json()
    assert session["session_id"] == out["run_id"] and session["status"] == "idle"
    assert [h["message"] for h in session["history"]] == ["are the tests green?"]
    assert session["history"][0]["response"] == out["response"]


async def test_a_busy_agent_rejects_messages_under_reject(api: Api) -> None:
    busy = await _busy(api, "reject")
    refused = await api.client.post("/api/agents/code/message", json={"message": "hello"})
    assert refused.status_code == 409
    error = refused.json()["error"]
    assert error["code"] == "agent_busy" and error["details"] == {"agent": "code", "run_id": busy}
    assert api.brain.release is not None
    api.brain.release.set()
    assert (await api.wait_status(busy))["status"] == "succeeded"


async def test_a_busy_agent_queues_messages_until_it_is_free(api: Api) -> None:
    busy = await _busy(api, "queue")
    first = (await api.client.post("/api/agents/code/message", json={"message": "one"})).json()
    second = (await api.client.post("/api/agents/code/message", json={"message": "two"})).json()
    assert (first["status"], first["position"], first["policy"]) == ("queued", 1, "queue")
    assert (second["status"], second["position"]) == ("queued", 2)
    assert first["busy_run_id"] == busy
    executor = (await api.client.get("/api/system/executor")).json()
    assert sorted(executor["held"]) == sorted([first["run_id"], second["run_id"]])
    await asyncio.sleep(0.3)
    assert (await api.wait_status(first["run_id"], ("created",)))["status"] == "created"

    assert api.brain.release is not None
    api.brain.release.set()
    one = await api.wait_status(first["run_id"])
    two = await api.wait_status(second["run_id"])
    assert one["status"] == two["status"] == "succeeded"
    # one at a time, in order: the second starts after the first has finished
    one_done = await _event_ts(api, first["run_id"], "run.succeeded")
    two_started = await _event_ts(api, second["run_id"], "run.started")
    assert two_started >= one_done
    assert (await api.wait_status(busy))["status"] == "succeeded"


async def _event_ts(api: Api, run_id: str, type_: str) -> float:
    events = (await api.client.get(f"/api/runs/{run_id}/events")).json()["events"]
    return float(next(e["ts"] for e in events if e["type"] == type_))


async def test_an_interrupt_cancels_the_busy_run_and_delivers_at_once(api: Api) -> None:
    busy = await _busy(api, "interrupt")
    sent = await api.client.post(
        "/api/agents/code/message", json={"message": "stop and look", "wait": True}
    )
    out = sent.json()
    assert out["policy"] == "interrupt" and out["interrupted_run_id"] == busy
    assert out["status"] == "answered" and out["response"].startswith("reply: stop and look")
    assert (await api.client.get(f"/api/runs/{busy}")).json()["status"] == "cancelled"


async def test_unknown_agents_are_404(api: Api) -> None:
    sent = await api.client.post("/api/agents/nobody/message", json={"message": "hi"})
    assert sent.status_code == 404 and "unknown agent 'nobody'" in sent.json()["error"]["message"]
    assert (await api.client.get("/api/agents/nobody/session")).status_code == 404
    empty = await api.client.post("/api/agents/code/message", json={"message": ""})
    assert empty.status_code == 422
    assert empty.json()["error"]["details"]["fields"][0]["field"] == "body.message"
