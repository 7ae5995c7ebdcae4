"""Row level security on PostgreSQL: the database itself keeps tenants apart on API reads.

What it installs (idempotent, :func:`install_rls`), in the run store's schema:

- a role :data:`API_ROLE` (``NOLOGIN``, not a superuser) with ``SELECT`` on
  the run store's tables, granted to the store's own user so it can switch to it;
- ``ENABLE ROW LEVEL SECURITY`` on ``runs``, ``steps``, ``events`` and
  ``checkpoints``, with one policy each for that role::

      runs:         tenant = current_setting('nexus.tenant', true)
      steps/events: rid IN (SELECT rid FROM runs WHERE tenant = …)
      checkpoints:  run_id IN (SELECT run_id FROM runs WHERE tenant = …)

  Without ``nexus.tenant`` set the role sees no row at all. ``blobs`` (payloads
  keyed by their SHA-256 digest, shared between runs) and ``meta`` are readable
  without a policy: a digest is only learnt from a row the policies let through.

How the API uses it: :class:`TenantScopedPostgresStore` is the PostgreSQL run
store whose reads, while :data:`read_tenant` is set (the authenticator sets it
for a request made with a tenant's key), run in a transaction that begins with
``SET LOCAL ROLE nexus_api`` and ``set_config('nexus.tenant', …, true)``.
Both end with the transaction, so a pooled connection never carries them to
the next read. Writes (the engine's journal, leases) keep using the store's
own user, which owns the tables and is not subject to the policies.
"""

from __future__ import annotations

import contextvars
import logging
import re
from typing import Any

import psycopg
import psycopg.errors
from psycopg import sql
from sqlalchemy.exc import SQLAlchemyError

from nexus.errors import ConfigError, StoreError
from nexus.store.sql import PostgresStore

__all__ = [
    "API_ROLE",
    "POLICY",
    "TenantScopedPostgresStore",
    "install_rls",
    "read_tenant",
    "rls_status",
]

log = logging.getLogger(__name__)

#: The role API reads switch to.
API_ROLE = "nexus_api"
#: The name of every policy this module installs (bump the suffix to change them).
POLICY = "nexus_tenant_v1"
#: The tenant whose rows API reads may see; None: no scoping (the store's own user reads).
read_tenant: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "nexus_read_tenant", default=None
)

_SETTING = "current_setting('nexus.tenant', true)"
_RUN_TABLES = ("runs", "steps", "events", "blobs", "checkpoints", "meta")
_POLICIES: dict[str, str] = {
    "runs": f"tenant = {_SETTING}",
    "steps": f"rid IN (SELECT r.rid FROM runs r WHERE r.tenant = {_SETTING})",
    "events": f"rid IN (SELECT r.rid FROM runs r WHERE r.tenant = {_SETTING})",
    "checkpoints": f"run_id IN (SELECT r.run_id FROM runs r WHERE r.tenant = {_SETTING})",
}
_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
#: Serializes the installation between processes (pg_advisory_xact_lock key).
_RLS_LOCK = 0x6E787232  # "nxr2"


def rls_status(conn: psycopg.Connection[Any]) -> dict[str, bool]:
    """For each protected table of the current schema: RLS enabled and our policy present."""
    rows = conn.execute(
        "SELECT c.relname, c.relrowsecurity, EXISTS (SELECT 1 FROM pg_policies p "
        "  WHERE p.schemaname = n.nspname AND p.tablename = c.relname AND p.policyname = %s) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relname = ANY(%s)",
        (POLICY, list(_POLICIES)),
    ).fetchall()
    found = {name: bool(enabled and present) for name, enabled, present in rows}
    return {table: found.get(table, False) for table in _POLICIES}


def install_rls(conn: psycopg.Connection[Any], role: str = API_ROLE) -> bool:
    """Create the role, the grants and the policies in the current schema; commit.

    Returns True when something was installed, False when everything was in
    place already. Raises :class:`~nexus.errors.StoreError` naming the missing
    privilege when the store's user may not create roles or policies."""
    ident = sql.Identifier(role)
    try:
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_RLS_LOCK,))
        member = conn.execute(
            "SELECT pg_has_role(current_user, oid, 'USAGE') FROM pg_roles WHERE rolname = %s",
            (role,),
        ).fetchone()
        status = rls_status(conn)
        if member is not None and member[0] and all(status.values()):
            conn.rollback()
            return False
        if member is None:  # roles are shared by all databases: another may create it now
            conn.execute(
                sql.SQL(
                    "DO $$ BEGIN CREATE ROLE {} NOLOGIN NOSUPERUSER NOBYPASSRLS; "
                    "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
                ).format(ident)
            )
        if member is None or not member[0]:
            conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(ident))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(_schema(conn), ident))
        tables = sql.SQL(", ").join(sql.Identifier(t) for t in _RUN_TABLES)
        conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(tables, ident))
        for table, condition in _POLICIES.items():
            name = sql.Identifier(table)
            conn.execute(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(name))
            conn.execute(
                sql.SQL("DROP POLICY IF EXISTS {} ON {}").format(sql.Identifier(POLICY), name)
            )
            conn.execute(
                sql.SQL("CREATE POLICY {} ON {} FOR SELECT TO {} USING ({})").format(
                    sql.Identifier(POLICY),
                    name,
                    ident,
                    sql.SQL(condition),
                )
            )
        conn.commit()
        return True
    except psycopg.errors.InsufficientPrivilege as exc:
        conn.rollback()
        raise StoreError(
            f"cannot install row level security: the store's user lacks a privilege ({exc}). "
            f"A database owner can run it once: CREATE ROLE {role} NOLOGIN; GRANT {role} TO "
            "<store user>; then restart"
        ) from exc
    except psycopg.Error:
        conn.rollback()
        raise


def _schema(conn: psycopg.Connection[Any]) -> sql.Identifier:
    row = conn.execute("SELECT current_schema()").fetchone()
    if row is None or row[0] is None:
        raise StoreError("the PostgreSQL store has no current schema for row level security")
    return sql.Identifier(row[0])


class TenantScopedPostgresStore(PostgresStore):
    """The PostgreSQL run store whose reads obey row level security for :data:`read_tenant`.

    Opening it installs the policies (:func:`install_rls`). ``rls_active`` is
    False when they could not be installed (the reason is logged); reads then
    fall back to the store's own user and the API's own tenant checks alone
    keep tenants apart.
    """

    def __init__(self, url: str, role: str = API_ROLE) -> None:
        if not _ROLE_NAME.fullmatch(role):
            raise ConfigError(f"role name {role!r} for row level security is not an identifier")
        super().__init__(url)
        self.role = role
        self.rls_active = False

    def _open_sync(self) -> Any:
        opened = super()._open_sync()
        assert self._engine is not None
        fairy = self._engine.raw_connection()
        try:
            conn: psycopg.Connection[Any] = fairy.driver_connection  # type: ignore[assignment]
            install_rls(conn, self.role)
            self.rls_active = True
        except (StoreError, psycopg.Error) as exc:
            log.warning("row level security is off for API reads: %s", exc)
        finally:
            fairy.close()
        return opened

    def _scope_sql(self, tenant: str) -> sql.Composed:
        return sql.SQL("SET LOCAL ROLE {}; SELECT set_config('nexus.tenant', {}, true)").format(
            sql.Identifier(self.role), sql.Literal(tenant)
        )

    def _fetch_sync(self, sql_text: str, params: dict[str, Any]) -> list[Any]:
        tenant = read_tenant.get()
        if tenant is None or not self.rls_active:
            return super()._fetch_sync(sql_text, params)
        assert self._engine is not None
        try:
            fairy = self._engine.raw_connection()
            try:
                cur = fairy.cursor()
                cur.execute(self._scope_sql(tenant))  # one round trip for role and tenant
                cur.execute(sql_text, params)
                rows: list[Any] = list(cur.fetchall())
                fairy.rollback()  # ends the transaction: role and setting end with it
                return rows
            finally:
                fairy.close()
        except (psycopg.Error, SQLAlchemyError) as exc:
            raise StoreError(
                f"reading the PostgreSQL store at {self.safe_url} failed: {exc}"
            ) from exc
