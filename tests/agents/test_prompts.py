"""System prompts, user messages and the confidence line."""

from __future__ import annotations

import pytest

from nexus.agents.definition import AgentDefinition, load_team
from nexus.agents.prompts import (
    DEFAULT_CONFIDENCE,
    render_system_prompt,
    split_confidence,
    user_message,
)
from nexus.errors import ConfigError


def test_default_prompt_carries_persona_task_and_tool_guidance() -> None:
    aria = load_team("builtin:software")["aria"]
    prompt = render_system_prompt(aria, "Add rate limiting", ["read_file", "write_scratchpad"])
    assert prompt.startswith("You are Aria, the coordinator of a software team.")
    assert "Your character: analytical, organized, strategic, thorough." in prompt
    assert "Communication style: structured and methodical." in prompt
    assert "Expertise: software architecture, project management" in prompt
    assert "The team's task: Add rate limiting" in prompt
    assert "tools (read_file, write_scratchpad)" in prompt
    assert "edit_file" not in prompt  # only offered tools are mentioned
    assert "CONFIDENCE: <a number from 0 to 1>" in prompt


def test_custom_template_is_sandboxed() -> None:
    agent = AgentDefinition(
        id="a",
        name="Ann",
        role="critic",
        system_prompt="I am {{ agent.name }} ({{ persona.traits | join('/') }}) on {{ task }}.",
        persona={"traits": ["sharp", "fair"]},  # type: ignore[arg-type]
    )
    prompt = render_system_prompt(agent, "the review", [])
    assert prompt.startswith("I am Ann (sharp/fair) on the review.")
    assert "tools (" not in prompt
    unsafe = AgentDefinition(
        id="b", name="B", role="r", system_prompt="{{ agent.__class__.__mro__ }}"
    )
    with pytest.raises(ConfigError, match="system_prompt template failed"):
        render_system_prompt(unsafe, None, [])


def test_user_message_adds_the_previous_error_on_retries() -> None:
    assert user_message("  Fix it.  ") == "Fix it."
    retry = user_message("Fix it.", 2, {"code": "tool_error", "message": "pytest crashed"})
    assert retry.startswith("Fix it.\n\nThis is attempt 2.")
    assert "The previous attempt failed: pytest crashed" in retry
    assert user_message("Fix it.", 1, {"message": "ignored"}) == "Fix it."


@pytest.mark.parametrize(
    ("reply", "text", "confidence"),
    [
        ("Done.\nCONFIDENCE: 0.85", "Done.", 0.85),
        ("Done.\n\nconfidence = 90%\n", "Done.", 0.9),
        ("Done.\n**Confidence:** 0.7", "Done.", 0.7),
        ("Done.\nCONFIDENCE: 85", "Done.", 0.85),
        ("Done.\nCONFIDENCE: 1.5%", "Done.", 0.015),
        ("CONFIDENCE: 0.4\nbut then more text", "CONFIDENCE: 0.4\nbut then more text", None),
        ("No line at all.", "No line at all.", None),
        ("", "", None),
    ],
)
def test_split_confidence(reply: str, text: str, confidence: float | None) -> None:
    got_text, got = split_confidence(reply)
    assert got_text == text
    assert got == (pytest.approx(confidence) if confidence is not None else None)
    assert DEFAULT_CONFIDENCE == 0.5
