"""Choosing a run store from its URL."""

from __future__ import annotations

from nexus.errors import ConfigError
from nexus.store.base import RunStore
from nexus.store.memory import MemoryStore

_MEMORY_URLS = ("memory://", "sqlite://", "sqlite:///:memory:")


def open_store(url: str) -> RunStore:
    """The store for ``url``, not yet opened (``await store.open()`` or ``async with``).

    - ``memory://``, ``sqlite://`` or ``sqlite:///:memory:``: :class:`MemoryStore`
    - ``sqlite:///relative/path.db``, ``sqlite:////absolute/path.db``: SQLite file
    - ``postgresql+psycopg://user@host:5432/db[?schema=name]`` (also ``postgresql://``
      and ``postgres://``): PostgreSQL through psycopg 3
    """
    if url in _MEMORY_URLS:
        return MemoryStore(url)
    if url.startswith("sqlite:///"):
        from nexus.store.sql import SqliteStore

        return SqliteStore(url)
    scheme, sep, rest = url.partition("://")
    if sep and scheme in ("postgresql+psycopg", "postgresql", "postgres"):
        from nexus.store.sql import PostgresStore

        return PostgresStore(f"postgresql+psycopg://{rest}")
    raise ConfigError(
        f"unsupported store URL {url!r}: expected sqlite:///path/to/nexus.db, "
        "postgresql+psycopg://user@host/db or memory://"
    )
