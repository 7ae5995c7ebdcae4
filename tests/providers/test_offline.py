"""The offline provider: stateless replay, search order, and the no-recording error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nexus.domain.messages import Message, ModelRequest
from nexus.errors import NoRecordingError
from nexus.providers import OfflineProvider, bundled_cassette_dir, default_registry

CASSETTE = """\
task: Add a greeting
interactions:
  - {agent: code, step: implement, turn: 1,
     response: {text: "Reading.", tool_calls: [{name: list_files, arguments: {}}],
                usage: {input_tokens: 2000, output_tokens: 100}}}
  - {agent: code, step: implement, turn: 2,
     response: {text: "Done.", usage: {input_tokens: 3000, output_tokens: 50}}}
  - {agent: beta, step: "validate[2]/test", turn: 1,
     response: {text: "All green.", usage: {input_tokens: 10, output_tokens: 5}}}
"""


def _request(task: str | None, agent: str, step: str, turn: int, **meta: Any) -> ModelRequest:
    return ModelRequest(
        model="offline:replay",
        messages=(Message.text("user", "whatever the prompt says"),),
        agent_id=agent,
        step_key=step,
        metadata={"task": task, "turn": turn, **meta},
    )


@pytest.fixture
def cassettes(tmp_path: Path) -> Path:
    folder = tmp_path / "cassettes"
    folder.mkdir()
    (folder / "greeting.yaml").write_text(CASSETTE)
    return folder


async def test_replays_by_task_agent_step_and_turn(cassettes: Path) -> None:
    provider = OfflineProvider(cassette_dirs=[cassettes])
    first = await provider.complete(_request("Add a greeting", "code", "implement", 1))
    assert first.message.text_content == "Reading."
    assert [c.name for c in first.message.tool_calls] == ["list_files"]
    assert first.model == "offline:replay"
    assert first.usage.input_tokens == 2000
    # priced by the table: 2000 * 2.50/M + 100 * 10/M
    assert first.usage.cost_usd == pytest.approx(0.006)
    assert first.provider_meta["offline"] is True
    assert first.provider_meta["cassette"] == "greeting.yaml"
    second = await provider.complete(_request("  add a GREETING ", "code", "implement", 2))
    assert second.message.text_content == "Done."
    loop_step = await provider.complete(_request("Add a greeting", "beta", "validate[2]/test", 1))
    assert loop_step.message.text_content == "All green."


async def test_matching_is_stateless(cassettes: Path) -> None:
    """The same request gets the same answer, in any order, from any instance (resume)."""
    request = _request("Add a greeting", "code", "implement", 2)
    a = await OfflineProvider(cassette_dirs=[cassettes]).complete(request)
    b = await OfflineProvider(cassette_dirs=[cassettes]).complete(request)
    assert a.message == b.message


async def test_plan_dirs_from_request_metadata(cassettes: Path) -> None:
    provider = OfflineProvider(cassette_dirs=[])
    with pytest.raises(NoRecordingError):
        await provider.complete(_request("Add a greeting", "code", "implement", 1))
    found = await provider.complete(
        _request("Add a greeting", "code", "implement", 1, cassette_dirs=[str(cassettes)])
    )
    assert found.message.text_content == "Reading."


async def test_env_dirs_come_first(
    cassettes: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "env"
    other.mkdir()
    (other / "g.yaml").write_text(CASSETTE.replace("Reading.", "From the environment."))
    monkeypatch.setenv("NEXUS_CASSETTES", f"{other}{__import__('os').pathsep}{tmp_path / 'none'}")
    provider = default_registry().get("offline:replay")
    reply = await provider.complete(
        _request("Add a greeting", "code", "implement", 1, cassette_dirs=[str(cassettes)])
    )
    assert reply.message.text_content == "From the environment."


async def test_no_recording_says_what_to_configure(cassettes: Path) -> None:
    provider = OfflineProvider(cassette_dirs=[cassettes])
    with pytest.raises(NoRecordingError) as info:
        await provider.complete(_request("Build a compiler", "aria", "analyse", 1))
    message = info.value.message
    assert "no recording for this task (agent aria, step analyse, turn 1)" in message
    assert "NEXUS_DEFAULT_MODEL=openai:gpt-4o-mini" in message
    assert "docs/providers.md" in message
    assert info.value.retryable is False
    assert info.value.details["task"] == "Build a compiler"


async def test_a_run_that_diverged_is_told_so(cassettes: Path) -> None:
    provider = OfflineProvider(cassette_dirs=[cassettes])
    with pytest.raises(NoRecordingError, match="went another way than the recording"):
        await provider.complete(_request("Add a greeting", "code", "implement", 3))


async def test_bundled_cassette_answers_its_free_text_task() -> None:
    assert (bundled_cassette_dir() / "hello.yaml").is_file()
    provider = OfflineProvider(cassette_dirs=[])
    task = (
        "Create hello.py with a function greet(name) that returns 'Hello, <name>!',"
        " with pytest tests"
    )
    reply = await provider.complete(_request(task, "aria", "analyse", 1))
    assert [c.name for c in reply.message.tool_calls] == ["list_files"]
    no_bundle = OfflineProvider(cassette_dirs=[], include_bundled=False)
    with pytest.raises(NoRecordingError):
        await no_bundle.complete(_request(task, "aria", "analyse", 1))


async def test_stream_gives_the_same_answer(cassettes: Path) -> None:
    provider = OfflineProvider(cassette_dirs=[cassettes])
    chunks = [c async for c in provider.stream(_request("Add a greeting", "code", "implement", 1))]
    assert [c.type for c in chunks] == ["text", "tool_call", "done"]
    assert chunks[-1].usage is not None and chunks[-1].usage.output_tokens == 100


async def test_edited_cassette_is_reloaded(cassettes: Path) -> None:
    provider = OfflineProvider(cassette_dirs=[cassettes])
    request = _request("Add a greeting", "code", "implement", 2)
    assert (await provider.complete(request)).message.text_content == "Done."
    (cassettes / "greeting.yaml").write_text(CASSETTE.replace("Done.", "Finished, really."))
    assert (await provider.complete(request)).message.text_content == "Finished, really."
