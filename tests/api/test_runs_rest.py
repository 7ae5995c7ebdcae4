"""Runs over REST, in-process: create, read, steps, events, pagination, artifacts, and the
actions (cancel, resume, answers, checkpoints, restore, forks), plan validation."""

from __future__ import annotations

import asyncio
import socket
import subprocess
from typing import Any

from nexus.engine.plan_loader import parse_plan
from tests.api.conftest import Api, echo_plan

HUMAN_PLAN = {
    "name": "ask-first",
    "steps": {
        "prepare": {"tool": "echo", "with": {"message": "ready"}},
        "ask": {"needs": ["prepare"], "human": "Ship it?", "options": ["yes", "no"]},
        "after": {"needs": ["ask"], "tool": "echo", "with": {"answer": "${{ steps.ask.output }}"}},
    },
}


async def _run(api: Api, plan: dict[str, Any], **body: Any) -> dict[str, Any]:
    response = await api.client.post("/api/runs", json={"plan": plan, **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return await api.wait_status(created["run_id"], ("succeeded", "failed", "waiting_input"))


async def test_create_run_executes_it_and_reports_steps_and_events(api: Api) -> None:
    response = await api.client.post(
        "/api/runs", json={"plan": echo_plan(), "inputs": {"word": "hello"}}
    )
    assert response.status_code == 201
    created = response.json()
    assert created["status"] == "created" and created["inputs"] == {"word": "hello"}
    run = await api.wait_status(created["run_id"])
    assert run["status"] == "succeeded"
    assert run["progress"] == 1.0 and run["steps_total"] == 2 and run["steps_done"] == 2
    assert run["output"] == {"a": {"message": "hello"}, "b": {"seen": "hello"}}
    assert run["step_status"] == {"succeeded": 2}

    steps = (await api.client.get(f"/api/runs/{run['run_id']}/steps")).json()
    assert [(s["step_key"], s["status"], s["attempt"]) for s in steps] == [
        ("a", "succeeded", 1),
        ("b", "succeeded", 1),
    ]
    events = (await api.client.get(f"/api/runs/{run['run_id']}/events")).json()
    types = [e["type"] for e in events["events"]]
    assert types[0] == "run.created" and types[-1] == "run.succeeded"
    assert [e["seq"] for e in events["events"]] == list(range(1, len(types) + 1))
    assert events["has_more"] is False and events["next_after_seq"] == len(types)


async def test_events_page_by_after_seq(api: Api) -> None:
    run = await _run(api, echo_plan())
    url = f"/api/runs/{run['run_id']}/events"
    first = (await api.client.get(url, params={"limit": 3})).json()
    assert [e["seq"] for e in first["events"]] == [1, 2, 3]
    assert first["has_more"] is True and first["next_after_seq"] == 3
    rest = (await api.client.get(url, params={"after_seq": 3, "limit": 1000})).json()
    assert rest["events"][0]["seq"] == 4 and rest["has_more"] is False


async def test_list_runs_paginates_and_filters(api: Api) -> None:
    ids = []
    for i in range(5):
        plan = echo_plan(name="alpha" if i % 2 == 0 else "beta")
        ids.append((await _run(api, plan))["run_id"])
    newest_first = list(reversed(ids))

    page1 = (await api.client.get("/api/runs", params={"limit": 2})).json()
    page2 = (await api.client.get("/api/runs", params={"limit": 2, "offset": 2})).json()
    page3 = (await api.client.get("/api/runs", params={"limit": 2, "offset": 4})).json()
    assert [r["run_id"] for r in page1["items"] + page2["items"] + page3["items"]] == newest_first
    assert (page1["next_offset"], page2["next_offset"], page3["next_offset"]) == (2, 4, None)

    alphas = (await api.client.get("/api/runs", params={"plan": "alpha", "limit": 2})).json()
    assert [r["plan_name"] for r in alphas["items"]] == ["alpha", "alpha"]
    assert alphas["next_offset"] == 2
    rest = (await api.client.get("/api/runs", params={"plan": "alpha", "offset": 2})).json()
    assert [r["run_id"] for r in rest["items"]] == [ids[0]] and rest["next_offset"] is None
    done = (await api.client.get("/api/runs", params={"status": "succeeded"})).json()
    assert len(done["items"]) == 5
    assert (await api.client.get("/api/runs", params={"status": "failed"})).json()["items"] == []


async def test_answering_a_human_step_continues_the_run(api: Api) -> None:
    run = await _run(api, HUMAN_PLAN)
    assert run["status"] == "waiting_input"
    assert run["waiting"] == [
        {"step": "ask", "question": "Ship it?", "options": ["yes", "no"], "default": None}
    ]
    wrong = await api.client.post(
        f"/api/runs/{run['run_id']}/answers", json={"step": "ask", "value": "maybe"}
    )
    assert wrong.status_code == 409 and wrong.json()["error"]["code"] == "invalid_state"
    answered = await api.client.post(
        f"/api/runs/{run['run_id']}/answers", json={"step": "ask", "value": "yes"}
    )
    assert answered.status_code == 202
    final = await api.wait_status(run["run_id"])
    assert final["status"] == "succeeded"
    assert final["output"]["after"] == {"answer": {"answer": "yes"}}


async def test_cancel_and_resume_rules(api: Api) -> None:
    run = await _run(api, HUMAN_PLAN)
    cancelled = await api.client.post(f"/api/runs/{run['run_id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = await api.client.post(f"/api/runs/{run['run_id']}/cancel")
    assert again.status_code == 409
    resume = await api.client.post(f"/api/runs/{run['run_id']}/resume")
    assert resume.status_code == 409
    assert "fork it" in resume.json()["error"]["message"]


async def test_resume_takes_over_from_a_dead_executor_but_not_a_live_one(api: Api) -> None:
    plan = parse_plan(echo_plan())
    dead = subprocess.Popen(["true"])
    dead.wait(timeout=10)
    gone = await api.nx.start_run(plan, {})
    await api.nx.store.claim_run(gone.run_id, f"{socket.gethostname()}:{dead.pid}:old", 60)
    alive = await api.nx.start_run(plan, {})
    await api.nx.store.claim_run(alive.run_id, "elsewhere:1:live", 60)

    resumed = await api.client.post(f"/api/runs/{gone.run_id}/resume")
    assert resumed.status_code == 202, resumed.text
    assert (await api.wait_status(gone.run_id))["status"] == "succeeded"

    refused = await api.client.post(f"/api/runs/{alive.run_id}/resume")
    assert refused.status_code == 409
    assert refused.json()["error"]["details"] == {"holder": "elsewhere:1:live"}


async def test_checkpoint_restore_and_fork(api: Api) -> None:
    run = await _run(api, echo_plan(), inputs={"word": "one"})
    cp = await api.client.post(f"/api/runs/{run['run_id']}/checkpoints", json={"label": "v1"})
    assert cp.status_code == 201
    checkpoint = cp.json()
    assert checkpoint["label"] == "v1" and checkpoint["steps"] == 2
    listed = (await api.client.get(f"/api/runs/{run['run_id']}/checkpoints")).json()
    assert [c["checkpoint_id"] for c in listed] == [checkpoint["checkpoint_id"]]

    restored = await api.client.post(f"/api/checkpoints/{checkpoint['checkpoint_id']}/restore")
    assert restored.status_code == 201
    restored_run = await api.wait_status(restored.json()["run_id"])
    assert restored_run["status"] == "succeeded"
    assert restored_run["options"]["restored_from"] == checkpoint["checkpoint_id"]

    fork = await api.client.post(
        f"/api/runs/{run['run_id']}/forks", json={"from_step": "b", "set": {"word": "two"}}
    )
    assert fork.status_code == 201, fork.text
    child = await api.wait_status(fork.json()["run_id"])
    assert child["parent_run_id"] == run["run_id"] and child["forked_from_step"] == "b"
    # 'a' was copied (its output stays "one"); 'b' ran again
    assert child["output"] == {"a": {"message": "one"}, "b": {"seen": "one"}}
    events = (await api.client.get(f"/api/runs/{child['run_id']}/events")).json()["events"]
    started = [e["step_key"] for e in events if e["type"] == "step.started"]
    assert started == ["b"]
    missing = await api.client.post("/api/checkpoints/cp-nope/restore")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


async def test_artifacts_list_scratchpads_and_diffs_per_committed_step(api: Api) -> None:
    plan = {
        "name": "writer",
        "steps": {
            "notes": {
                "tool": "shell",
                "with": {"command": "mkdir -p scratchpads && echo '# plan' > scratchpads/aria.md"},
            },
            "code": {
                "needs": ["notes"],
                "tool": "shell",
                "with": {"command": "echo 'x = 1' > app.py"},
            },
        },
    }
    run = await _run(api, plan)
    assert run["status"] == "succeeded"
    artifacts = (await api.client.get(f"/api/runs/{run['run_id']}/artifacts")).json()
    assert artifacts["available"] is True
    assert [(s["path"], s["content"]) for s in artifacts["scratchpads"]] == [
        ("scratchpads/aria.md", "# plan\n")
    ]
    assert [(d["step_key"], d["files"]) for d in artifacts["diffs"]] == [
        ("notes", ["scratchpads/aria.md"]),
        ("code", ["app.py"]),
    ]
    assert "+x = 1" in artifacts["diffs"][1]["diff"]


async def test_plan_validation(api: Api) -> None:
    good = await api.client.post("/api/plans/validate", json={"plan": echo_plan()})
    assert good.json() == {"valid": True, "name": "echo-plan", "steps": ["a", "b"], "problems": []}
    yaml_text = "name: y\nsteps:\n  a: {tool: echo}\n  b: {needs: [zzz], tool: echo}\n"
    bad = (await api.client.post("/api/plans/validate", json={"plan": yaml_text})).json()
    assert bad["valid"] is False
    assert [(p["node"], p["kind"]) for p in bad["problems"]] == [("b", "unknown_need")]


async def test_runs_of_builtin_plans_by_name_and_bad_names(api: Api) -> None:
    bad = await api.client.post("/api/runs", json={"plan_name": "../etc"})
    assert bad.status_code == 400 and "plan_name" in bad.json()["error"]["message"]
    both = await api.client.post("/api/runs", json={"plan": echo_plan(), "plan_name": "software"})
    assert both.status_code == 400


async def test_concurrent_creates_all_finish(api: Api) -> None:
    responses = await asyncio.gather(
        *(api.client.post("/api/runs", json={"plan": echo_plan()}) for _ in range(8))
    )
    ids = [r.json()["run_id"] for r in responses]
    finals = [await api.wait_status(i) for i in ids]
    assert {f["status"] for f in finals} == {"succeeded"}
