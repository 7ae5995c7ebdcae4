"""A simple per-agent long-term memory behind the ``remember`` and ``recall`` tools.

Notes are kept as JSON lines in ``$NEXUS_HOME/memory/agents/<agent_id>.jsonl``,
so they survive across runs. Recall ranks notes by how many of the query's
words (and tags) they contain, newer notes first among equals; an empty query
returns the newest notes. The hierarchical, embedding-based memory (K1) can
replace this behind the same two methods.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from nexus.domain.runs import new_id
from nexus.errors import ConfigError

__all__ = ["AgentMemory", "MemoryNote"]

_WORD = re.compile(r"[a-z0-9_]{2,}")
_STOP = frozenset({"the", "and", "for", "with", "that", "this", "from", "are", "was", "not"})
_locks: dict[Path, threading.Lock] = {}
_locks_guard = threading.Lock()


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.casefold()) if w not in _STOP}


@dataclass(slots=True)
class MemoryNote:
    """One remembered note."""

    text: str
    tags: list[str] = field(default_factory=list)
    note_id: str = field(default_factory=lambda: new_id("mem_"))
    created_at: float = field(default_factory=time.time)
    run_id: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MemoryNote:
        return cls(
            text=str(data.get("text", "")),
            tags=[str(t) for t in data.get("tags") or []],
            note_id=str(data.get("note_id") or new_id("mem_")),
            created_at=float(data.get("created_at") or 0.0),
            run_id=data.get("run_id"),
        )


class AgentMemory:
    """The notes of one agent, stored under ``home``."""

    def __init__(self, home: Path, agent_id: str) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", agent_id):
            raise ConfigError(f"agent id '{agent_id}' cannot name a memory file")
        self.agent_id = agent_id
        self.path = Path(home) / "memory" / "agents" / f"{agent_id}.jsonl"

    def _lock(self) -> threading.Lock:
        with _locks_guard:
            return _locks.setdefault(self.path, threading.Lock())

    def remember(
        self, text: str, tags: list[str] | None = None, run_id: str | None = None
    ) -> MemoryNote:
        """Store a note and return it."""
        note = MemoryNote(text=text.strip(), tags=list(tags or []), run_id=run_id)
        line = json.dumps(asdict(note), ensure_ascii=False)
        with self._lock():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                out.write(line + "\n")
        return note

    def notes(self) -> list[MemoryNote]:
        """Every note, oldest first (unreadable lines are skipped)."""
        if not self.path.exists():
            return []
        notes: list[MemoryNote] = []
        with self._lock():
            lines = self.path.read_text(encoding="utf-8").splitlines()
        for line in lines:
            try:
                notes.append(MemoryNote.from_dict(json.loads(line)))
            except (json.JSONDecodeError, TypeError, ValueError):
                continue
        return notes

    def recall(self, query: str = "", limit: int = 5) -> list[MemoryNote]:
        """The notes that best match ``query`` (keyword overlap, then recency)."""
        notes = self.notes()
        wanted = _words(query)
        if not wanted:
            return sorted(notes, key=lambda n: n.created_at, reverse=True)[:limit]
        scored: list[tuple[int, float, MemoryNote]] = []
        for note in notes:
            have = _words(note.text) | {t.casefold() for t in note.tags}
            hits = len(wanted & have)
            if hits:
                scored.append((hits, note.created_at, note))
        scored.sort(key=lambda item: (item[0], item[1]), reverse=True)
        return [note for _, _, note in scored[:limit]]
