"""The tables of the SQL run store (SQLite and PostgreSQL share them).

Layout, chosen for few bytes per run:

- ``runs``: one row per run. ``rid`` is a small integer key given by the
  database; steps and events refer to it instead of repeating the run id,
  and since it grows with every new run their rows are appended at the end of
  their B-trees (full pages). The lease lives in two columns of the run.
- ``steps``: the journal, primary key (rid, key); ``WITHOUT ROWID`` on SQLite so
  the row is stored in its key's B-tree, not twice.
- ``events``: the append-only log, primary key (rid, seq), ``WITHOUT ROWID``;
  ``cid`` is NULL when the event carries the run's own correlation id; common
  shapes of event have a one-character ``type`` code and positional ``data``
  (:mod:`nexus.store._event_codes`).
- ``blobs``: content-addressed payloads, keyed by SHA-256 digest. A rowid table
  with a unique index on the digest, not ``WITHOUT ROWID``: blobs are the payloads
  over the inline limit, and SQLite moves the part of a ``WITHOUT ROWID`` row past
  ~1,000 bytes to an overflow page of its own (measured: 1,169 bytes on disk per
  700-byte blob against 879 with a rowid).
- ``checkpoints``: snapshots of runs; the state is a payload.
- ``meta``: ``schema_version`` and other facts about the store itself.

Payload columns come in pairs (``x`` inline JSON, ``x_h`` digest), see
:mod:`nexus.store._codec`.

Migrations: the schema carries :data:`SCHEMA_VERSION` in ``meta``. Opening a
store creates missing tables (``CREATE TABLE IF NOT EXISTS``) and refuses a
store written by a newer Nexus, and one written by an older version with an
error that names both versions. Versions 1 and 2 predate the first release and
have no migration: version 2 changed how rows are encoded (events' type codes
and positional data, payloads inline up to 400 characters instead of 64), not
the tables. From the first release on, a change to these tables or to the row
encoding bumps the version and adds an Alembic revision under
``nexus/store/migrations`` that upgrades from the previous one; the store then
runs ``upgrade`` instead of refusing.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Double,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
)

#: Bump whenever a table below or the row encoding (:mod:`nexus.store._codec`) changes.
SCHEMA_VERSION = 2

metadata = MetaData()

_RowId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite: INTEGER PRIMARY KEY = rowid
# Keys compare byte-wise on both databases, so both return them in the same order.
_Key = Text().with_variant(Text(collation="C"), "postgresql")


def _payload(name: str) -> tuple[Column[str], Column[bytes]]:
    return Column(name, Text), Column(f"{name}_h", LargeBinary)


meta = Table(
    "meta",
    metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
    sqlite_with_rowid=False,
)

runs = Table(
    "runs",
    metadata,
    Column("rid", _RowId, primary_key=True, autoincrement=True),
    Column("run_id", _Key, nullable=False, unique=True),
    Column("plan_name", Text, nullable=False),
    *_payload("plan"),
    *_payload("inputs"),
    Column("status", Text, nullable=False),
    Column("cid", Text, nullable=False),
    Column("workspace", Text),
    Column("tenant", Text, nullable=False),
    Column("parent", Text),
    Column("fork_step", Text),
    *_payload("output"),
    Column("error", Text),
    Column("created", Double, nullable=False),
    Column("updated", Double, nullable=False),
    Column("finished", Double),
    Column("ver", Integer, nullable=False),
    Column("options", Text),
    Column("lease_owner", Text),
    Column("lease_exp", Double),
)
Index("runs_created", runs.c.created)

steps = Table(
    "steps",
    metadata,
    Column("rid", _RowId, nullable=False),
    Column("key", _Key, nullable=False),
    Column("kind", Text, nullable=False),
    Column("status", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    *_payload("input"),
    *_payload("output"),
    Column("error", Text),
    Column("started", Double),
    Column("finished", Double),
    Column("meta", Text),
    PrimaryKeyConstraint("rid", "key"),
    sqlite_with_rowid=False,
)

events = Table(
    "events",
    metadata,
    Column("rid", _RowId, nullable=False),
    Column("seq", Integer, nullable=False),
    Column("type", Text, nullable=False),
    Column("step_key", Text),
    Column("cid", Text),
    Column("ts", Double, nullable=False),
    Column("data", Text),
    PrimaryKeyConstraint("rid", "seq"),
    sqlite_with_rowid=False,
)

blobs = Table(
    "blobs",
    metadata,
    Column("hash", LargeBinary, primary_key=True),
    Column("data", Text, nullable=False),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("checkpoint_id", _Key, primary_key=True),
    Column("run_id", _Key, nullable=False),
    Column("created", Double, nullable=False),
    Column("label", Text),
    *_payload("state"),
)
Index("checkpoints_run", checkpoints.c.run_id, checkpoints.c.created)

TABLES = (meta, runs, steps, events, blobs, checkpoints)
