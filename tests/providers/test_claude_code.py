"""The claude_code provider, with the real Claude Code CLI bundled in claude-agent-sdk talking
to a fake Anthropic Messages API on loopback (``ANTHROPIC_BASE_URL``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from nexus.agents.sessions import SessionStore
from nexus.domain.messages import Message, ModelRequest, ToolSpec
from nexus.providers.base import complete_via_stream
from nexus.providers.claude_code import ClaudeCodeConfig, ClaudeCodeProvider
from nexus.providers.claude_code_cli import (
    ClaudeCodeAPIError,
    ClaudeCodeLimitReached,
    ClaudeCodeNotLoggedIn,
    ClaudeCodeTimeout,
    ClaudeCodeUnreachable,
    find_cli,
)
from tests.providers.fakes.claude_code_api import FakeAnthropicAPI, Turn

pytest.importorskip("claude_agent_sdk")
if find_cli() is None:  # pragma: no cover - the SDK wheel carries the CLI
    pytest.skip("the Claude Code CLI is not bundled here", allow_module_level=True)

MODEL = "claude_code:claude-sonnet-4-5"
# claude-sonnet-4-5 list prices per token, as the CLI computes them
PRICE_IN, PRICE_OUT, PRICE_CACHE_READ, PRICE_CACHE_WRITE = 3e-6, 15e-6, 0.3e-6, 3.75e-6
TOOLS = tuple(
    ToolSpec(name=name, description=name, parameters={"type": "object"})
    for name in ("read_file", "write_file", "run")
)

pytestmark = pytest.mark.timeout(60)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake() -> Iterator[FakeAnthropicAPI]:
    with FakeAnthropicAPI() as server:
        yield server


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    folder = tmp_path / "workspace"
    folder.mkdir()
    return folder


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private home and CLI config folder; no credentials from the machine."""
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    home = tmp_path / "cli-home"
    (home / ".claude").mkdir(parents=True)
    return home


def cli_env(home: Path, base_url: str, key: str | None = "sk-ant-test-dummy") -> dict[str, str]:
    env = {
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "ANTHROPIC_BASE_URL": base_url,
    }
    if key is not None:
        env["ANTHROPIC_API_KEY"] = key
    return env


def make_provider(
    nexus_home: Path, env: dict[str, str], clock: Clock | None = None, **config: Any
) -> ClaudeCodeProvider:
    store = SessionStore(nexus_home / "sessions", clock=clock or time.time)
    settings: dict[str, Any] = {"timeout_s": 30.0, **config}
    return ClaudeCodeProvider(MODEL, sessions=store, config=ClaudeCodeConfig(env=env, **settings))


def request(
    text: str, workspace: Path, *, run_id: str | None = "run_cc1", **limits: Any
) -> ModelRequest:
    agent_limits = {"max_turns": 4, "budget_usd": 0.5, "timeout_s": 30, **limits}
    return ModelRequest(
        model=MODEL,
        messages=(Message.text("system", "You are Code, a developer."), Message.text("user", text)),
        tools=TOOLS,
        agent_id="code",
        run_id=run_id,
        step_key="implement",
        metadata={"workspace": str(workspace), "agent_limits": agent_limits},
    )


def said(seen: Any) -> str:
    """All the text a message request sent to the API (system prompt excluded)."""
    return repr(seen.body["messages"])


def transcripts(home: Path) -> list[str]:
    return sorted(p.stem for p in (home / ".claude" / "projects").glob("*/*.jsonl"))


# -- one turn ------------------------------------------------------------------------------


async def test_a_turn_returns_the_text_usage_and_cost_from_the_cli_result(
    fake: FakeAnthropicAPI, workspace: Path, cli_home: Path, nexus_home: Path
) -> None:
    fake.script(
        Turn(
            text="Hello from the fake model",
            input_tokens=120,
            output_tokens=30,
            cache_read_tokens=10,
            cache_write_tokens=5,
        )
    )
    provider = make_provider(nexus_home, cli_env(cli_home, fake.base_url))

    response = await provider.complete(request("Say hello", workspace))

    assert response.message.text_content == "Hello from the fake model"
    assert response.message.tool_calls == []
    assert response.stop_reason == "end_turn"
    usage = response.usage
    assert (usage.input_tokens, usage.output_tokens) == (120, 30)
    assert (usage.cache_read_tokens, usage.cache_write_tokens) == (10, 5)
    expected = 120 * PRICE_IN + 30 * PRICE_OUT + 10 * PRICE_CACHE_READ + 5 * PRICE_CACHE_WRITE
    assert usage.cost_usd == pytest.approx(expected, rel=1e-6)
    meta = response.provider_meta
    assert meta["resumed_from"] is None
    assert meta["chain_length"] == 1
    assert meta["cwd"] == str(workspace.resolve())
    # the CLI sent our prompt and our system text, and nothing it asked for was unknown
    (sent,) = fake.message_requests
    assert "Say hello" in said(sent)
    assert "You are Code, a developer." in repr(sent.body["system"])
    assert sent.body["model"] == "claude-sonnet-4-5"
    assert fake.unknown == []
    stored = provider.sessions.load("run_cc1", "code") if provider.sessions else None
    assert stored is not None and stored.chain == [meta["session_id"]]


async def test_the_cli_works_in_the_workspace_with_only_the_agents_tools(
    fake: FakeAnthropicAPI, workspace: Path, cli_home: Path, nexus_home: Path
) -> None:
    fake.script(
        Turn(text="Writing.", tool=("Bash", {"command": "echo made-by-cli > proof.txt"})),
        Turn(text="Done."),
        Turn(text="Trying.", tool=("Bash", {"command": "echo nope > refused.txt"})),
        Turn(text="Could not."),
    )
    provider = make_provider(nexus_home, cli_env(cli_home, fake.base_url))

    done = await provider.complete(request("Make proof.txt", workspace, run_id=None))
    assert done.message.text_content == "Done."
    assert (workspace / "proof.txt").read_text() == "made-by-cli\n"
    # the CLI offered the model exactly the tools that stand for read_file, write_file, run
    offered = {tool["name"] for tool in fake.message_requests[0].body["tools"]}
    assert offered == {"Read", "Write", "Bash"}
    assert done.usage.input_tokens == 40  # two API requests in one CLI call

    reader_only = request("Make refused.txt", workspace, run_id=None)
    reader_only = reader_only.model_copy(update={"tools": TOOLS[:1]})
    refused = await provider.complete(reader_only)
    assert refused.message.text_content == "Could not."
    assert not (workspace / "refused.txt").exists()
    (answer,) = fake.message_requests[3].body["messages"][-1]["content"]
    assert answer["type"] == "tool_result" and answer["is_error"] is True
    assert "No such tool available: Bash" in answer["content"]
    # the agent's budget reached the CLI as --max-budget-usd
    assert "/$0.5;" in answer["content"]


# -- sessions ------------------------------------------------------------------------------


async def test_the_next_turn_resumes_the_newest_session_also_after_a_restart(
    fake: FakeAnthropicAPI, workspace: Path, cli_home: Path, nexus_home: Path
) -> None:
    fake.script(Turn(text="first answer"), Turn(text="second answer"), Turn(text="third answer"))
    env = cli_env(cli_home, fake.base_url)
    provider = make_provider(nexus_home, env)

    first = await provider.complete(request("alpha", workspace))
    second = await provider.complete(request("beta", workspace))

    one, two = first.provider_meta["session_id"], second.provider_meta["session_id"]
    assert second.provider_meta["resumed_from"] == one
    assert two != one
    assert second.provider_meta["chain_length"] == 2
    assert provider.sessions is not None
    assert provider.sessions.load("run_cc1", "code").chain == [one, two]  # type: ignore[union-attr]
    # the second request carried the first exchange: the session was resumed
    assert "alpha" in said(fake.message_requests[1])
    assert "first answer" in said(fake.message_requests[1])
    # the resumed call costs its own tokens only, although the CLI reports a session total
    own = 20 * PRICE_IN + 8 * PRICE_OUT
    assert second.usage.cost_usd == pytest.approx(own, rel=1e-6)
    assert second.provider_meta["session_cost_usd"] == pytest.approx(2 * own, rel=1e-6)

    restarted = make_provider(nexus_home, env)  # a new process: only the files remain
    third = await restarted.complete(request("gamma", workspace))

    assert third.provider_meta["resumed_from"] == two
    assert "second answer" in said(fake.message_requests[2])
    chain = restarted.sessions.load("run_cc1", "code").chain  # type: ignore[union-attr]
    assert chain == [one, two, third.provider_meta["session_id"]]
    assert third.usage.cost_usd == pytest.approx(own, rel=1e-6)


async def test_concurrent_calls_of_one_agent_take_turns_on_its_session(
    fake: FakeAnthropicAPI, workspace: Path, cli_home: Path, nexus_home: Path
) -> None:
    provider = make_provider(nexus_home, cli_env(cli_home, fake.base_url))

    one, two = await asyncio.gather(
        provider.complete(request("alpha", workspace)),
        provider.complete(request("beta", workspace)),
    )

    first, second = sorted((one, two), key=lambda r: r.provider_meta["chain_length"])
    assert first.provider_meta["resumed_from"] is None
    assert second.provider_meta["resumed_from"] == first.provider_meta["session_id"]
    assert provider.sessions is not None
    stored = provider.sessions.load("run_cc1", "code")
    assert stored is not None and stored.calls == 2 and len(stored.chain) == 2


async def test_an_expired_session_is_cleaned_up_and_the_agent_starts_afresh(
    fake: FakeAnthropicAPI, workspace: Path, cli_home: Path, nexus_home: Path
) -> None:
    clock = Clock()
    provider = make_provider(nexus_home, cli_env(cli_home, fake.base_url), clock=clock)
    first = await provider.complete(request("alpha", workspace, session_timeout_s=60))
    old = first.provider_meta["session_id"]
    assert transcripts(cli_home) == [old]

    clock.now += 61
    fresh = await provider.complete(request("beta", workspace, session_timeout_s=60))

    assert fresh.provider_meta["session_expired"] == old
    assert fresh.provider_meta["resumed_from"] is None
    assert "alpha" not in said(fake.message_requests[1])
    new = fresh.provider_meta["session_id"]
    assert transcripts(cli_home) == [new]  # the expired chain's transcript is gone
    assert provider.sessions is not None
    assert provider.sessions.load("run_cc1", "code").chain == [new]  # type: ignore[union-attr]

    clock.now += 30
    assert provider.cleanup_expired() == []
    clock.now += 31
    (removed,) = provider.cleanup_expired()
    assert removed.chain == [new]
    assert provider.sessions.load("run_cc1", "code") is None
    assert transcripts(cli_home) == []


async def test_a_lost_transcript_starts_the_session_afresh(
    fake: FakeAnthropicAPI, workspace: Path, cli_home: Path, nexus_home: Path
) -> None:
    provider = make_provider(nexus_home, cli_env(cli_home, fake.base_url))
    first = await provider.complete(request("alpha", workspace))
    for path in (cli_home / ".claude" / "projects").glob("*/*.jsonl"):
        path.unlink()

    again = await provider.complete(request("beta", workspace))

    lost = first.provider_meta["session_id"]
    assert again.provider_meta["session_reset"] == f"transcript of {lost} not found; started afresh"
    assert again.provider_meta["resumed_from"] is None
    assert provider.sessions is not None
    stored = provider.sessions.load("run_cc1", "code")
    assert stored is not None and stored.chain == [again.provider_meta["session_id"]]


# -- limits --------------------------------------------------------------------------------


async def test_max_turns_and_budget_are_passed_and_enforced_by_the_cli(
    fake: FakeAnthropicAPI, workspace: Path, cli_home: Path, nexus_home: Path
) -> None:
    provider = make_provider(nexus_home, cli_env(cli_home, fake.base_url))
    busy = Turn(text="More.", tool=("Read", {"file_path": str(workspace / "x.txt")}))
    fake.script(busy, busy, busy)

    with pytest.raises(ClaudeCodeLimitReached, match="--max-turns") as turns:
        await provider.complete(request("loop", workspace, run_id=None, max_turns=1))
    assert turns.value.details["limit"] == "max_turns"
    assert turns.value.retryable

    fake.script(busy, busy, busy)
    with pytest.raises(ClaudeCodeLimitReached, match="--max-budget-usd") as budget:
        await provider.complete(request("spend", workspace, run_id=None, budget_usd=0.0001))
    assert budget.value.details["limit"] == "max_budget_usd"
    assert not budget.value.retryable


# -- failures ------------------------------------------------------------------------------


async def test_a_cli_that_is_not_logged_in_fails_at_once_saying_so(
    workspace: Path, cli_home: Path, nexus_home: Path
) -> None:
    provider = make_provider(nexus_home, cli_env(cli_home, "http://127.0.0.1:9", key=None))
    started = time.monotonic()
    with pytest.raises(ClaudeCodeNotLoggedIn, match="not logged in") as caught:
        await provider.complete(request("hello", workspace, timeout_s=20))
    assert time.monotonic() - started < 20
    assert "ANTHROPIC_API_KEY" in caught.value.message
    assert not caught.value.retryable


async def test_an_unreachable_api_fails_within_the_timeout_saying_so(
    workspace: Path, cli_home: Path, nexus_home: Path
) -> None:
    closed = "http://127.0.0.1:9"  # discard port: nothing listens on loopback
    provider = make_provider(nexus_home, cli_env(cli_home, closed))
    started = time.monotonic()
    with pytest.raises(ClaudeCodeUnreachable, match="cannot reach its API") as caught:
        await provider.complete(request("hello", workspace, timeout_s=20))
    assert time.monotonic() - started < 20
    assert closed in caught.value.message
    assert caught.value.retryable


async def test_an_api_that_never_answers_is_stopped_at_the_timeout(
    fake: FakeAnthropicAPI, workspace: Path, cli_home: Path, nexus_home: Path
) -> None:
    fake.script(Turn(text="fine"), Turn(hang=True), Turn(hang=True))
    provider = make_provider(nexus_home, cli_env(cli_home, fake.base_url))
    first = await provider.complete(request("hello", workspace))
    started = time.monotonic()
    with pytest.raises(ClaudeCodeTimeout, match="did not finish within 3s"):
        await provider.complete(request("and now?", workspace, timeout_s=3))
    elapsed = time.monotonic() - started
    assert 3 <= elapsed < 15
    # the CLI was killed, not left behind
    assert [p for p in psutil.Process().children(recursive=True) if "claude" in p.name()] == []
    # the killed call's session is not saved: the next turn resumes the last whole one
    assert provider.sessions is not None
    stored = provider.sessions.load("run_cc1", "code")
    assert stored is not None and stored.chain == [first.provider_meta["session_id"]]


@pytest.mark.parametrize(
    ("status", "kind", "error", "retryable"),
    [
        (401, "authentication_error", ClaudeCodeNotLoggedIn, False),
        (529, "overloaded_error", ClaudeCodeAPIError, True),
    ],
)
async def test_api_errors_map_to_model_errors(
    fake: FakeAnthropicAPI,
    workspace: Path,
    cli_home: Path,
    nexus_home: Path,
    status: int,
    kind: str,
    error: type[Exception],
    retryable: bool,
) -> None:
    fake.script(*[Turn(status=status, error_type=kind)] * 3)
    provider = make_provider(nexus_home, cli_env(cli_home, fake.base_url), max_retries=0)
    with pytest.raises(error) as caught:
        await provider.complete(request("hello", workspace))
    assert caught.value.retryable is retryable  # type: ignore[attr-defined]
    assert str(status) in str(caught.value)
    assert len(fake.message_requests) == 1  # CLAUDE_CODE_MAX_RETRIES=0: no retry


# -- streaming -----------------------------------------------------------------------------


async def test_stream_yields_text_deltas_then_usage_and_session(
    fake: FakeAnthropicAPI, workspace: Path, cli_home: Path, nexus_home: Path
) -> None:
    fake.script(Turn(text="A streamed answer in several pieces", output_tokens=9))
    provider = make_provider(nexus_home, cli_env(cli_home, fake.base_url))

    chunks = [c async for c in provider.stream(request("stream please", workspace))]

    deltas = [c.text for c in chunks if c.type == "text"]
    assert len(deltas) > 1
    assert "".join(deltas) == "A streamed answer in several pieces"
    final = chunks[-1]
    assert final.type == "done" and final.usage is not None
    assert final.usage.output_tokens == 9
    assert final.usage.cost_usd == pytest.approx(20 * PRICE_IN + 9 * PRICE_OUT, rel=1e-6)
    assert final.provider_meta is not None and final.provider_meta["chain_length"] == 1
    assert fake.message_requests[0].body["stream"] is True


async def test_complete_via_stream_gives_the_same_answer(
    fake: FakeAnthropicAPI, workspace: Path, cli_home: Path, nexus_home: Path
) -> None:
    fake.script(Turn(text="same either way"))
    provider = make_provider(nexus_home, cli_env(cli_home, fake.base_url))
    response = await complete_via_stream(provider, request("hi", workspace, run_id=None))
    assert response.message.text_content == "same either way"
    assert response.usage.input_tokens == 20
