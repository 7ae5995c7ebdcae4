"""An agent's ``fallbacks:`` list: when its model fails for good, the next one answers."""

from __future__ import annotations

from pathlib import Path

from nexus.agents.definition import AgentDefinition
from nexus.domain.messages import ModelRequest, ModelResponse
from nexus.domain.runs import RunStatus
from nexus.engine.plan_loader import parse_plan
from nexus.providers.errors import CreditExhausted
from nexus.runtime import Nexus
from nexus.testing import FunctionModel, ScriptedModel


def test_model_chain_names_a_fallback_chain() -> None:
    agent = AgentDefinition.model_validate(
        {"id": "dev", "name": "Dev", "role": "developer", "fallbacks": ["b:two", "c:three"]}
    )
    assert agent.model_chain("a:one") == "fallback:a:one,b:two,c:three"
    plain = AgentDefinition.model_validate({"id": "x", "name": "X", "role": "developer"})
    assert plain.model_chain("a:one") == "a:one"


async def test_agent_step_falls_back_when_credit_runs_out(tmp_path: Path) -> None:
    calls: list[str] = []

    def broke(request: ModelRequest) -> ModelResponse:
        calls.append(request.model)
        raise CreditExhausted(
            "credit balance is too low",
            provider="primary",
            endpoint="http://127.0.0.1:9",
            status=402,
        )

    backup = ScriptedModel(["Done by the backup.\nCONFIDENCE: 0.8"])
    nx = await Nexus.open()
    try:
        nx.services.models.register("primary", lambda _m: FunctionModel(broke))
        nx.services.models.register("backup", lambda _m: backup)
        nx.services.agents.register(
            AgentDefinition.model_validate(
                {
                    "id": "dev",
                    "name": "Dev",
                    "role": "developer",
                    "model": "primary:big",
                    "fallbacks": ["backup:small"],
                }
            )
        )
        plan = parse_plan({"name": "fb", "steps": {"work": {"agent": "dev", "prompt": "Work."}}})
        run = await nx.start_run(plan, {}, workspace=tmp_path / "ws")
        done = await nx.execute(run.run_id)
    finally:
        await nx.close()
    assert done.status == RunStatus.SUCCEEDED, done.error
    assert done.output["work"]["text"].startswith("Done by the backup.")
    assert len(calls) == 1 and len(backup.requests) == 1
