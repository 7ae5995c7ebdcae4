"""The ``claude_code:MODEL`` provider: the Claude Code CLI, carried by ``claude-agent-sdk``,
working in the run's workspace with its own tools (X6).

One call runs the CLI once (``--output-format stream-json``, as the SDK drives it):
the request's new user text is the prompt, its system text is appended to Claude
Code's own system prompt, and the agent's Nexus tools become the Claude Code tools
it may use (``read_file`` → ``Read``, ``run`` → ``Bash`` …). The CLI does its own
tool loop, so the answer never asks Nexus for a tool call.

Sessions: for a request with ``run_id`` and ``agent_id`` the provider keeps the
agent's logical session in a :class:`~nexus.agents.sessions.SessionStore` — the
chain of physical session ids. Each call resumes the newest (``--resume``, with
``--fork-session`` so that every call yields a new id and every earlier id stays
a snapshot), and the id it returns is saved at once. An expired session is
deleted, its transcripts too, and the agent starts afresh.

Limits (see :mod:`nexus.providers.claude_code_request`): ``--max-turns`` and
``--max-budget-usd`` are always passed, and the CLI is killed when the call's
timeout passes. Cost and usage are
read from the CLI's result message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from nexus.agents.sessions import AgentSession, SessionStore
from nexus.domain.messages import Message, ModelRequest, ModelResponse
from nexus.errors import ConfigError
from nexus.providers.base import StreamChunk
from nexus.providers.claude_code_cli import (
    INSTALL_HINT,
    ClaudeCodeError,
    ClaudeCodeNotInstalled,
    ClaudeCodeTimeout,
    call_cost,
    claude_config_dir,
    cli_status,
    error_from_result,
    find_cli,
    usage_from_result,
)
from nexus.providers.claude_code_request import (
    NEXUS_TO_CLAUDE_TOOLS,
    CallLimits,
    ClaudeCodeConfig,
    call_limits,
    claude_tools,
    cli_environment,
    split_prompt,
)
from nexus.settings import Settings

if TYPE_CHECKING:
    from claude_agent_sdk import ClaudeAgentOptions

    from nexus.providers._claude_code_run import CLIOutcome
    from nexus.providers.registry import ModelRegistry

__all__ = [
    "NEXUS_TO_CLAUDE_TOOLS",
    "CallLimits",
    "ClaudeCodeConfig",
    "ClaudeCodeProvider",
    "register_claude_code",
    "split_prompt",
]

log = logging.getLogger(__name__)

_UUID = re.compile(r"[0-9a-fA-F-]{36}")


class ClaudeCodeProvider:
    """Answers requests with the Claude Code CLI; see the module docstring."""

    name = "claude_code"

    def __init__(
        self,
        model: str,
        *,
        sessions: SessionStore | None = None,
        config: ClaudeCodeConfig | None = None,
        workspaces_dir: Path | None = None,
    ) -> None:
        self.model = model
        self.sessions = sessions
        self.config = config or ClaudeCodeConfig()
        self.workspaces_dir = workspaces_dir
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    # -- the provider interface ---------------------------------------------

    async def complete(self, request: ModelRequest) -> ModelResponse:
        return await self._call(request, None)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]:
        """Text deltas as the CLI streams them (its intermediate turns too), then the final
        chunk with usage, cost and the session in ``provider_meta``."""
        queue: asyncio.Queue[StreamChunk | BaseException] = asyncio.Queue()

        async def produce() -> None:
            try:
                response = await self._call(
                    request, lambda text: queue.put_nowait(StreamChunk.delta(text))
                )
            except Exception as exc:
                queue.put_nowait(exc)
                return
            queue.put_nowait(
                StreamChunk.final(
                    response.usage,
                    response.stop_reason,
                    model=response.model,
                    provider_meta=response.provider_meta,
                )
            )

        task = asyncio.create_task(produce())
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                if item.type == "done":
                    return
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    # -- sessions -------------------------------------------------------------

    def cleanup_expired(self) -> list[AgentSession]:
        """Remove every expired session (and, unless configured otherwise, the CLI's
        transcripts of its chain); returns what was removed."""
        if self.sessions is None:
            return []
        removed = self.sessions.cleanup()
        for session in removed:
            self._delete_transcripts(session)
        return removed

    def _delete_transcripts(self, session: AgentSession) -> None:
        if not self.config.delete_transcripts or session.provider != self.name:
            return
        projects = claude_config_dir(dict(self.config.env)) / "projects"
        if not projects.is_dir():
            return
        ids = [s for s in session.chain if _UUID.fullmatch(s)]
        for folder in projects.iterdir():
            for session_id in ids:
                (folder / f"{session_id}.jsonl").unlink(missing_ok=True)
                shutil.rmtree(folder / session_id, ignore_errors=True)

    # -- one call -------------------------------------------------------------

    def _workspace(self, request: ModelRequest) -> str:
        named = request.metadata.get("workspace") or self.config.cwd
        if not named and request.run_id and self.workspaces_dir is not None:
            guess = self.workspaces_dir / request.run_id
            named = str(guess) if guess.is_dir() else None
        if not named:
            raise ConfigError(
                f"{request.model} needs the run's workspace to work in: pass"
                f" metadata['workspace'] ({self._where(request)})",
                model=request.model,
            )
        path = Path(str(named))
        if not path.is_dir():
            raise ConfigError(f"{request.model}: workspace {path} is not a directory")
        return str(path.resolve())

    def _where(self, request: ModelRequest) -> str:
        parts = [f"model {request.model}"]
        if request.agent_id:
            parts.append(f"agent {request.agent_id}")
        if request.step_key:
            parts.append(f"step {request.step_key}")
        return ", ".join(parts)

    async def _call(
        self, request: ModelRequest, on_delta: Callable[[str], None] | None
    ) -> ModelResponse:
        key = (request.run_id, request.agent_id)
        if self.sessions is None or not key[0] or not key[1]:
            return await self._call_once(request, None, on_delta)
        # one call at a time per session: two resumes of one id would split the conversation
        lock_key = (str(key[0]), str(key[1]))
        lock, users = self._locks.get(lock_key) or (asyncio.Lock(), 0)
        self._locks[lock_key] = (lock, users + 1)
        try:
            async with lock:
                return await self._call_once(request, lock_key, on_delta)
        finally:
            lock, users = self._locks[lock_key]
            if users <= 1:
                del self._locks[lock_key]
            else:
                self._locks[lock_key] = (lock, users - 1)

    async def _call_once(
        self,
        request: ModelRequest,
        key: tuple[str, str] | None,
        on_delta: Callable[[str], None] | None,
    ) -> ModelResponse:
        limits = call_limits(request, self.config)
        cwd = self._workspace(request)
        notes: dict[str, Any] = {}
        session = self._session(key, cwd, notes)
        resume = session.current if session is not None else None
        started = time.perf_counter()
        outcome = await self._run(request, limits, cwd, resume, on_delta)
        error = self._error(request, outcome, limits.timeout_s)
        if resume and error is not None and error.details.get("session_missing"):
            notes["session_reset"] = f"transcript of {resume} not found; started afresh"
            log.warning("%s: %s", self._where(request), notes["session_reset"])
            if key is not None and self.sessions is not None:
                self.sessions.delete(*key)
            session, resume = None, None
            outcome = await self._run(request, limits, cwd, None, on_delta)
            error = self._error(request, outcome, limits.timeout_s)
        result = outcome.result or {}
        previous = session.total_cost_usd if session is not None else 0.0
        cost = call_cost(
            result.get("total_cost_usd"), result.get("usage"), result.get("modelUsage"), previous
        )
        # a call that ended with a result message has its transcript written: it is the new
        # link even when the result is an error; a killed CLI's may be cut, so it is not
        session_id = outcome.session_id if outcome.result is not None else None
        saved = self._save(key, request, limits, cwd, session_id, result, previous, cost)
        if error is not None:
            raise error
        usage = usage_from_result(result.get("usage"), cost)
        text = str(result.get("result") or outcome.last_text or "")
        meta: dict[str, Any] = {
            "session_id": outcome.session_id,
            "resumed_from": resume,
            "chain_length": len(saved.chain) if saved is not None else 0,
            "num_turns": result.get("num_turns"),
            "duration_ms": result.get("duration_ms"),
            "session_cost_usd": result.get("total_cost_usd"),
            "cwd": cwd,
            "cli_version": outcome.cli_version,
            **notes,
        }
        denials = result.get("permission_denials")
        if denials:
            meta["permission_denials"] = len(denials)
        return ModelResponse(
            model=request.model,
            message=Message.text("assistant", text),
            stop_reason="max_tokens" if result.get("stop_reason") == "max_tokens" else "end_turn",
            usage=usage,
            latency_s=time.perf_counter() - started,
            provider_meta=meta,
        )

    def _session(
        self, key: tuple[str, str] | None, cwd: str, notes: dict[str, Any]
    ) -> AgentSession | None:
        if key is None or self.sessions is None:
            return None
        stored = self.sessions.load(*key)
        if stored is None:
            return None
        if stored.expired(self.sessions.now()):
            notes["session_expired"] = stored.current
            self.sessions.delete(*key)
            self._delete_transcripts(stored)
            return None
        if stored.cwd is not None and stored.cwd != cwd:
            notes["session_reset"] = f"workspace changed from {stored.cwd}; started afresh"
            self.sessions.delete(*key)
            return None
        return stored

    def _save(
        self,
        key: tuple[str, str] | None,
        request: ModelRequest,
        limits: CallLimits,
        cwd: str,
        session_id: str | None,
        result: dict[str, Any],
        previous: float,
        cost: float,
    ) -> AgentSession | None:
        if key is None or self.sessions is None or not session_id:
            return None
        reported = result.get("total_cost_usd")
        total = float(reported) if isinstance(reported, (int, float)) else previous + cost
        return self.sessions.record_call(
            *key,
            session_id,
            provider=self.name,
            model=request.model,
            cwd=cwd,
            timeout_s=limits.session_timeout_s,
            total_cost_usd=total,
        )

    async def _run(
        self,
        request: ModelRequest,
        limits: CallLimits,
        cwd: str,
        resume: str | None,
        on_delta: Callable[[str], None] | None,
    ) -> CLIOutcome:
        try:
            from nexus.providers._claude_code_run import run_claude
        except ImportError as exc:
            raise ClaudeCodeNotInstalled(
                f"{request.model} needs claude-agent-sdk: {INSTALL_HINT}", model=request.model
            ) from exc
        options = self.options(request, limits, cwd, resume)
        prompt = split_prompt(request, fresh=resume is None)[1]
        log.debug("%s: running Claude Code in %s (resume=%s)", self._where(request), cwd, resume)
        return await run_claude(prompt, options, limits.timeout_s, on_delta)

    def options(
        self, request: ModelRequest, limits: CallLimits, cwd: str, resume: str | None
    ) -> ClaudeAgentOptions:
        """The SDK options (and so the CLI's command line) for one call."""
        try:
            from claude_agent_sdk import ClaudeAgentOptions
        except ImportError as exc:
            raise ClaudeCodeNotInstalled(
                f"{request.model} needs claude-agent-sdk: {INSTALL_HINT}", model=request.model
            ) from exc
        cli = find_cli(self.config.cli_path)
        if cli is None:
            raise ClaudeCodeNotInstalled(
                f"the Claude Code CLI was not found for {request.model}"
                f" ({self.config.cli_path or 'bundled with claude-agent-sdk'}); {INSTALL_HINT}",
                model=request.model,
            )
        system = split_prompt(request, fresh=resume is None)[0]
        _, _, name = request.model.partition(":")
        tools = claude_tools(request, self.config)
        return ClaudeAgentOptions(
            cli_path=str(cli),
            cwd=cwd,
            model=name if name and name != "default" else None,
            system_prompt=(
                {"type": "preset", "preset": "claude_code", "append": system}
                if system
                else {"type": "preset", "preset": "claude_code"}
            ),
            tools=tools,
            allowed_tools=tools,
            permission_mode=cast(Any, self.config.permission_mode),
            max_turns=limits.max_turns,
            max_budget_usd=limits.budget_usd,
            resume=resume,
            fork_session=bool(resume) and self.config.fork_on_resume,
            env=cli_environment(self.config, limits),
        )

    def _error(
        self, request: ModelRequest, outcome: CLIOutcome, timeout_s: float
    ) -> ClaudeCodeError | None:
        where = self._where(request)
        base_url = self._cli_env_value("ANTHROPIC_BASE_URL")
        if outcome.timed_out:
            return ClaudeCodeTimeout(
                f"Claude Code did not finish within {timeout_s:g}s ({where}) and was"
                f" stopped; is its API reachable at {base_url or 'the default address'}"
                " and the CLI logged in?",
                timeout_s=timeout_s,
                session_id=outcome.session_id,
            )
        result = outcome.result
        if result and (result.get("is_error") or result.get("subtype") != "success"):
            return error_from_result(result, where=where, base_url=base_url, stderr=outcome.stderr)
        if outcome.error is not None:
            name = type(outcome.error).__name__
            if name == "CLINotFoundError":
                return ClaudeCodeNotInstalled(f"{outcome.error} ({where}); {INSTALL_HINT}")
            tail = outcome.stderr.strip().splitlines()[-3:]
            said = "; ".join(tail) or str(outcome.error)
            return ClaudeCodeError(f"Claude Code failed ({where}): {said}", cli_error=name)
        if result is None:
            return ClaudeCodeError(f"Claude Code ended without a result ({where})")
        return None

    def _cli_env_value(self, name: str) -> str | None:
        return self.config.env.get(name) or os.environ.get(name) or None


def register_claude_code(registry: ModelRegistry, settings: Settings | None = None) -> None:
    """Register ``claude_code`` in ``registry``: sessions under ``$NEXUS_HOME/sessions``,
    configuration from the environment (:meth:`ClaudeCodeConfig.from_env`), and a doctor
    check that says whether the CLI is found and logged in. Expired sessions are cleaned
    up when a provider is made."""
    current = settings or Settings()
    sessions = SessionStore(Path(current.home) / "sessions")

    def make(model: str) -> ClaudeCodeProvider:
        provider = ClaudeCodeProvider(
            f"claude_code:{model}",
            sessions=sessions,
            config=ClaudeCodeConfig.from_env(),
            workspaces_dir=current.workspaces_dir,
        )
        provider.cleanup_expired()
        return provider

    registry.register(
        "claude_code", make, check=lambda: cli_status(explicit=ClaudeCodeConfig.from_env().cli_path)
    )
