"""One run of the Claude Code CLI through ``claude-agent-sdk``, bounded by a deadline.

Imported only when a ``claude_code`` model is called, so the SDK stays an optional
extra. The CLI is started by the SDK's subprocess transport; when the deadline
passes the process is killed at once (the SDK on its own would first wait for a
graceful exit), which ends the message stream and the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import deque
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import Any, cast

from claude_agent_sdk import (
    AssistantMessage,
    ClaudeAgentOptions,
    ClaudeSDKError,
    Message,
    ResultError,
    ResultMessage,
    StreamEvent,
    SystemMessage,
    TextBlock,
    query,
)
from claude_agent_sdk._internal.transport.subprocess_cli import SubprocessCLITransport

__all__ = ["CLIOutcome", "run_claude"]

#: extra seconds, past the deadline, for the killed CLI's stream to end
_GRACE_S = 15.0
_STDERR_LINES = 30


@dataclasses.dataclass(slots=True)
class CLIOutcome:
    """What one CLI run produced. ``result`` is the CLI's result message as a dict in the
    CLI's own field names (``total_cost_usd``, ``usage``, ``modelUsage`` …)."""

    result: dict[str, Any] | None = None
    session_id: str | None = None
    last_text: str = ""
    timed_out: bool = False
    error: BaseException | None = None
    stderr: str = ""
    cli_version: str | None = None


class _Transport(SubprocessCLITransport):
    """The SDK's subprocess transport, plus a way to kill the CLI at once."""

    def kill(self) -> None:
        process = getattr(self, "_process", None)
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError, OSError):
                process.kill()


def _result_dict(message: ResultMessage) -> dict[str, Any]:
    data = dataclasses.asdict(message)
    data["modelUsage"] = data.pop("model_usage", None)
    return data


def _delta_text(event: StreamEvent) -> str:
    raw = event.event
    if event.parent_tool_use_id is not None or raw.get("type") != "content_block_delta":
        return ""
    delta = raw.get("delta")
    if isinstance(delta, dict) and delta.get("type") == "text_delta":
        return str(delta.get("text") or "")
    return ""


async def run_claude(
    prompt: str,
    options: ClaudeAgentOptions,
    timeout_s: float,
    on_delta: Callable[[str], None] | None = None,
) -> CLIOutcome:
    """Run the CLI once with ``prompt``; never raises for CLI failures (they are in
    ``outcome.error`` / ``outcome.result``), only for cancellation."""
    outcome = CLIOutcome()
    stderr_lines: deque[str] = deque(maxlen=_STDERR_LINES)
    options = dataclasses.replace(
        options, stderr=stderr_lines.append, include_partial_messages=on_delta is not None
    )
    transport = _Transport(prompt=prompt, options=options)

    def expire() -> None:
        outcome.timed_out = True
        transport.kill()

    watchdog = asyncio.get_running_loop().call_later(timeout_s, expire)
    try:
        async with asyncio.timeout(timeout_s + _GRACE_S):
            await _consume(prompt, options, transport, outcome, on_delta)
    except TimeoutError as exc:
        outcome.timed_out = True
        outcome.error = exc
    except BaseException:
        transport.kill()  # cancelled: leave no CLI behind
        raise
    finally:
        watchdog.cancel()
        outcome.stderr = "\n".join(stderr_lines)
    return outcome


async def _consume(
    prompt: str,
    options: ClaudeAgentOptions,
    transport: _Transport,
    outcome: CLIOutcome,
    on_delta: Callable[[str], None] | None,
) -> None:
    try:
        messages = cast(
            "AsyncGenerator[Message, None]",
            query(prompt=prompt, options=options, transport=transport),
        )
        async with aclosing(messages) as stream:
            async for message in stream:
                if isinstance(message, ResultMessage):
                    outcome.result = _result_dict(message)
                    outcome.session_id = message.session_id or outcome.session_id
                elif isinstance(message, AssistantMessage):
                    if message.parent_tool_use_id is None:
                        texts = [b.text for b in message.content if isinstance(b, TextBlock)]
                        if texts:
                            outcome.last_text = "".join(texts)
                    outcome.session_id = message.session_id or outcome.session_id
                elif isinstance(message, StreamEvent):
                    text = _delta_text(message)
                    if text and on_delta is not None:
                        on_delta(text)
                elif isinstance(message, SystemMessage) and message.subtype == "init":
                    outcome.session_id = str(message.data.get("session_id") or "") or None
                    version = message.data.get("claude_code_version")
                    outcome.cli_version = str(version) if version else None
    except ResultError as exc:
        # the CLI reported an error result and exited non-zero: keep its whole payload
        outcome.result = {**(outcome.result or {}), **exc.data}
        outcome.error = exc
    except (ClaudeSDKError, OSError) as exc:
        outcome.error = exc
