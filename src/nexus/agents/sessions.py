"""Provider sessions of agents (A5, X6): one logical session per (run, agent).

A provider that keeps its own conversation state — Claude Code, whose every call
with ``--resume <id>`` continues a stored transcript and answers with a session
id — needs that id again on the agent's next turn, also after a restart. The
logical session is the *chain* of physical session ids, oldest first; the newest
is the one to resume. It is saved after every call.

Each session is one small JSON file, ``$NEXUS_HOME/sessions/<run_id>/<agent_id>.json``,
written atomically (temporary file, fsync, rename), so a crash leaves either the
old or the new chain, never half of one. A session expires ``timeout_s`` seconds
after its last call; :meth:`SessionStore.cleanup` removes expired ones and hands
them back so the provider can delete its transcripts too.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nexus.errors import ConfigError, StoreError

__all__ = ["DEFAULT_SESSION_TIMEOUT_S", "AgentSession", "SessionStore"]

log = logging.getLogger(__name__)

DEFAULT_SESSION_TIMEOUT_S = 3600.0
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


class AgentSession(BaseModel):
    """The provider session of one agent in one run: its chain of physical session ids."""

    model_config = ConfigDict(extra="ignore")

    run_id: str
    agent_id: str
    provider: str
    model: str = ""
    #: physical session ids, oldest first; the last one is resumed next
    chain: list[str] = Field(default_factory=list)
    #: the directory the provider ran in (Claude Code files transcripts by directory)
    cwd: str | None = None
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    timeout_s: float = Field(DEFAULT_SESSION_TIMEOUT_S, gt=0)
    calls: int = 0
    #: the provider's running total for the session (Claude Code reports a cumulative cost)
    total_cost_usd: float = 0.0
    #: provider-specific extras
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def current(self) -> str | None:
        """The newest physical session id, the one to resume; ``None`` before the first call."""
        return self.chain[-1] if self.chain else None

    @property
    def expires_at(self) -> float:
        return self.updated_at + self.timeout_s

    def expired(self, now: float | None = None) -> bool:
        return (time.time() if now is None else now) >= self.expires_at


def _check_name(kind: str, value: str) -> str:
    if not _SAFE_NAME.fullmatch(value) or value in (".", ".."):
        raise ConfigError(
            f"{kind} '{value}' cannot name a session file: use letters, digits, '_', '.', '-'"
        )
    return value


class SessionStore:
    """Agent sessions as JSON files under ``root`` (normally ``$NEXUS_HOME/sessions``).

    Safe to share between threads of one process; writes are atomic, so other
    processes see a whole file or none. ``clock`` gives the current time (tests
    pass a fake one).
    """

    def __init__(self, root: Path, clock: Callable[[], float] = time.time) -> None:
        self.root = Path(root)
        self._clock = clock
        self._lock = threading.Lock()

    def now(self) -> float:
        """The store's current time (what expiry is measured against)."""
        return self._clock()

    def path(self, run_id: str, agent_id: str) -> Path:
        """Where the session of ``agent_id`` in ``run_id`` is kept."""
        return (
            self.root / _check_name("run id", run_id) / f"{_check_name('agent id', agent_id)}.json"
        )

    def load(self, run_id: str, agent_id: str) -> AgentSession | None:
        """The stored session, expired or not; ``None`` when there is none."""
        return self._read(self.path(run_id, agent_id))

    def active(self, run_id: str, agent_id: str) -> AgentSession | None:
        """The session if it has not expired; ``None`` otherwise (the expired one stays
        stored until :meth:`cleanup` or :meth:`delete`)."""
        session = self.load(run_id, agent_id)
        if session is None or session.expired(self._clock()):
            return None
        return session

    def record_call(
        self,
        run_id: str,
        agent_id: str,
        session_id: str,
        *,
        provider: str,
        model: str = "",
        cwd: str | None = None,
        timeout_s: float | None = None,
        total_cost_usd: float | None = None,
        data: dict[str, Any] | None = None,
    ) -> AgentSession:
        """Save the outcome of one call: ``session_id`` becomes the newest link of the chain
        (unless it already is), the expiry restarts, and the call is counted.

        An expired session is replaced by a new one that starts with ``session_id``.
        """
        now = self._clock()
        with self._lock:
            session = self.load(run_id, agent_id)
            if session is None or session.expired(now):
                session = AgentSession(
                    run_id=run_id, agent_id=agent_id, provider=provider, created_at=now
                )
            if session.current != session_id:
                session.chain.append(session_id)
            session.provider = provider
            session.model = model or session.model
            session.cwd = cwd if cwd is not None else session.cwd
            if timeout_s is not None:
                session.timeout_s = timeout_s
            if total_cost_usd is not None:
                session.total_cost_usd = total_cost_usd
            if data:
                session.data.update(data)
            session.calls += 1
            session.updated_at = now
            self._write(session)
            return session

    def save(self, session: AgentSession) -> None:
        """Store ``session`` as it is (replacing the stored one)."""
        with self._lock:
            self._write(session)

    def delete(self, run_id: str, agent_id: str) -> bool:
        """Forget a session; ``True`` if there was one."""
        path = self.path(run_id, agent_id)
        with self._lock:
            try:
                path.unlink()
            except FileNotFoundError:
                return False
            self._prune(path.parent)
        return True

    def list_sessions(self, run_id: str | None = None) -> list[AgentSession]:
        """Every stored session (of one run, when given), expired ones included."""
        return [s for _, s in self._scan(run_id)]

    def cleanup(self, now: float | None = None) -> list[AgentSession]:
        """Remove the sessions that have expired and return them (oldest expiry first)."""
        moment = self._clock() if now is None else now
        removed: list[AgentSession] = []
        with self._lock:
            for path, session in self._scan(None):
                if session.expired(moment):
                    path.unlink(missing_ok=True)
                    self._prune(path.parent)
                    removed.append(session)
        removed.sort(key=lambda s: s.expires_at)
        return removed

    # -- files ---------------------------------------------------------------

    def _scan(self, run_id: str | None) -> Iterator[tuple[Path, AgentSession]]:
        if run_id is not None:
            folders = [self.root / _check_name("run id", run_id)]
        elif self.root.is_dir():
            folders = sorted(p for p in self.root.iterdir() if p.is_dir())
        else:
            folders = []
        for folder in folders:
            if not folder.is_dir():
                continue
            for path in sorted(folder.glob("*.json")):
                try:
                    session = self._read(path)
                except StoreError as exc:
                    log.warning("skipping unreadable session file: %s", exc)
                    continue
                if session is not None:
                    yield path, session

    def _read(self, path: Path) -> AgentSession | None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read session file {path}: {exc}") from exc
        try:
            return AgentSession.model_validate(json.loads(text))
        except (ValueError, ValidationError) as exc:
            raise StoreError(
                f"session file {path} is not a valid session ({exc}); delete it to start"
                " the agent's session afresh",
                path=str(path),
            ) from exc

    def _write(self, session: AgentSession) -> None:
        path = self.path(session.run_id, session.agent_id)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp", dir=path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(session.model_dump_json(indent=1))
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StoreError(f"cannot save session file {path}: {exc}", path=str(path)) from exc

    def _prune(self, folder: Path) -> None:
        if folder != self.root:
            with contextlib.suppress(OSError):
                folder.rmdir()  # only when empty
