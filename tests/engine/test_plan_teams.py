"""A plan's ``team:`` file brings its own agents; the run keeps using them after a restart."""

from __future__ import annotations

from pathlib import Path

from nexus.domain.runs import RunStatus
from nexus.runtime import Nexus
from nexus.testing import ScriptedModel, tool_call

TEAM = """
agents:
  - id: reviewer
    name: Rex
    role: reviewer
    description: You review changes and say whether they are good.
    persona: {traits: [careful], communication_style: terse}
    tools: [list_files, read_file]
    model: scripted:reviewer
"""

PLAN = """
name: review
team: ./team.yaml
steps:
  review: {agent: reviewer, prompt: "Review the workspace"}
"""


async def test_plan_team_file_is_loaded_and_survives_a_restart(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(TEAM)
    (tmp_path / "plan.yaml").write_text(PLAN)
    model = ScriptedModel([tool_call("list_files", path="."), "Looks good.\nCONFIDENCE: 0.9"])
    first = await Nexus.open()
    plan = first.load_plan(tmp_path / "plan.yaml")
    run = await first.start_run(plan, {}, plan_dir=tmp_path)
    await first.close()

    second = await Nexus.open()  # a fresh process knows only the built-in team
    second.services.models.register("scripted", lambda _name: model)
    done = await second.execute(run.run_id)
    await second.close()
    assert done.status == RunStatus.SUCCEEDED, done.error
    assert done.output["review"]["text"].startswith("Looks good.")
    assert done.output["review"]["confidence"] == 0.9
    assert [r.agent_id for r in model.requests] == ["reviewer", "reviewer"]


async def test_unknown_team_agent_is_a_plan_error(tmp_path: Path) -> None:
    (tmp_path / "team.yaml").write_text(TEAM)
    (tmp_path / "plan.yaml").write_text(PLAN.replace("agent: reviewer", "agent: nobody"))
    nx = await Nexus.open()
    try:
        nx.load_plan(tmp_path / "plan.yaml")
    except Exception as exc:
        assert "nobody" in str(exc)
    else:
        raise AssertionError("an unknown agent passed validation")
    finally:
        await nx.close()
