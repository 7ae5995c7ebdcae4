"""An agent step on the claude_code provider: the agent handler drives the real Claude Code CLI
(against the fake Messages API on loopback) in the run's workspace, and the agent's next step
resumes its session."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus.agents.sessions import SessionStore
from nexus.handlers.agent import AgentHandler
from nexus.providers.claude_code import ClaudeCodeConfig, ClaudeCodeProvider
from nexus.providers.claude_code_cli import find_cli
from nexus.providers.registry import ModelRegistry
from tests.agents.conftest import Events, MakeCtx, MakeServices, git_init
from tests.providers.fakes.claude_code_api import FakeAnthropicAPI, Turn

pytest.importorskip("claude_agent_sdk")
if find_cli() is None:  # pragma: no cover - the SDK wheel carries the CLI
    pytest.skip("the Claude Code CLI is not bundled here", allow_module_level=True)

pytestmark = pytest.mark.timeout(60)
MODEL = "claude_code:claude-sonnet-4-5"


async def test_an_agent_step_runs_claude_code_in_the_workspace_and_the_next_step_resumes(
    tmp_path: Path,
    nexus_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    make_services: MakeServices,
    make_ctx: MakeCtx,
    events: Events,
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    workspaces = tmp_path / "workspaces"
    workspace = workspaces / "run1"
    workspace.mkdir(parents=True)
    git_init(workspace)
    cli_home = tmp_path / "cli-home"
    (cli_home / ".claude").mkdir(parents=True)
    with FakeAnthropicAPI(
        [
            Turn(text="Writing it.", tool=("Bash", {"command": "echo 'x = 1' > impl.py"})),
            Turn(text="Implemented impl.py.\nCONFIDENCE: 0.9", input_tokens=50, output_tokens=12),
            Turn(text="Fixed.\nCONFIDENCE: 0.8"),
        ]
    ) as fake:
        env = {
            "HOME": str(cli_home),
            "CLAUDE_CONFIG_DIR": str(cli_home / ".claude"),
            "ANTHROPIC_BASE_URL": fake.base_url,
            "ANTHROPIC_API_KEY": "sk-ant-test-dummy",
        }
        models = ModelRegistry()
        models.register(
            "claude_code",
            lambda model: ClaudeCodeProvider(
                f"claude_code:{model}",
                sessions=SessionStore(nexus_home / "sessions"),
                config=ClaudeCodeConfig(env=env, timeout_s=30),
                workspaces_dir=workspaces,
            ),
        )
        services = make_services(models)

        first = await AgentHandler().run(
            make_ctx(services, "code", model=MODEL, prompt="Add impl.py", workspace_dir=workspace)
        )
        second = await AgentHandler().run(
            make_ctx(services, "code", step="fix", model=MODEL, workspace_dir=workspace)
        )

        assert (workspace / "impl.py").read_text() == "x = 1\n"
        assert first.output["text"] == "Implemented impl.py."
        assert first.output["confidence"] == 0.9
        assert first.output["turns"] == 1  # Claude Code ran its own tool loop
        assert first.meta["usage"]["input_tokens"] == 70
        assert first.meta["cost_usd"] == pytest.approx(70 * 3e-6 + 20 * 15e-6, rel=1e-6)
        assert second.output["text"] == "Fixed."
        # the second step resumed the first step's session
        assert "Add impl.py" in repr(fake.message_requests[2].body["messages"])
        responded = [d for kind, d in events if kind == "model.responded"]
        sessions = [d["response"]["provider_meta"] for d in responded]
        assert sessions[1]["resumed_from"] == sessions[0]["session_id"]
        stored = SessionStore(nexus_home / "sessions").load("run1", "code")
        assert stored is not None
        assert stored.chain == [sessions[0]["session_id"], sessions[1]["session_id"]]
