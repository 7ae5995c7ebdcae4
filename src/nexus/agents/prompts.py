"""Prompts for an agent step: the system prompt (persona, role, tool guidance), the user
message, and the confidence an agent states at the end of its reply.

The system prompt is the agent's ``system_prompt`` template (or
:data:`DEFAULT_TEMPLATE`) rendered by a sandboxed Jinja2 environment over
``agent`` (the definition as a dict), ``persona`` and ``task``, followed by
guidance on the tools the step offers and on how to finish.

Confidence: an agent ends its final reply with a line ``CONFIDENCE: 0.85``
(a number from 0 to 1, or a percentage). :func:`split_confidence` takes that
line off the reply; a reply without one has confidence
:data:`DEFAULT_CONFIDENCE` (0.5).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment

from nexus.agents.definition import AgentDefinition
from nexus.errors import ConfigError

__all__ = [
    "DEFAULT_CONFIDENCE",
    "DEFAULT_TEMPLATE",
    "render_system_prompt",
    "split_confidence",
    "user_message",
]

DEFAULT_CONFIDENCE = 0.5

DEFAULT_TEMPLATE = """\
You are {{ agent.name }}, the {{ agent.role | replace("_", " ") }} of a software team.
{%- if agent.description %}
{{ agent.description }}
{%- endif %}
{%- if persona.traits %}
Your character: {{ persona.traits | join(", ") }}.
{%- endif %}
{%- if persona.communication_style %}
Communication style: {{ persona.communication_style }}.
{%- endif %}
{%- if persona.decision_making %}
Decision making: {{ persona.decision_making }}.
{%- endif %}
{%- if persona.collaboration_style %}
Collaboration style: {{ persona.collaboration_style }}.
{%- endif %}
{%- if persona.strengths %}
Strengths: {{ persona.strengths | join("; ") }}.
{%- endif %}
{%- if persona.expertise %}
Expertise: {{ persona.expertise | join(", ") | replace("_", " ") }}.
{%- endif %}
{%- for key, value in persona.preferences.items() %}
Preferred {{ key | replace("_", " ") }}: {{ value }}.
{%- endfor %}
{%- if task %}

The team's task: {{ task }}
{%- endif %}
"""

_FINISH = (
    "When your part is done, answer without calling any tool: summarise what you did and"
    " what the next agent should know. End that final answer with a line"
    " `CONFIDENCE: <a number from 0 to 1>` saying how sure you are that your part is correct."
)

_TOOL_GUIDANCE = (
    "You work in a git workspace through tools ({tools}). Paths are relative to the workspace root."
)
_EDIT_GUIDANCE = (
    " Read a file before you change it; prefer edit_file for small changes (copy the"
    " snippet exactly, without the line numbers)."
)
_ERROR_GUIDANCE = " A tool error is an answer, not the end: read it and try another way."

_env = SandboxedEnvironment(autoescape=False)
_CONFIDENCE = re.compile(
    r"^\s*[*_`]*confidence[*_`]*\s*[:=]\s*[*_`]*\s*(\d+(?:\.\d+)?|\.\d+)\s*(%?)[*_`.]*\s*$",
    re.IGNORECASE,
)


def render_system_prompt(agent: AgentDefinition, task: Any, tools: Sequence[str]) -> str:
    """The system prompt for ``agent`` working on ``task`` with ``tools``."""
    template = agent.system_prompt or DEFAULT_TEMPLATE
    data = agent.model_dump(mode="json")
    try:
        head = _env.from_string(template).render(
            agent=data, persona=data["persona"], task=task or "", tools=list(tools)
        )
    except TemplateError as exc:
        raise ConfigError(
            f"agent '{agent.id}': system_prompt template failed: {exc}", agent=agent.id
        ) from exc
    parts = [head.strip()]
    if tools:
        guidance = _TOOL_GUIDANCE.format(tools=", ".join(tools))
        if "edit_file" in tools:
            guidance += _EDIT_GUIDANCE
        parts.append(guidance + _ERROR_GUIDANCE)
    parts.append(_FINISH)
    return "\n\n".join(parts)


def user_message(
    prompt: str, attempt: int = 1, previous_error: dict[str, Any] | None = None
) -> str:
    """The step's prompt, plus what went wrong last time when this is a retry."""
    text = prompt.strip()
    if attempt > 1 and previous_error:
        reason = previous_error.get("message") or previous_error.get("code") or "unknown error"
        text += (
            f"\n\nThis is attempt {attempt}. The previous attempt failed: {reason}\n"
            "Take that into account."
        )
    return text


def split_confidence(reply: str) -> tuple[str, float | None]:
    """``(reply without its CONFIDENCE line, the confidence)``; None when there is no line.

    The line must be the last non-empty line. Values above 1 are read as percentages;
    the result is clamped to [0, 1].
    """
    lines = reply.rstrip().splitlines()
    if not lines:
        return reply, None
    match = _CONFIDENCE.match(lines[-1])
    if match is None:
        return reply, None
    value = float(match.group(1))
    if match.group(2) == "%" or value > 1:
        value /= 100
    value = min(max(value, 0.0), 1.0)
    return "\n".join(lines[:-1]).rstrip(), value
