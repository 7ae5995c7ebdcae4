"""Agent tools in a real workspace: files, search, commands, tests, messages, memory."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from nexus.agents.memory import AgentMemory
from nexus.agents.tools import TOOL_NAMES, Toolbox, ToolContext, ToolOutcome
from nexus.domain.messages import ToolCall
from nexus.errors import ConfigError

Events = list[tuple[str, dict[str, Any]]]


@pytest.fixture
def emitted() -> Events:
    return []


@pytest.fixture
def box(workspace: Path, nexus_home: Path, emitted: Events) -> Toolbox:
    ctx = ToolContext(
        agent_id="code",
        workspace=workspace,
        run_id="r1",
        step_key="implement",
        emit=lambda t, d: emitted.append((t, d)),
        home=nexus_home,
        known_agents=("aria", "code", "beta"),
    )
    return Toolbox(TOOL_NAMES, ctx)


async def call(box: Toolbox, tool: str, /, **arguments: Any) -> ToolOutcome:
    return await box.call(ToolCall(id=f"id-{tool}", name=tool, arguments=arguments))


def test_every_tool_has_a_json_schema(box: Toolbox) -> None:
    assert set(TOOL_NAMES) == {
        "list_files", "read_file", "write_file", "edit_file", "search", "run", "run_tests",
        "send_message", "write_scratchpad", "read_scratchpad", "remember", "recall",
    }  # fmt: skip
    for spec in box.specs:
        assert spec.parameters["type"] == "object"
        assert spec.parameters["additionalProperties"] is False
        assert spec.description


async def test_write_read_list(box: Toolbox, workspace: Path) -> None:
    wrote = await call(box, "write_file", path="pkg/mod.py", content="a = 1\nb = 2\nc = 3\n")
    assert wrote.ok and wrote.result.content.startswith("created pkg/mod.py (3 lines")
    assert (workspace / "pkg" / "mod.py").read_text() == "a = 1\nb = 2\nc = 3\n"
    again = await call(box, "write_file", path="pkg/mod.py", content="x = 0\n")
    assert again.result.content.startswith("overwrote pkg/mod.py (1 lines")
    await call(box, "write_file", path="pkg/mod.py", content="a = 1\nb = 2\nc = 3\n")

    whole = await call(box, "read_file", path="pkg/mod.py")
    assert whole.result.content == (
        "pkg/mod.py, lines 1-3 of 3:\n    1\ta = 1\n    2\tb = 2\n    3\tc = 3"
    )
    part = await call(box, "read_file", path="pkg/mod.py", start_line=2, end_line=2)
    assert part.result.content == "pkg/mod.py, lines 2-2 of 3:\n    2\tb = 2"
    assert part.summary == "read pkg/mod.py lines 2-2"
    past = await call(box, "read_file", path="pkg/mod.py", start_line=9)
    assert past.result.is_error and "has 3 lines" in past.result.content

    (workspace / "__pycache__").mkdir()
    (workspace / "__pycache__" / "x.pyc").write_bytes(b"\0")
    listing = await call(box, "list_files")
    assert listing.result.content.splitlines() == ["1 file(s) under .:", "pkg/mod.py"]
    missing = await call(box, "read_file", path="nope.py")
    assert missing.result.is_error and "nope.py does not exist" in missing.result.content


async def test_edit_file_needs_exactly_one_occurrence(box: Toolbox, workspace: Path) -> None:
    (workspace / "f.py").write_text("x = 1\ny = 1\nx = 1\n")
    twice = await call(box, "edit_file", path="f.py", old_text="x = 1", new_text="x = 2")
    assert twice.result.is_error
    assert "occurs 2 times in f.py" in twice.result.content
    never = await call(box, "edit_file", path="f.py", old_text="z = 1", new_text="z = 2")
    assert never.result.is_error and "does not occur in f.py (0 times)" in never.result.content
    once = await call(box, "edit_file", path="f.py", old_text="y = 1\nx", new_text="y = 5\nx")
    assert once.ok and "lines 2-3" in once.result.content
    assert (workspace / "f.py").read_text() == "x = 1\ny = 5\nx = 1\n"


async def test_search_answers_file_and_line_and_is_bounded(box: Toolbox, workspace: Path) -> None:
    (workspace / "a.py").write_text("def slugify():\n    pass\n")
    (workspace / "b.txt").write_text("\n".join(f"hit {i}" for i in range(30)))
    found = await call(box, "search", pattern=r"def \w+")
    assert found.result.content == "a.py:1: def slugify():"
    bounded = await call(box, "search", pattern="hit", max_results=5)
    lines = bounded.result.content.splitlines()
    assert lines[:2] == ["b.txt:1: hit 0", "b.txt:2: hit 1"]
    assert lines[-1].startswith("… 25 more matches not shown")
    assert bounded.summary == "search 'hit': 30 matches"
    only_py = await call(box, "search", pattern="hit", glob="*.py")
    assert only_py.result.content == "no matches for 'hit'"
    bad = await call(box, "search", pattern="(")
    assert bad.result.is_error and "invalid regular expression" in bad.result.content


async def test_paths_cannot_escape(box: Toolbox, workspace: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    os.symlink(outside, workspace / "link.txt")
    for path in ("../secret.txt", str(outside), "link.txt", ".git/config"):
        outcome = await call(box, "read_file", path=path)
        assert outcome.result.is_error, path
        assert "secret" not in outcome.result.content.replace("secret.txt", "")
    written = await call(box, "write_file", path="../evil.py", content="x")
    assert written.result.is_error and "outside the workspace" in written.result.content
    assert not (tmp_path / "evil.py").exists()
    listing = await call(box, "list_files")
    assert "link.txt" not in listing.result.content


async def test_run_reports_exit_code_and_output(box: Toolbox) -> None:
    ok = await call(box, "run", command="echo hello; echo oops >&2; exit 3")
    assert ok.ok  # a failing command is an answer, not a tool error
    assert ok.result.content.startswith("exit code 3 in ")
    assert "--- stdout ---\nhello" in ok.result.content
    assert "--- stderr ---\noops" in ok.result.content
    assert ok.summary == "ran 'echo hello; echo oops >&2; exit 3': exit code 3"
    slow = await call(box, "run", command="sleep 5", timeout_s=0.3)
    assert slow.result.is_error and "timed out after 0.3s" in slow.result.content


async def test_run_tests_gives_counts_and_keeps_the_result(box: Toolbox, workspace: Path) -> None:
    (workspace / "test_x.py").write_text(
        "def test_ok():\n    assert 1 == 1\n\ndef test_bad():\n    assert 1 == 2\n"
    )
    outcome = await call(box, "run_tests")
    assert outcome.ok
    assert outcome.summary == "tests: 1 passed, 1 failed, 0 errors"
    assert "FAILED" in outcome.result.content and "test_bad" in outcome.result.content
    tests = box.ctx.last_tests
    assert tests is not None
    assert (tests["passed"], tests["failed"], tests["errors"], tests["total"]) == (1, 1, 0, 2)
    one = await call(box, "run_tests", path="test_x.py", args=["-k", "ok"])
    assert one.summary == "tests: 1 passed, 0 failed, 0 errors"
    escape = await call(box, "run_tests", path="../elsewhere")
    assert escape.result.is_error


async def test_send_message_emits_and_logs(box: Toolbox, workspace: Path, emitted: Events) -> None:
    outcome = await call(
        box, "send_message", to="aria", type="request", priority="high", payload={"q": "why?"}
    )
    assert outcome.ok and "sent to aria (request, priority high)" in outcome.result.content
    [(kind, message)] = emitted
    assert kind == "message.sent"
    assert message["from"] == "code" and message["to"] == "aria"
    assert message["payload"] == {"q": "why?"} and message["response_to"] is None
    assert message["message_id"].startswith("msg_")
    logged = (workspace / "scratchpads" / "messages.jsonl").read_text().splitlines()
    assert json.loads(logged[0])["message_id"] == message["message_id"]
    nobody = await call(box, "send_message", to="zed", payload="hi")
    assert (
        nobody.result.is_error and "agents of this team: aria, code, beta" in nobody.result.content
    )
    bad_priority = await call(box, "send_message", to="aria", payload="x", priority="asap")
    assert bad_priority.result.is_error and "invalid arguments" in bad_priority.result.content


async def test_scratchpads(box: Toolbox, workspace: Path) -> None:
    empty = await call(box, "read_scratchpad")
    assert empty.result.content == "no scratchpads yet"
    await call(box, "write_scratchpad", name="aria_to_code", content="# Brief\n")
    await call(box, "write_scratchpad", name="aria_to_code.md", content="- more", append=True)
    assert (workspace / "scratchpads" / "aria_to_code.md").read_text() == "# Brief\n- more"
    read = await call(box, "read_scratchpad", name="scratchpads/aria_to_code.md")
    assert read.result.content == "scratchpads/aria_to_code.md:\n# Brief\n- more"
    listing = await call(box, "read_scratchpad")
    assert listing.result.content == "scratchpads/aria_to_code.md (14 bytes)"
    escape = await call(box, "write_scratchpad", name="../textkit/x.py", content="x")
    assert escape.result.is_error and not (workspace / "textkit").exists()


async def test_remember_and_recall(box: Toolbox, nexus_home: Path) -> None:
    await call(box, "remember", note="The project uses pytest with pythonpath set", tags=["tests"])
    await call(box, "remember", note="Slugs must never contain repeated dashes")
    await call(box, "remember", note="Prefer edit_file for one-line fixes")
    best = await call(box, "recall", query="repeated dashes in slugs")
    assert best.result.content.splitlines()[0].endswith("Slugs must never contain repeated dashes")
    by_tag = await call(box, "recall", query="tests")
    assert "[tests] The project uses pytest" in by_tag.result.content
    newest = await call(box, "recall", limit=1)
    assert newest.result.content.endswith("Prefer edit_file for one-line fixes")
    none = await call(box, "recall", query="kubernetes")
    assert none.result.content == "nothing remembered matches"
    memory = AgentMemory(nexus_home, "code")
    assert memory.path == nexus_home / "memory" / "agents" / "code.jsonl"
    assert len(memory.notes()) == 3
    assert AgentMemory(nexus_home, "beta").notes() == []  # per agent


async def test_tools_not_allowed_or_with_bad_arguments_answer_errors(workspace: Path) -> None:
    box = Toolbox(["read_file"], ToolContext(agent_id="beta", workspace=workspace))
    refused = await call(box, "write_file", path="x", content="y")
    assert refused.result.is_error
    assert refused.result.content == (
        "error: tool 'write_file' is not available to you (allowed: read_file)"
    )
    assert not (workspace / "x").exists()
    bad = await call(box, "read_file", start_line=0)
    assert bad.result.is_error
    assert "'path' is a required property" in bad.result.content
    assert "$.start_line: 0 is less than the minimum of 1" in bad.result.content
    with pytest.raises(ConfigError, match="unknown tool 'fly'"):
        Toolbox(["fly"], ToolContext(agent_id="a"))


async def test_no_workspace_is_an_error_result() -> None:
    box = Toolbox(["list_files"], ToolContext(agent_id="a", step_key="s"))
    outcome = await call(box, "list_files")
    assert outcome.result.is_error and "has no workspace" in outcome.result.content


async def test_long_files_are_read_in_pages(box: Toolbox, workspace: Path) -> None:
    (workspace / "long.txt").write_text("\n" * 2500)
    first = await call(box, "read_file", path="long.txt")
    lines = first.result.content.splitlines()
    assert lines[0] == "long.txt, lines 1-2000 of 2500:"  # at most 2000 lines a read
    assert lines[-1] == "… 500 more lines (read with start_line=2001)"
    rest = await call(box, "read_file", path="long.txt", start_line=2001)
    assert rest.result.content.splitlines()[-1] == " 2500\t"
    (workspace / "wide.txt").write_text("".join("x" * 99 + "\n" for _ in range(400)))
    wide = await call(box, "read_file", path="wide.txt")
    head = wide.result.content.splitlines()
    assert head[0] == "wide.txt, lines 1-150 of 400:"  # and at most 16,000 characters
    assert head[-1] == "… 250 more lines (read with start_line=151)"
