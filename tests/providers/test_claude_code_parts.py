"""The claude_code provider's parts that need no CLI run: the command line it builds, limits,
prompts, tools, environment, result reading, error mapping and the doctor's status."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from nexus.domain.messages import ImagePart, Message, ModelRequest, ToolResult, ToolSpec
from nexus.errors import ConfigError, ModelError
from nexus.providers.claude_code import ClaudeCodeConfig, ClaudeCodeProvider
from nexus.providers.claude_code_cli import (
    ClaudeCodeAPIError,
    ClaudeCodeError,
    ClaudeCodeLimitReached,
    ClaudeCodeNotInstalled,
    ClaudeCodeNotLoggedIn,
    ClaudeCodeUnreachable,
    call_cost,
    cli_status,
    error_from_result,
    usage_from_result,
)
from nexus.providers.claude_code_request import (
    call_limits,
    claude_tools,
    cli_environment,
    split_prompt,
)

MODEL = "claude_code:sonnet"


def request(*messages: Message, tools: tuple[str, ...] = (), **metadata: Any) -> ModelRequest:
    return ModelRequest(
        model=MODEL,
        messages=messages,
        tools=tuple(ToolSpec(name=t, description=t, parameters={}) for t in tools),
        agent_id="code",
        run_id="run1",
        step_key="implement",
        metadata=metadata,
    )


SYSTEM = Message.text("system", "You are Code.")
ASK = Message.text("user", "Fix the bug.")


# -- the command line ------------------------------------------------------------------------


def command(provider: ClaudeCodeProvider, req: ModelRequest, resume: str | None) -> list[str]:
    sdk = pytest.importorskip("claude_agent_sdk._internal.transport.subprocess_cli")
    limits = call_limits(req, provider.config)
    options = provider.options(req, limits, "/tmp/work", resume)
    assert options.cwd == "/tmp/work"
    transport = sdk.SubprocessCLITransport(prompt="x", options=options)
    return list(transport._build_command())


def flag(cmd: list[str], name: str) -> str:
    return cmd[cmd.index(name) + 1]


def test_every_call_passes_max_turns_and_max_budget_from_the_agents_limits() -> None:
    provider = ClaudeCodeProvider(MODEL)
    req = request(
        SYSTEM, ASK, tools=("read_file", "run"), agent_limits={"max_turns": 7, "budget_usd": 0.3}
    )
    cmd = command(provider, req, None)

    assert flag(cmd, "--max-turns") == "7"
    assert flag(cmd, "--max-budget-usd") == "0.3"
    assert flag(cmd, "--model") == "sonnet"
    assert flag(cmd, "--output-format") == "stream-json"
    assert flag(cmd, "--tools") == "Read,Bash"
    assert flag(cmd, "--allowedTools") == "Read,Bash"
    assert flag(cmd, "--permission-mode") == "dontAsk"
    assert flag(cmd, "--append-system-prompt") == "You are Code."
    assert not any(c.startswith("--resume") for c in cmd)


def test_without_agent_limits_the_configured_defaults_are_passed() -> None:
    provider = ClaudeCodeProvider(MODEL, config=ClaudeCodeConfig(max_turns=5, budget_usd=1.25))
    cmd = command(provider, request(SYSTEM, ASK), None)
    assert flag(cmd, "--max-turns") == "5"
    assert flag(cmd, "--max-budget-usd") == "1.25"
    assert flag(cmd, "--tools") == ""  # an agent without tools gets none


def test_a_resumed_call_forks_the_newest_session() -> None:
    cmd = command(
        ClaudeCodeProvider(MODEL), request(SYSTEM, ASK), "1b5c6a7e-0000-4000-8000-00000000abcd"
    )
    assert "--resume=1b5c6a7e-0000-4000-8000-00000000abcd" in cmd
    assert "--fork-session" in cmd
    plain = ClaudeCodeProvider(MODEL, config=ClaudeCodeConfig(fork_on_resume=False))
    assert "--fork-session" not in command(plain, request(SYSTEM, ASK), "abc")


# -- limits, tools, environment ------------------------------------------------------------


def test_limits_come_from_agent_limits_then_metadata_then_config() -> None:
    config = ClaudeCodeConfig(max_turns=9, budget_usd=2.0, timeout_s=600, session_timeout_s=3600)
    nested = request(ASK, agent_limits={"max_turns": 3, "timeout_s": 45}, budget_usd=0.2)
    limits = call_limits(nested, config)
    assert (limits.max_turns, limits.budget_usd, limits.timeout_s) == (3, 0.2, 45.0)
    assert limits.session_timeout_s == 3600
    ignored = request(ASK, agent_limits={"max_turns": True, "budget_usd": -1, "timeout_s": None})
    assert call_limits(ignored, config) == call_limits(request(ASK), config)


def test_nexus_tools_map_to_claude_code_tools() -> None:
    req = request(ASK, tools=("list_files", "read_file", "edit_file", "run", "run_tests", "recall"))
    assert claude_tools(req, ClaudeCodeConfig()) == ["Glob", "Read", "Edit", "Bash"]
    assert claude_tools(req, ClaudeCodeConfig(tools=("Read",))) == ["Read"]


def test_the_cli_environment_bounds_retries_and_api_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("API_TIMEOUT_MS", raising=False)
    monkeypatch.delenv("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", raising=False)
    config = ClaudeCodeConfig(max_retries=0, env={"ANTHROPIC_BASE_URL": "http://127.0.0.1:1"})
    env = cli_environment(config, call_limits(request(ASK, timeout_s=30), config))
    assert env == {
        "API_TIMEOUT_MS": "30000",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "CLAUDE_CODE_MAX_RETRIES": "0",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:1",
    }
    monkeypatch.setenv("API_TIMEOUT_MS", "5000")  # the operator's own setting wins
    assert "API_TIMEOUT_MS" not in cli_environment(config, call_limits(request(ASK), config))


def test_config_from_the_environment() -> None:
    config = ClaudeCodeConfig.from_env(
        {
            "NEXUS_CLAUDE_CODE_TIMEOUT_S": "90",
            "CLAUDE_CODE_MAX_RETRIES": "0",
            "NEXUS_CLAUDE_CODE_BUDGET_USD": "0.75",
        }
    )
    assert (config.timeout_s, config.max_retries, config.budget_usd) == (90.0, 0, 0.75)
    with pytest.raises(ConfigError, match="NEXUS_CLAUDE_CODE_TIMEOUT_S='soon' is not a number"):
        ClaudeCodeConfig.from_env({"NEXUS_CLAUDE_CODE_TIMEOUT_S": "soon"})


# -- prompts ---------------------------------------------------------------------------------


def test_the_prompt_is_what_follows_the_last_assistant_message() -> None:
    answered = Message.text("assistant", "Which bug?")
    follow_up = Message.text("user", "The one in slugify.")
    req = request(SYSTEM, ASK, answered, follow_up)

    assert split_prompt(req, fresh=False) == ("You are Code.", "The one in slugify.")
    _, fresh = split_prompt(req, fresh=True)  # no session to resume: quote the history
    assert fresh.startswith("Earlier in this conversation:\n[user] Fix the bug.")
    assert "[assistant] Which bug?" in fresh and fresh.endswith("Now:\nThe one in slugify.")


def test_tool_results_are_passed_as_text() -> None:
    result = Message(role="tool", parts=(ToolResult(tool_call_id="t1", content="3 passed"),))
    assert split_prompt(request(ASK, result), fresh=False)[1] == (
        "Fix the bug.\n\n[tool result t1]\n3 passed"
    )


def test_prompts_without_text_or_with_images_are_refused() -> None:
    with pytest.raises(ModelError, match="no user text"):
        split_prompt(request(SYSTEM, Message.text("assistant", "done")), fresh=False)
    picture = Message(role="user", parts=(ImagePart(data="aGk="),))
    with pytest.raises(ModelError, match="text only") as caught:
        split_prompt(request(picture), fresh=False)
    assert caught.value.retryable is False


# -- workspace and installation -----------------------------------------------------------------


def test_the_workspace_comes_from_the_request_or_the_runs_folder(tmp_path: Path) -> None:
    given = tmp_path / "given"
    given.mkdir()
    provider = ClaudeCodeProvider(MODEL, workspaces_dir=tmp_path / "workspaces")
    assert provider._workspace(request(ASK, workspace=str(given))) == str(given.resolve())

    (tmp_path / "workspaces" / "run1").mkdir(parents=True)
    assert provider._workspace(request(ASK)).endswith("workspaces/run1")

    with pytest.raises(ConfigError, match="needs the run's workspace"):
        ClaudeCodeProvider(MODEL)._workspace(request(ASK))


async def test_without_the_sdk_the_error_names_the_extra_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "claude_agent_sdk", None)
    monkeypatch.setitem(sys.modules, "nexus.providers._claude_code_run", None)
    with pytest.raises(ClaudeCodeNotInstalled, match=r"nexus-agents\[claude\]") as caught:
        await ClaudeCodeProvider(MODEL).complete(request(ASK, workspace=str(tmp_path)))
    assert caught.value.retryable is False


# -- reading the result --------------------------------------------------------------------------


def test_usage_reports_thinking_as_reasoning_tokens() -> None:
    usage = usage_from_result(
        {
            "input_tokens": 100,
            "output_tokens": 50,
            "cache_read_input_tokens": 7,
            "cache_creation_input_tokens": 3,
            "output_tokens_details": {"thinking_tokens": 20},
        },
        0.0123,
    )
    assert (usage.input_tokens, usage.output_tokens, usage.reasoning_tokens) == (100, 30, 20)
    assert (usage.cache_read_tokens, usage.cache_write_tokens) == (7, 3)
    assert usage.cost_usd == 0.0123


def test_the_cost_of_a_resumed_call_leaves_out_the_sessions_earlier_calls() -> None:
    call = {"input_tokens": 20, "output_tokens": 8}
    session = {"claude-sonnet-4-5": {"inputTokens": 60, "outputTokens": 24}}
    assert call_cost(0.0005, call, session, previous_total=0.0) == 0.0005
    assert call_cost(0.00054, call, session, previous_total=0.00036) == pytest.approx(0.00018)
    # a CLI whose total covers this call only
    this_call = {"claude-sonnet-4-5": {"inputTokens": 20, "outputTokens": 8}}
    assert call_cost(0.00018, call, this_call, previous_total=0.00036) == 0.00018


@pytest.mark.parametrize(
    ("data", "error", "retryable", "text"),
    [
        (
            {"result": "Not logged in · Please run /login"},
            ClaudeCodeNotLoggedIn,
            False,
            "logged in",
        ),
        (
            {"result": "Failed to authenticate. API Error: 401", "api_error_status": 401},
            ClaudeCodeNotLoggedIn,
            False,
            "ANTHROPIC_API_KEY",
        ),
        (
            {"result": "API Error: Connection refused", "api_error": "connection_failed"},
            ClaudeCodeUnreachable,
            True,
            "cannot reach its API at http://127.0.0.1:9",
        ),
        (
            {"result": "API Error: 529 busy", "api_error_status": 529},
            ClaudeCodeAPIError,
            True,
            "529",
        ),
        ({"result": "API Error: 402", "api_error_status": 402}, ClaudeCodeAPIError, False, "402"),
        ({"subtype": "error_max_turns"}, ClaudeCodeLimitReached, True, "--max-turns"),
        (
            {"subtype": "error_max_budget_usd", "errors": ["Reached maximum budget ($0.1)"]},
            ClaudeCodeLimitReached,
            False,
            "Reached maximum budget ($0.1)",
        ),
        ({"result": "something odd"}, ClaudeCodeError, True, "something odd"),
    ],
)
def test_error_results_map_to_model_errors(
    data: dict[str, Any], error: type[ClaudeCodeError], retryable: bool, text: str
) -> None:
    mapped = error_from_result(
        {"is_error": True, "subtype": "success", **data},
        where="model claude_code:sonnet, agent code",
        base_url="http://127.0.0.1:9",
    )
    assert type(mapped) is error
    assert isinstance(mapped, ModelError)
    assert mapped.retryable is retryable
    assert text in mapped.message
    assert "agent code" in mapped.message


def test_a_402_is_marked_as_credit_exhausted() -> None:
    mapped = error_from_result(
        {"is_error": True, "result": "API Error: 402", "api_error_status": 402},
        where="w",
        base_url=None,
    )
    assert mapped.details["credit_exhausted"] is True
    assert mapped.code == "credit_exhausted"


# -- doctor ----------------------------------------------------------------------------------


def test_status_says_whether_the_cli_is_found_and_logged_in_without_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("claude_agent_sdk")
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("NEXUS_CLAUDE_CODE_CLI", raising=False)
    config = tmp_path / "claude"
    config.mkdir()
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(config))

    out = cli_status()
    assert out["ok"] is False and out["logged_in"] is False
    assert "not logged in" in out["detail"] and "Claude Code CLI found" in out["detail"]

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret-value")
    out = cli_status()
    assert out["ok"] is True and "via ANTHROPIC_API_KEY" in out["detail"]
    assert "sk-ant-secret-value" not in repr(out)

    monkeypatch.delenv("ANTHROPIC_API_KEY")
    (config / ".credentials.json").write_text("{}")
    assert "credentials.json" in cli_status()["detail"]

    monkeypatch.setenv("NEXUS_CLAUDE_CODE_CLI", str(tmp_path / "no-such-claude"))
    out = cli_status()
    assert out["ok"] is False and "not found" in out["detail"]


def test_the_default_registry_makes_claude_code_providers_and_checks_them(
    nexus_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nexus.providers.registry import default_registry
    from nexus.settings import Settings

    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLAUDE_CONFIG_DIR", str(nexus_home / "no-claude-config"))
    monkeypatch.setenv("NEXUS_CLAUDE_CODE_TIMEOUT_S", "45")
    registry = default_registry(Settings())

    provider = registry.get("claude_code:opus")
    assert isinstance(provider, ClaudeCodeProvider)
    assert provider.sessions is not None and provider.sessions.root == nexus_home / "sessions"
    assert provider.config.timeout_s == 45.0
    report = registry.describe()["claude_code"]
    assert report["ok"] is False
    assert report["detail"].startswith("Claude Code CLI found (bundled)")
    assert "not logged in" in report["detail"]
