"""The SQL run stores: SQLite (the default, one file) and PostgreSQL (shared by several servers).

Both share :class:`SqlStore` (SQLAlchemy Core statements, group commit,
content-addressed payloads); each dialect adds only its connection and
set-up. Use :func:`nexus.store.factory.open_store` to pick one from a URL.
"""

from __future__ import annotations

from nexus.store._postgres import PostgresStore
from nexus.store._schema import SCHEMA_VERSION
from nexus.store._sqlbase import SqlStore
from nexus.store._sqlite import SqliteStore

__all__ = ["SCHEMA_VERSION", "PostgresStore", "SqlStore", "SqliteStore"]
