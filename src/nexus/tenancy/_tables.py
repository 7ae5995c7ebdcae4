"""The tables of tenancy, next to the run store's tables in the same database.

- ``tenants``: one row per tenant; ``overrides`` is JSON (limit name → value).
- ``api_keys``: the key id, its tenant and role, and the SHA-256 digest of
  its secret (never the secret).
- ``audit_log``: append-only; ``seq`` is given by the database. Triggers on
  both SQLite and PostgreSQL refuse UPDATE and DELETE (and TRUNCATE on
  PostgreSQL), see :data:`APPEND_ONLY_DDL`.
- ``request_counts``: API requests per tenant and UTC day, for the daily quota.
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

metadata = MetaData()

_Seq = BigInteger().with_variant(Integer(), "sqlite")  # SQLite: INTEGER PRIMARY KEY = rowid

tenants = Table(
    "tenants",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("plan", Text, nullable=False),
    Column("created", Double, nullable=False),
    Column("overrides", Text, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("secret_hash", LargeBinary, nullable=False),
    Column("created", Double, nullable=False),
    Column("last_used", Double),
    Column("revoked", Double),
)
Index("api_keys_tenant", api_keys.c.tenant_id)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", _Seq, primary_key=True, autoincrement=True),
    Column("ts", Double, nullable=False),
    Column("tenant_id", Text),
    Column("actor", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("resource", Text, nullable=False),
    Column("outcome", Text, nullable=False),
    Column("status", Integer),
    Column("client_ip", Text),
    Column("detail", Text),
)
Index("audit_log_ts", audit_log.c.ts)
Index("audit_log_tenant", audit_log.c.tenant_id, audit_log.c.seq)

request_counts = Table(
    "request_counts",
    metadata,
    Column("tenant_id", Text, nullable=False),
    Column("day", Text, nullable=False),
    Column("count", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant_id", "day"),
)

_REFUSE = "the audit log is append-only"

#: Triggers that make ``audit_log`` append-only in the database itself, per dialect.
APPEND_ONLY_DDL: dict[str, list[str]] = {
    "sqlite": [
        "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
        f"BEGIN SELECT RAISE(ABORT, '{_REFUSE}'); END",
        "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
        f"BEGIN SELECT RAISE(ABORT, '{_REFUSE}'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION nexus_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{_REFUSE} (%% refused)', TG_OP "
        "USING ERRCODE = 'insufficient_privilege'; END $$",
        "CREATE OR REPLACE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
        "FOR EACH ROW EXECUTE FUNCTION nexus_audit_refuse()",
        "CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
        "FOR EACH STATEMENT EXECUTE FUNCTION nexus_audit_refuse()",
    ],
}

TABLES = (tenants, api_keys, audit_log, request_counts)
