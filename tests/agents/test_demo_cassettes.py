"""The recorded team conversations, replayed step by step through the real agent handler.

The model answers come from the cassettes (offline provider); everything else is real:
files are written in a git workspace, pytest runs, and the failure count of each
validation round comes from that real run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nexus.domain.plan import AgentNode, LoopNode
from nexus.engine.plan_loader import load_plan_file
from nexus.handlers.agent import AgentHandler
from nexus.handlers.base import StepContext, StepResult
from nexus.providers.cassette import load_cassette
from nexus.providers.offline import bundled_cassette_dir
from nexus.services import Services

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "slugify"
BUILTIN_PLAN = Path(__file__).resolve().parents[2] / "src/nexus/agents/builtin/software_plan.yaml"

MakeServices = Callable[..., Services]
Events = list[tuple[str, str, dict[str, Any]]]


def _git(path: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=path, check=True, timeout=30, capture_output=True)


def _agent_node(step_key: str) -> AgentNode:
    """The plan node a step key runs (``validate[2]/fix`` → the loop's ``fix``)."""
    plan = load_plan_file(EXAMPLE / "plan.yaml")
    head, _, child = step_key.partition("/")
    node = plan.steps[head.split("[")[0]]
    if isinstance(node, LoopNode):
        node = node.loop.steps[child]
    assert isinstance(node, AgentNode)
    return node


class Team:
    """Runs agent steps of the software plan in one workspace, collecting events."""

    def __init__(self, services: Services, workspace: Path, inputs: dict[str, Any]) -> None:
        self.services = services
        self.workspace = workspace
        self.inputs = inputs
        self.events: Events = []

    async def step(self, step_key: str) -> StepResult:
        node = _agent_node(step_key)
        ctx = StepContext(
            run_id="demo",
            step_key=step_key,
            kind="agent",
            name="agent",
            params={
                "agent": node.agent,
                "prompt": node.prompt,
                "tools": list(node.tools) if node.tools is not None else None,
                "max_turns": node.max_turns,
                "model": node.model,
            },
            inputs=self.inputs,
            workspace=str(self.workspace),
            emit=lambda kind, data: self.events.append((step_key, kind, data)),
            services=self.services,
        )
        result = await AgentHandler().run(ctx)
        _git(self.workspace, "add", "-A")
        _git(self.workspace, "commit", "-q", "--allow-empty", "-m", step_key)
        return result

    def of(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        return [(step, data) for step, k, data in self.events if k == kind]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    workspace = tmp_path / "ws"
    shutil.copytree(
        EXAMPLE / "project", workspace, ignore=shutil.ignore_patterns("__pycache__", ".pytest_*")
    )
    _git(workspace, "init", "-q")
    _git(workspace, "add", "-A")
    _git(workspace, "commit", "-q", "-m", "seed")
    return workspace


async def test_slugify_cassette_fails_once_then_passes(
    project: Path, make_services: MakeServices
) -> None:
    plan = load_plan_file(EXAMPLE / "plan.yaml")
    task = plan.inputs["task"].default
    team = Team(
        make_services(),  # the default registry: the offline provider
        project,
        {"task": task, "max_fix_rounds": 3, "_cassette_dirs": [str(EXAMPLE / "cassettes")]},
    )

    analyse = await team.step("analyse")
    brief = (project / "scratchpads" / "aria_to_code.md").read_text()
    assert "## Required behaviour" in brief and "ONE dash" in brief
    assert analyse.output["confidence"] == 0.9

    await team.step("implement")
    assert 'r"[^a-z0-9]"' in (project / "textkit" / "slug.py").read_text()  # the recorded bug
    assert "from textkit.slug import slugify" in (project / "textkit" / "__init__.py").read_text()

    await team.step("write_tests")
    assert (project / "tests" / "test_slug.py").is_file()

    round1 = await team.step("validate[1]/test")
    tests1 = round1.output["tests"]
    assert (tests1["passed"], tests1["failed"], tests1["errors"], tests1["total"]) == (14, 1, 0, 15)
    [failure] = tests1["failures"]
    assert failure["test"].endswith("test_collapses_repeated_separators")
    assert "hello---world----again" in tests1["report"]

    fix = await team.step("validate[1]/fix")
    assert 'r"[^a-z0-9]+"' in (project / "textkit" / "slug.py").read_text()
    assert fix.output["turns"] == 4

    round2 = await team.step("validate[2]/test")
    tests2 = round2.output["tests"]
    assert (tests2["passed"], tests2["failed"], tests2["errors"], tests2["total"]) == (15, 0, 0, 15)

    verdict = await team.step("verdict")
    assert "Verdict: done" in verdict.output["text"]
    assert (project / "scratchpads" / "beta_to_aria.md").read_text().startswith("# Beta → Aria")
    [(_, message)] = team.of("message.sent")
    assert (message["from"], message["to"], message["type"]) == ("beta", "aria", "response")

    # every recorded tool call worked against the real workspace
    failed_calls = [(s, d["tool"], d["summary"]) for s, d in team.of("tool.called") if not d["ok"]]
    assert failed_calls == []
    # every interaction of the cassette was used, each exactly once, all from this cassette
    used = [(d["agent"], s, d["turn"]) for s, d in team.of("model.responded")]
    cassette = load_cassette(EXAMPLE / "cassettes" / "slugify.yaml")
    assert sorted(used) == sorted((i.agent, i.step, i.turn) for i in cassette.interactions)
    assert {d["response"]["provider_meta"]["cassette"] for _, d in team.of("model.responded")} == {
        "slugify.yaml"
    }
    # the replay has a realistic, nonzero cost, labelled as the offline model
    cost = sum(d["cost_usd"] for _, d in team.of("usage.recorded"))
    assert 0.1 < cost < 0.5
    assert {d["model"] for _, d in team.of("usage.recorded")} == {"offline:replay"}
    assert team.services.agents.stats("beta").steps == 3


async def test_hello_cassette_for_free_text_runs_in_an_empty_workspace(
    tmp_path: Path, make_services: MakeServices
) -> None:
    workspace = tmp_path / "empty"
    workspace.mkdir()
    _git(workspace, "init", "-q")
    cassette = load_cassette(bundled_cassette_dir() / "hello.yaml")
    team = Team(make_services(), workspace, {"task": cassette.task, "max_fix_rounds": 3})
    for step in ("analyse", "implement", "write_tests"):
        await team.step(step)
    round1 = await team.step("validate[1]/test")
    assert (round1.output["tests"]["passed"], round1.output["tests"]["failed"]) == (3, 0)
    await team.step("verdict")
    assert all(d["ok"] for _, d in team.of("tool.called"))
    used = sorted((d["agent"], s, d["turn"]) for s, d in team.of("model.responded"))
    assert used == sorted((i.agent, i.step, i.turn) for i in cassette.interactions)


def test_example_plan_runs_the_builtin_steps() -> None:
    example = load_plan_file(EXAMPLE / "plan.yaml")
    builtin = load_plan_file(BUILTIN_PLAN)
    assert example.steps == builtin.steps
    assert example.workspace is not None and example.workspace.seed == "project"
    assert example.team == builtin.team == "builtin:software"
    task = example.inputs["task"].default
    assert load_cassette(EXAMPLE / "cassettes" / "slugify.yaml").task == task


def test_example_project_alone_has_four_passing_tests() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=EXAMPLE / "project",
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert "4 passed" in result.stdout, result.stdout + result.stderr
