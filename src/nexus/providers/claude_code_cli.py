"""The Claude Code CLI around the ``claude_code`` provider: where it is, whether it is logged
in, what its errors mean, and how its result message reads as usage and cost.

The CLI ships inside the ``claude-agent-sdk`` package (``claude_agent_sdk/_bundled/claude``);
``NEXUS_CLAUDE_CODE_CLI`` points at another one. Nothing here talks to the network.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path
from typing import Any

from nexus.domain.messages import Usage
from nexus.errors import ModelError

__all__ = [
    "INSTALL_HINT",
    "ClaudeCodeAPIError",
    "ClaudeCodeError",
    "ClaudeCodeLimitReached",
    "ClaudeCodeNotInstalled",
    "ClaudeCodeNotLoggedIn",
    "ClaudeCodeTimeout",
    "ClaudeCodeUnreachable",
    "call_cost",
    "claude_config_dir",
    "cli_status",
    "error_from_result",
    "find_cli",
    "login_source",
    "sdk_installed",
    "usage_from_result",
]

INSTALL_HINT = "install the Claude Code extra: pip install 'nexus-agents[claude]'"
CLI_ENV = "NEXUS_CLAUDE_CODE_CLI"
_LOGIN_HINT = "set ANTHROPIC_API_KEY for it, or log it in once with `claude /login`"


class ClaudeCodeError(ModelError):
    """The Claude Code CLI failed."""

    code = "claude_code_error"


class ClaudeCodeNotInstalled(ClaudeCodeError):
    """``claude-agent-sdk`` is missing, or the CLI it should carry is not there."""

    code = "claude_code_not_installed"
    retryable = False


class ClaudeCodeNotLoggedIn(ClaudeCodeError):
    """The CLI has no credentials, or its API refused them."""

    code = "claude_code_not_logged_in"
    retryable = False


class ClaudeCodeUnreachable(ClaudeCodeError):
    """The CLI could not connect to its API."""

    code = "claude_code_unreachable"


class ClaudeCodeTimeout(ClaudeCodeError):
    """The CLI did not finish within the call's timeout (and was stopped)."""

    code = "claude_code_timeout"


class ClaudeCodeAPIError(ClaudeCodeError):
    """The API answered with an error status (``details['status']``)."""

    code = "claude_code_api_error"


class ClaudeCodeLimitReached(ClaudeCodeError):
    """The CLI stopped at ``--max-turns`` or ``--max-budget-usd``."""

    code = "claude_code_limit_reached"


def _bundled_cli() -> Path | None:
    spec = importlib.util.find_spec("claude_agent_sdk")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "_bundled"
    for name in ("claude", "claude.exe"):
        if (folder / name).is_file():
            return folder / name
    return None


def sdk_installed() -> bool:
    """Whether ``claude-agent-sdk`` can be imported."""
    return importlib.util.find_spec("claude_agent_sdk") is not None


def find_cli(explicit: str | None = None) -> Path | None:
    """The CLI to run: ``explicit``, else ``$NEXUS_CLAUDE_CODE_CLI``, else the one bundled in
    ``claude-agent-sdk``, else ``claude`` on ``PATH``; ``None`` when there is none."""
    wanted = explicit or os.environ.get(CLI_ENV)
    if wanted:
        path = Path(wanted).expanduser()
        if path.is_file():
            return path
        found = shutil.which(wanted)
        return Path(found) if found else None
    bundled = _bundled_cli()
    if bundled is not None:
        return bundled
    found = shutil.which("claude")
    return Path(found) if found else None


def claude_config_dir(env: dict[str, str] | None = None) -> Path:
    """The CLI's own folder (``CLAUDE_CONFIG_DIR``, else ``~/.claude``): credentials and
    the session transcripts, under ``projects/<folder>/<session id>.jsonl``."""
    merged = {**os.environ, **(env or {})}
    configured = merged.get("CLAUDE_CONFIG_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".claude"


def login_source(env: dict[str, str] | None = None) -> str | None:
    """How the CLI would authenticate, without reading any secret: the name of the
    variable that is set, or the credentials file; ``None`` when it has nothing."""
    merged = {**os.environ, **(env or {})}
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "CLAUDE_CODE_OAUTH_TOKEN"):
        if merged.get(name):
            return name
    if merged.get("CLAUDE_CODE_USE_BEDROCK") or merged.get("CLAUDE_CODE_USE_VERTEX"):
        return "cloud provider credentials"
    credentials = claude_config_dir(env) / ".credentials.json"
    if credentials.is_file():
        return str(credentials)
    return None


def cli_status(env: dict[str, str] | None = None, explicit: str | None = None) -> dict[str, Any]:
    """What ``nexus doctor`` shows for Claude Code: ``{"ok", "detail"}`` plus ``cli`` and
    ``logged_in``. Never prints a secret and never calls the network."""
    if not sdk_installed() and not (explicit or os.environ.get(CLI_ENV)):
        return {"ok": False, "detail": f"claude-agent-sdk not installed; {INSTALL_HINT}"}
    cli = find_cli(explicit)
    if cli is None:
        return {"ok": False, "detail": f"Claude Code CLI not found; {INSTALL_HINT}"}
    where = "bundled" if cli == _bundled_cli() else str(cli)
    source = login_source(env)
    if source is None:
        return {
            "ok": False,
            "cli": str(cli),
            "logged_in": False,
            "detail": f"Claude Code CLI found ({where}), not logged in: {_LOGIN_HINT}",
        }
    return {
        "ok": True,
        "cli": str(cli),
        "logged_in": True,
        "detail": f"Claude Code CLI found ({where}), logged in via {source}",
    }


def _int(value: Any) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def usage_from_result(usage: dict[str, Any] | None, cost_usd: float) -> Usage:
    """The usage of one CLI call from its result's ``usage`` block (the tokens of this
    call, all its API requests together). Thinking tokens, which the API counts in
    ``output_tokens``, are reported as reasoning tokens instead."""
    data = usage or {}
    details = data.get("output_tokens_details")
    thinking = _int(details.get("thinking_tokens")) if isinstance(details, dict) else 0
    output = _int(data.get("output_tokens"))
    reasoning = min(thinking, output)
    return Usage(
        input_tokens=_int(data.get("input_tokens")),
        output_tokens=output - reasoning,
        cache_read_tokens=_int(data.get("cache_read_input_tokens")),
        cache_write_tokens=_int(data.get("cache_creation_input_tokens")),
        reasoning_tokens=reasoning,
        cost_usd=round(max(cost_usd, 0.0), 10),
    )


def call_cost(
    total_cost_usd: float | None,
    usage: dict[str, Any] | None,
    model_usage: dict[str, Any] | None,
    previous_total: float,
) -> float:
    """The cost of this call. A resumed session's ``total_cost_usd`` includes the calls
    before it (its ``modelUsage`` then counts more tokens than this call's ``usage``),
    so the session's previous total is taken off."""
    total = float(total_cost_usd or 0.0)
    if previous_total <= 0 or not model_usage:
        return total
    session_tokens = sum(
        _int(m.get("inputTokens")) + _int(m.get("outputTokens"))
        for m in model_usage.values()
        if isinstance(m, dict)
    )
    data = usage or {}
    call_tokens = _int(data.get("input_tokens")) + _int(data.get("output_tokens"))
    if session_tokens > call_tokens:
        return max(total - previous_total, 0.0)
    return total


_RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


def error_from_result(
    data: dict[str, Any], *, where: str, base_url: str | None, stderr: str = ""
) -> ClaudeCodeError:
    """The error for a result message with ``is_error`` (or an error subtype).

    ``where`` names the call (model, agent, step) for the message.
    """
    subtype = str(data.get("subtype") or "")
    text = str(data.get("result") or "").strip()
    errors = [str(e) for e in data.get("errors") or [] if str(e).strip()]
    stderr_tail = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    said = text or "; ".join(errors) or stderr_tail or "no message"
    status = data.get("api_error_status")
    details: dict[str, Any] = {
        "subtype": subtype,
        "session_id": data.get("session_id"),
        "cli_said": said[:500],
    }
    lowered = said.casefold()
    error: ClaudeCodeError
    if "not logged in" in lowered or "/login" in lowered or status in (401, 403):
        return ClaudeCodeNotLoggedIn(
            f"Claude Code is not logged in ({where}): {said}. {_LOGIN_HINT}",
            status=status,
            **details,
        )
    if subtype == "error_max_turns":
        return ClaudeCodeLimitReached(
            f"Claude Code stopped at its --max-turns limit before finishing ({where}): {said}",
            limit="max_turns",
            **details,
        )
    if subtype == "error_max_budget_usd":
        error = ClaudeCodeLimitReached(
            f"Claude Code reached its --max-budget-usd limit ({where}): {said}",
            limit="max_budget_usd",
            **details,
        )
        error.retryable = False
        return error
    api_error = str(data.get("api_error") or "")
    if api_error == "connection_failed" or ("connection" in lowered and "api error" in lowered):
        return ClaudeCodeUnreachable(
            f"Claude Code cannot reach its API at {base_url or 'the default Anthropic address'}"
            f" ({where}): {said}",
            base_url=base_url,
            **details,
        )
    if isinstance(status, int):
        error = ClaudeCodeAPIError(
            f"Claude Code's API answered {status} ({where}): {said}",
            status=status,
            credit_exhausted=status == 402 or "credit" in lowered,
            **details,
        )
        error.retryable = status in _RETRYABLE_STATUS
        if error.details["credit_exhausted"]:
            error.code = "credit_exhausted"  # as the other providers name it
        return error
    if "no conversation found" in lowered:
        error = ClaudeCodeError(f"Claude Code lost its session ({where}): {said}", **details)
        error.details["session_missing"] = True
        return error
    return ClaudeCodeError(f"Claude Code failed ({where}): {said}", **details)
