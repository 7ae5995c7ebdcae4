"""Where runs, steps, events and checkpoints are kept.

``open_store(url)`` picks a backend: :class:`MemoryStore`, SQLite or
PostgreSQL (:mod:`nexus.store.sql`). All implement :class:`RunStore`.
"""

from __future__ import annotations

from nexus.store.base import RunStore
from nexus.store.factory import open_store
from nexus.store.memory import MemoryStore

__all__ = ["MemoryStore", "RunStore", "open_store"]
