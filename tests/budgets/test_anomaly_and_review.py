"""Cost anomalies as events shown by ``nexus runs show``, and the low-confidence review (A6),
through the real runtime with a scripted model at the provider boundary."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nexus.cli.app import app
from nexus.domain.runs import RunStatus, StepStatus
from nexus.runtime import Nexus
from nexus.testing import ScriptedModel, registry_with, text

PRICE_IN, PRICE_OUT = 2.50 / 1e6, 10.00 / 1e6

ONE_STEP = """\
name: one-step
steps:
  analyse: {agent: aria, prompt: "Study the code"}
"""

REVIEWED = """\
name: reviewed
settings:
  default_retry: {max_attempts: 2, backoff: 0}
steps:
  implement: {agent: code, prompt: "Implement slugify"}
"""


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


def test_a_costly_step_is_a_cost_anomaly_in_runs_show_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEXUS_ANOMALY_WARMUP", "3")
    plan_file = write(tmp_path, "plan.yaml", ONE_STEP)
    cheap = {"input_tokens": 1000, "output_tokens": 100}  # $0.0035
    costly = {"input_tokens": 1000, "output_tokens": 2000}  # $0.0225
    replies = [text("Brief.", usage=cheap) for _ in range(4)] + [text("Brief.", usage=costly)]

    async def runs() -> list[str]:
        async with await Nexus.open() as nx:
            nx.services.models = registry_with(ScriptedModel(replies), "offline")
            plan = nx.load_plan(plan_file)
            ids = []
            for _ in replies:
                run = await nx.start_run(plan, {})
                run = await nx.execute(run.run_id)
                assert run.status == RunStatus.SUCCEEDED, run.error
                ids.append(run.run_id)
            return ids

    ids = asyncio.run(runs())
    shown = CliRunner().invoke(app, ["runs", "show", ids[-1], "--json"])
    assert shown.exit_code == 0, shown.output
    alerts: list[dict[str, Any]] = json.loads(shown.output)["alerts"]

    assert [(a["type"], a["scope"], a["step"]) for a in alerts] == [
        ("cost.anomaly", "step", "analyse"),
        ("cost.anomaly", "run", "analyse"),
    ]
    step, run = alerts
    usual = 1000 * PRICE_IN + 100 * PRICE_OUT
    assert step["key"] == "step:aria:offline:replay"
    assert (step["agent"], step["model"], step["samples"]) == ("aria", "offline:replay", 4)
    assert step["value_usd"] == pytest.approx(1000 * PRICE_IN + 2000 * PRICE_OUT)
    assert step["mean_usd"] == pytest.approx(usual)
    assert step["threshold_usd"] == pytest.approx(usual * 1.75)
    assert step["message"] == (
        "step:aria:offline:replay cost $0.0225, 6.4x its usual $0.0035"
        " (threshold $0.0061 over 4 samples)"
    )
    assert (run["key"], run["plan"], run["samples"]) == ("run:one-step", "one-step", 4)

    for earlier in ids[:-1]:
        quiet = CliRunner().invoke(app, ["runs", "show", earlier, "--json"])
        assert json.loads(quiet.output)["alerts"] == []
    text_view = CliRunner().invoke(app, ["runs", "show", ids[-1]])
    assert "alerts" in text_view.output and "cost.anomaly" in text_view.output


async def test_a_low_confidence_step_is_reviewed_and_approved(tmp_path: Path) -> None:
    model = ScriptedModel(
        [
            text("Implemented slugify.\nCONFIDENCE: 0.2", usage={"input_tokens": 1000}),
            text(
                "APPROVE: the change is small and correct.\nCONFIDENCE: 0.8",
                usage={"input_tokens": 400, "output_tokens": 50},
            ),
        ]
    )
    async with await Nexus.open() as nx:
        nx.services.models = registry_with(model, "offline")
        run = await nx.start_run(nx.load_plan(write(tmp_path, "plan.yaml", REVIEWED)), {})
        run = await nx.execute(run.run_id)
        assert run.status == RunStatus.SUCCEEDED, run.error
        (step,) = await nx.get_steps(run.run_id)
        events = await nx.read_events(run.run_id)

    review = step.output["review"]
    assert review == step.meta["review"]
    assert (review["agent"], review["reviewer"], review["verdict"]) == ("code", "prime", "approve")
    assert (review["confidence"], review["threshold"]) == (0.2, 0.3)
    assert review["reasons"] == "the change is small and correct."
    assert review["reviewer_confidence"] == 0.8
    review_cost = 400 * PRICE_IN + 50 * PRICE_OUT
    assert review["cost_usd"] == pytest.approx(review_cost)
    assert step.meta["cost_usd"] == pytest.approx(1000 * PRICE_IN + review_cost)
    assert step.meta["usage"]["input_tokens"] == 1400

    reviewer_request = model.requests[1]
    assert reviewer_request.agent_id == "prime" and reviewer_request.tools == ()
    asked = reviewer_request.messages[1].text_content
    assert "Implemented slugify." in asked and "confidence of 0.20" in asked
    assert "Implement slugify" in asked
    types = [e.type for e in events if e.step_key == "implement"]
    assert types.index("agent.review_requested") < types.index("agent.reviewed")
    assert types.index("agent.reviewed") < types.index("step.succeeded")
    requested = next(e for e in events if e.type == "agent.review_requested")
    assert requested.data == {
        "agent": "code",
        "reviewer": "prime",
        "confidence": 0.2,
        "threshold": 0.3,
    }
    (reviewed,) = nx.services.agents.outcomes("prime")
    assert (reviewed.success, reviewed.confidence, reviewed.step_key) == (True, 0.8, "implement")
    assert nx.services.agents.stats("code").successes == 1


async def test_a_rejected_review_fails_the_attempt_and_the_retry_gets_the_reasons(
    tmp_path: Path,
) -> None:
    model = ScriptedModel(
        [
            text("Implemented slugify.\nCONFIDENCE: 0.1"),
            text("REJECT: unicode input is not handled.\nCONFIDENCE: 0.9"),
            text("Handled unicode too.\nCONFIDENCE: 0.9"),
        ]
    )
    async with await Nexus.open() as nx:
        nx.services.models = registry_with(model, "offline")
        run = await nx.start_run(nx.load_plan(write(tmp_path, "plan.yaml", REVIEWED)), {})
        run = await nx.execute(run.run_id)
        (step,) = await nx.get_steps(run.run_id)
        events = await nx.read_events(run.run_id)

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert step.status == StepStatus.SUCCEEDED and step.attempt == 2
    assert "review" not in step.output  # the second answer was confident
    retrying = next(e for e in events if e.type == "step.retrying")
    assert retrying.data["error"]["code"] == "review_rejected"
    assert retrying.data["error"]["message"] == (
        "reviewer prime rejected the output of agent code in step 'implement'"
        " (confidence 0.10, below 0.30): unicode input is not handled."
    )
    retry_prompt = model.requests[2].messages[1].text_content
    assert "The previous attempt failed: reviewer prime rejected" in retry_prompt
    assert "unicode input is not handled." in retry_prompt


async def test_an_agent_without_another_reviewer_is_recorded_unreviewed(tmp_path: Path) -> None:
    plan = "name: solo\nsteps:\n  plan: {agent: prime, prompt: Plan it}\n"
    model = ScriptedModel([text("A plan.\nCONFIDENCE: 0.05")])
    async with await Nexus.open() as nx:
        nx.services.models = registry_with(model, "offline")
        run = await nx.start_run(nx.load_plan(write(tmp_path, "plan.yaml", plan)), {})
        run = await nx.execute(run.run_id)
        (step,) = await nx.get_steps(run.run_id)

    assert run.status == RunStatus.SUCCEEDED
    assert len(model.requests) == 1
    assert step.output["review"]["verdict"] == "unavailable"
    assert step.output["review"]["reasons"] == "no reviewer: 'prime' is the agent itself"
