"""Agent definitions, team files and the built-in software team."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus.agents.definition import AgentDefinition, builtin_team_names, load_team, parse_team
from nexus.agents.tools import TOOL_NAMES
from nexus.errors import ConfigError, NotFoundError


def test_builtin_software_team_has_the_five_agents_of_the_seed() -> None:
    team = load_team("builtin:software")
    assert list(team) == ["prime", "aria", "code", "alpha", "beta"]
    roles = {a.id: a.role for a in team.values()}
    assert roles == {
        "prime": "orchestrator",
        "aria": "coordinator",
        "code": "developer",
        "alpha": "test_creator",
        "beta": "test_validator",
    }
    aria, code, alpha, beta = team["aria"], team["code"], team["alpha"], team["beta"]
    assert aria.persona.traits == ("analytical", "organized", "strategic", "thorough")
    assert aria.persona.communication_style == "structured and methodical"
    assert code.persona.decision_making == "best practices with innovation"
    assert "Edge case identification" in alpha.persona.strengths
    assert beta.persona.preferences["workflow_style"] == (
        "automated execution with detailed reporting"
    )
    assert team["prime"].persona.traits == ("analytical", "decisive", "optimizing")


def test_builtin_tools_fit_the_roles() -> None:
    team = load_team("builtin:software")
    for agent in team.values():
        assert set(agent.tools) <= set(TOOL_NAMES)
    assert {"write_file", "edit_file", "run_tests"} <= set(team["code"].tools)
    assert "run_tests" in team["beta"].tools and "write_file" not in team["beta"].tools
    assert "write_file" not in team["aria"].tools and "write_scratchpad" in team["aria"].tools
    assert "write_file" in team["alpha"].tools


def test_builtin_team_names_and_unknown_builtin() -> None:
    assert builtin_team_names() == ["software"]
    with pytest.raises(NotFoundError, match="known: builtin:software"):
        load_team("builtin:marketing")


def test_team_file_list_or_mapping(tmp_path: Path) -> None:
    (tmp_path / "list.yaml").write_text(
        "- {id: solo, name: Solo, role: developer, tools: [read_file], model: 'openai:gpt-4o'}\n"
    )
    (tmp_path / "map.yaml").write_text(
        "agents:\n  - id: duo\n    name: Duo\n    role: reviewer\n"
        "    limits: {max_turns: 4, budget_usd: 0.25}\n    priority_mode: cost\n"
    )
    solo = load_team("list.yaml", tmp_path)["solo"]
    assert solo.tools == ("read_file",) and solo.model == "openai:gpt-4o"
    duo = load_team(str(tmp_path / "map.yaml"))["duo"]
    assert duo.limits.max_turns == 4 and duo.limits.budget_usd == 0.25
    assert duo.priority_mode == "cost"
    assert duo.session_timeout_s == 3600.0


def test_errors_name_the_file_and_the_agent(tmp_path: Path) -> None:
    bad_tool = tmp_path / "team.yaml"
    bad_tool.write_text("- {id: x, name: X, role: r, tools: [read_file, teleport]}\n")
    with pytest.raises(ConfigError) as info:
        load_team(str(bad_tool))
    assert str(bad_tool) in info.value.message
    assert "agent 'x'" in info.value.message
    assert "unknown tool(s) teleport" in info.value.message

    with pytest.raises(ConfigError, match=r"t.yaml: agent 'Bad Id': id: String should match"):
        parse_team([{"id": "Bad Id", "name": "B", "role": "r"}], source="t.yaml")
    with pytest.raises(ConfigError, match="agent 'a' is defined twice"):
        parse_team([{"id": "a", "name": "A", "role": "r"}] * 2)
    with pytest.raises(ConfigError, match="model 'gpt-4o' must be written as provider:model"):
        parse_team([{"id": "a", "name": "A", "role": "r", "model": "gpt-4o"}])
    with pytest.raises(ConfigError, match="system_prompt template"):
        parse_team([{"id": "a", "name": "A", "role": "r", "system_prompt": "{% if %}"}])
    with pytest.raises(ConfigError, match=r"persona\.mood: Extra inputs"):
        parse_team([{"id": "a", "name": "A", "role": "r", "persona": {"mood": "x"}}])
    with pytest.raises(NotFoundError, match="does not exist"):
        load_team("missing.yaml", tmp_path)
    with pytest.raises(ConfigError, match="non-empty list of agents"):
        parse_team({"agents": []})


def test_definition_is_frozen() -> None:
    agent = AgentDefinition(id="a", name="A", role="r")
    with pytest.raises(ValueError):
        agent.name = "B"  # type: ignore[misc]
