"""How a canonical request becomes one Claude Code CLI call: the provider's configuration,
the call's limits, the prompt, the tools the CLI may use and its environment.

Limits come from ``request.metadata["agent_limits"]`` (``max_turns``, ``budget_usd``,
``timeout_s``, ``session_timeout_s``) or the same keys in ``metadata`` itself, else
from :class:`ClaudeCodeConfig`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nexus.domain.messages import ImagePart, Message, ModelRequest, TextPart, ToolCall, ToolResult
from nexus.errors import ConfigError, ModelError

__all__ = [
    "NEXUS_TO_CLAUDE_TOOLS",
    "CallLimits",
    "ClaudeCodeConfig",
    "call_limits",
    "claude_tools",
    "cli_environment",
    "split_prompt",
]

#: the Claude Code tools that stand for each Nexus agent tool
NEXUS_TO_CLAUDE_TOOLS: dict[str, tuple[str, ...]] = {
    "list_files": ("Glob",),
    "read_file": ("Read",),
    "write_file": ("Write",),
    "edit_file": ("Edit",),
    "search": ("Grep",),
    "run": ("Bash",),
    "run_tests": ("Bash",),
}


def _env_float(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None


@dataclass(frozen=True, slots=True)
class ClaudeCodeConfig:
    """How the provider runs the CLI. ``env`` is added to the CLI's environment (over the
    process's own); ``tools`` replaces the tools mapped from the agent's; ``cwd`` is used
    when a request names no workspace."""

    cli_path: str | None = None
    timeout_s: float = 600.0
    max_retries: int = 1
    max_turns: int = 12
    budget_usd: float = 2.0
    session_timeout_s: float = 3600.0
    permission_mode: str = "dontAsk"
    tools: tuple[str, ...] | None = None
    fork_on_resume: bool = True
    delete_transcripts: bool = True
    cwd: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ClaudeCodeConfig:
        """Defaults, changed by ``NEXUS_CLAUDE_CODE_CLI``, ``…_TIMEOUT_S``, ``…_MAX_TURNS``,
        ``…_BUDGET_USD``, ``…_PERMISSION_MODE`` and ``CLAUDE_CODE_MAX_RETRIES``."""
        env = os.environ if environ is None else environ
        return cls(
            cli_path=env.get("NEXUS_CLAUDE_CODE_CLI") or None,
            timeout_s=_env_float(env, "NEXUS_CLAUDE_CODE_TIMEOUT_S", 600.0),
            max_retries=int(_env_float(env, "CLAUDE_CODE_MAX_RETRIES", 1)),
            max_turns=int(_env_float(env, "NEXUS_CLAUDE_CODE_MAX_TURNS", 12)),
            budget_usd=_env_float(env, "NEXUS_CLAUDE_CODE_BUDGET_USD", 2.0),
            permission_mode=env.get("NEXUS_CLAUDE_CODE_PERMISSION_MODE") or "dontAsk",
        )


@dataclass(frozen=True, slots=True)
class CallLimits:
    """What one call may use: CLI turns, dollars, seconds; and how long its session lives."""

    max_turns: int
    budget_usd: float
    timeout_s: float
    session_timeout_s: float


def _number(sources: list[Mapping[str, Any]], key: str) -> float | None:
    for source in sources:
        value = source.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
    return None


def _render(message: Message) -> str:
    pieces: list[str] = []
    for part in message.parts:
        if isinstance(part, TextPart):
            pieces.append(part.text)
        elif isinstance(part, ToolResult):
            pieces.append(f"[tool result {part.tool_call_id}]\n{part.content}")
        elif isinstance(part, ToolCall):
            pieces.append(f"[tool call {part.name} {part.arguments}]")
        elif isinstance(part, ImagePart):
            error = ModelError("the claude_code provider takes text only, not image parts")
            error.retryable = False
            raise error
    return "\n".join(p for p in pieces if p)


def split_prompt(request: ModelRequest, fresh: bool) -> tuple[str, str]:
    """``(system text, prompt)`` for one call: the messages after the last assistant
    message are the prompt; on a fresh session an earlier conversation is quoted first."""
    system = "\n\n".join(m.text_content for m in request.messages if m.role == "system")
    talk = [m for m in request.messages if m.role != "system"]
    last = max((i for i, m in enumerate(talk) if m.role == "assistant"), default=-1)
    prompt = "\n\n".join(filter(None, (_render(m) for m in talk[last + 1 :])))
    if fresh and last >= 0:
        earlier = "\n".join(f"[{m.role}] {_render(m)}" for m in talk[: last + 1])
        prompt = f"Earlier in this conversation:\n{earlier}\n\nNow:\n{prompt}"
    if not prompt.strip():
        raise ModelError(
            f"nothing to send to {request.model}: the request has no user text after the"
            " last assistant message",
            model=request.model,
        )
    return system, prompt


def call_limits(request: ModelRequest, config: ClaudeCodeConfig) -> CallLimits:
    """The limits of one call: the agent's (from the request metadata), else the config's."""
    meta = request.metadata
    nested = meta.get("agent_limits")
    sources: list[Mapping[str, Any]] = [nested, meta] if isinstance(nested, Mapping) else [meta]
    return CallLimits(
        max_turns=int(_number(sources, "max_turns") or config.max_turns),
        budget_usd=_number(sources, "budget_usd") or config.budget_usd,
        timeout_s=_number(sources, "timeout_s") or config.timeout_s,
        session_timeout_s=_number(sources, "session_timeout_s") or config.session_timeout_s,
    )


def claude_tools(request: ModelRequest, config: ClaudeCodeConfig) -> list[str]:
    """The Claude Code tools for the request's Nexus tools (``config.tools`` if set)."""
    if config.tools is not None:
        return list(config.tools)
    tools: list[str] = []
    for spec in request.tools:
        for tool in NEXUS_TO_CLAUDE_TOOLS.get(spec.name, ()):
            if tool not in tools:
                tools.append(tool)
    return tools


def cli_environment(config: ClaudeCodeConfig, limits: CallLimits) -> dict[str, str]:
    """The CLI's environment on top of the process's: ``CLAUDE_CODE_MAX_RETRIES`` from the
    config, an API timeout no longer than the call's and no non-essential traffic (unless
    the process sets these two itself), then ``config.env``."""
    defaults = {
        "API_TIMEOUT_MS": str(int(limits.timeout_s * 1000)),
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    env = {k: v for k, v in defaults.items() if k not in os.environ}
    env["CLAUDE_CODE_MAX_RETRIES"] = str(config.max_retries)
    env.update(config.env)
    return env
