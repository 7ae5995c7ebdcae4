"""Prometheus metrics at /metrics: runs, steps, tokens, cost, HTTP latency by route."""

from __future__ import annotations

from tests.api.conftest import Api


async def test_metrics_count_runs_steps_tokens_cost_and_requests(api: Api) -> None:
    plan = {
        "name": "metered",
        "steps": {
            "a": {"agent": "code", "prompt": "go"},
            "b": {"needs": ["a"], "tool": "echo", "with": {"ok": True}},
        },
    }
    run_id = (await api.client.post("/api/runs", json={"plan": plan})).json()["run_id"]
    assert (await api.wait_status(run_id))["status"] == "succeeded"
    body = (await api.client.get("/metrics")).text
    samples = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line and not line.startswith("#")
    }
    assert samples["nexus_runs_started_total"] == 1
    assert samples['nexus_runs_finished_total{status="succeeded"}'] == 1
    assert samples['nexus_model_tokens_total{model="function:test",type="input"}'] == 100
    assert samples['nexus_model_tokens_total{model="function:test",type="output"}'] == 20
    assert samples['nexus_model_cost_usd_total{model="function:test"}'] == 0.01
    assert samples['nexus_model_calls_total{model="function:test"}'] == 1
    assert samples['nexus_step_duration_seconds_count{kind="agent",status="succeeded"}'] == 1
    assert samples['nexus_step_duration_seconds_count{kind="tool",status="succeeded"}'] == 1
    created = (
        'nexus_http_request_duration_seconds_count{method="POST",route="/api/runs",status="201"}'
    )
    assert samples[created] == 1
    by_template = [k for k in samples if 'route="/api/runs/{run_id}"' in k and "_count" in k]
    assert by_template and samples["nexus_runs_executing"] == 0
