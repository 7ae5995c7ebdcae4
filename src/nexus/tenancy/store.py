"""The tenancy store: tenants, API keys, the audit log and daily request counters.

It lives in the run store's database (``Settings().store_url``): the same
SQLite file, or the same PostgreSQL database and schema. Calls run in a worker
thread so the event loop never waits on the database.

The audit log has an append API only (:meth:`TenancyStore.append_audit`);
the database refuses UPDATE and DELETE on it as well (triggers). Mutations
of tenants and keys made with an ``actor`` append their audit entry in the
same transaction, so the change and its record commit together.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import bindparam, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, Row
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from nexus.errors import InvalidStateError, NotFoundError, StoreError
from nexus.tenancy import _tables as t
from nexus.tenancy._db import WRITE, make_engine
from nexus.tenancy.keys import KeyToken, new_token
from nexus.tenancy.models import (
    DEFAULT_TENANT,
    ApiKey,
    AuditEntry,
    Outcome,
    PlanName,
    Role,
    Tenant,
    check_overrides,
    check_tenant_id,
)

T = TypeVar("T")
#: Serializes schema creation between processes on PostgreSQL (pg_advisory_xact_lock key).
_SCHEMA_LOCK = 0x6E787431  # "nxt1"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who makes a change outside the API (the CLI): recorded in the audit entry."""

    actor: str
    tenant_id: str | None = None
    client_ip: str | None = None


class TenancyStore:
    """Tenants, keys, audit and request counters in the database at ``url``."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._schema: str | None = None
        self._lock: threading.Lock | None = None  # one shared connection (in-memory only)

    # -- lifecycle ------------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, create the tables and the default tenant if missing. Idempotent."""
        if self._engine is not None:
            return
        engine, self._schema = make_engine(self.url)
        if engine.dialect.name == "sqlite" and engine.url.database in (None, "", ":memory:"):
            self._lock = threading.Lock()
        self._engine = engine
        try:
            await self._run(self._create_schema)
            await self._run(self._ensure_default_tenant)
        except BaseException:
            engine.dispose()
            self._engine = None
            raise

    async def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    async def __aenter__(self) -> TenancyStore:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def dialect(self) -> str:
        return self._eng().dialect.name

    def _eng(self) -> Engine:
        if self._engine is None:
            raise StoreError("the tenancy store is not open (await store.open() first)")
        return self._engine

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.to_thread(self._guarded, fn)

    def _guarded(self, fn: Callable[[], T]) -> T:
        try:
            if self._lock is None:
                return fn()
            with self._lock:
                return fn()
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            raise StoreError(f"the tenancy store failed: {exc}") from exc

    def _write(self, fn: Callable[[Connection], T]) -> T:
        with self._eng().connect() as conn:
            conn.execution_options(**{WRITE: True})
            with conn.begin():
                return fn(conn)

    def _read(self, fn: Callable[[Connection], T]) -> T:
        with self._eng().connect() as conn, conn.begin():
            return fn(conn)

    def _create_schema(self) -> None:
        def create(conn: Connection) -> None:
            dialect = conn.dialect.name
            if dialect == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK})
                if self._schema:
                    conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"')
            t.metadata.create_all(conn, checkfirst=True)
            for ddl in t.APPEND_ONLY_DDL.get(dialect, []):
                conn.exec_driver_sql(ddl)

        self._write(create)

    def _ensure_default_tenant(self) -> None:
        def ensure(conn: Connection) -> None:
            found = conn.execute(
                select(t.tenants.c.tenant_id).where(t.tenants.c.tenant_id == DEFAULT_TENANT)
            ).first()
            if found is None:
                conn.execute(
                    self._insert(conn)(t.tenants)
                    .values(
                        tenant_id=DEFAULT_TENANT,
                        name="Default",
                        plan=str(PlanName.ENTERPRISE),
                        created=time.time(),
                        overrides="{}",
                    )
                    .on_conflict_do_nothing(index_elements=["tenant_id"])
                )

        self._write(ensure)

    @staticmethod
    def _insert(conn: Connection) -> Any:
        return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert

    # -- tenants --------------------------------------------------------------------------------

    async def create_tenant(
        self,
        tenant_id: str,
        name: str | None = None,
        plan: PlanName | str = PlanName.STARTER,
        overrides: dict[str, Any] | None = None,
        *,
        actor: Actor | None = None,
    ) -> Tenant:
        """A new tenant; :class:`InvalidStateError` when the id is taken."""
        tenant = Tenant(
            tenant_id=check_tenant_id(tenant_id),
            name=name or tenant_id,
            plan=_plan(plan),
            overrides=check_overrides(overrides or {}),
        )

        def create(conn: Connection) -> None:
            conn.execute(insert(t.tenants).values(**_tenant_row(tenant)))
            self._audit_in(conn, actor, "tenants.create", tenant.tenant_id, tenant.tenant_id)

        try:
            await self._run(lambda: self._write(create))
        except IntegrityError:
            raise InvalidStateError(f"a tenant with id '{tenant_id}' exists already") from None
        return tenant

    async def get_tenant(self, tenant_id: str) -> Tenant:
        def get(conn: Connection) -> Row[Any] | None:
            q = select(*t.tenants.c).where(t.tenants.c.tenant_id == tenant_id)
            return conn.execute(q).first()

        row = await self._run(lambda: self._read(get))
        if row is None:
            raise NotFoundError(f"no tenant with id '{tenant_id}'")
        return _tenant_from(row)

    async def list_tenants(self) -> list[Tenant]:
        def rows(conn: Connection) -> Sequence[Row[Any]]:
            return conn.execute(select(*t.tenants.c).order_by(t.tenants.c.tenant_id)).all()

        return [_tenant_from(r) for r in await self._run(lambda: self._read(rows))]

    async def update_tenant(
        self,
        tenant_id: str,
        *,
        plan: PlanName | str | None = None,
        overrides: dict[str, Any] | None = None,
        actor: Actor | None = None,
    ) -> Tenant:
        """Change a tenant's plan and/or replace its limit overrides."""
        current = await self.get_tenant(tenant_id)
        values: dict[str, Any] = {}
        if plan is not None:
            values["plan"] = str(_plan(plan))
        if overrides is not None:
            values["overrides"] = json.dumps(check_overrides(overrides), sort_keys=True)
        if values:

            def change(conn: Connection) -> None:
                conn.execute(
                    update(t.tenants).where(t.tenants.c.tenant_id == tenant_id).values(**values)
                )
                self._audit_in(conn, actor, "tenants.update", tenant_id, tenant_id)

            await self._run(lambda: self._write(change))
        return current if not values else await self.get_tenant(tenant_id)

    # -- keys -----------------------------------------------------------------------------------

    async def create_key(
        self,
        tenant_id: str,
        role: Role | str = Role.VIEWER,
        name: str = "",
        *,
        actor: Actor | None = None,
    ) -> tuple[ApiKey, str]:
        """A new key of ``tenant_id``: the stored record and the token, shown only now."""
        await self.get_tenant(tenant_id)
        token: KeyToken = new_token()
        key = ApiKey(
            key_id=token.key_id,
            tenant_id=tenant_id,
            role=_role(role),
            name=name or f"key {token.key_id}",
            secret_hash=token.digest,
        )

        def create(conn: Connection) -> None:
            conn.execute(
                insert(t.api_keys).values(
                    key_id=key.key_id,
                    tenant_id=key.tenant_id,
                    role=str(key.role),
                    name=key.name,
                    secret_hash=key.secret_hash,
                    created=key.created_at,
                )
            )
            detail = f"role={key.role}"
            self._audit_in(conn, actor, "keys.create", key.key_id, tenant_id, detail)

        await self._run(lambda: self._write(create))
        return key, str(token)

    async def get_key(self, key_id: str) -> ApiKey:
        row = await self._run(lambda: self._read(lambda c: _key_row(c, key_id)))
        if row is None:
            raise NotFoundError(f"no API key with id '{key_id}'")
        return _key_from(row)

    def get_key_sync(self, key_id: str) -> ApiKey | None:
        """The key (or None), on the calling thread: for the authenticator's worker thread."""
        row = self._guarded(lambda: self._read(lambda c: _key_row(c, key_id)))
        return None if row is None else _key_from(row)

    async def list_keys(self, tenant_id: str | None = None) -> list[ApiKey]:
        def rows(conn: Connection) -> Sequence[Row[Any]]:
            q = select(*t.api_keys.c).order_by(t.api_keys.c.tenant_id, t.api_keys.c.created)
            if tenant_id is not None:
                q = q.where(t.api_keys.c.tenant_id == tenant_id)
            return conn.execute(q).all()

        return [_key_from(r) for r in await self._run(lambda: self._read(rows))]

    async def has_active_keys(self) -> bool:
        """Whether any key that is not revoked exists."""

        def exists(conn: Connection) -> bool:
            q = select(t.api_keys.c.key_id).where(t.api_keys.c.revoked.is_(None)).limit(1)
            return conn.execute(q).first() is not None

        return await self._run(lambda: self._read(exists))

    async def revoke_key(self, key_id: str, *, actor: Actor | None = None) -> ApiKey:
        """Revoke a key for good (revoking twice keeps the first time)."""
        key = await self.get_key(key_id)
        if key.revoked:
            return key
        now = time.time()

        def revoke(conn: Connection) -> None:
            conn.execute(
                update(t.api_keys)
                .where(t.api_keys.c.key_id == key_id, t.api_keys.c.revoked.is_(None))
                .values(revoked=now)
            )
            self._audit_in(conn, actor, "keys.revoke", key_id, key.tenant_id)

        await self._run(lambda: self._write(revoke))
        return await self.get_key(key_id)

    async def touch_keys(self, last_used: dict[str, float]) -> None:
        """Record when keys were last used (key id → time)."""
        if not last_used:
            return

        def touch(conn: Connection) -> None:
            stmt = (
                update(t.api_keys)
                .where(t.api_keys.c.key_id == bindparam("k"))
                .values(last_used=bindparam("ts"))
            )
            conn.execute(stmt, [{"k": k, "ts": ts} for k, ts in last_used.items()])

        await self._run(lambda: self._write(touch))

    # -- audit ----------------------------------------------------------------------------------

    async def append_audit(self, entries: Sequence[AuditEntry]) -> None:
        """Append entries to the audit log (the only way to change it)."""
        if entries:
            rows = [_audit_row(e) for e in entries]
            await self._run(lambda: self._write(lambda c: c.execute(insert(t.audit_log), rows)))

    def _audit_in(
        self,
        conn: Connection,
        actor: Actor | None,
        action: str,
        resource: str,
        tenant_id: str | None,
        detail: str | None = None,
    ) -> None:
        if actor is None:
            return
        entry = AuditEntry(
            ts=time.time(),
            tenant_id=tenant_id,
            actor=actor.actor,
            action=action,
            resource=resource,
            outcome=Outcome.OK,
            client_ip=actor.client_ip,
            detail=detail,
        )
        conn.execute(insert(t.audit_log).values(**_audit_row(entry)))

    async def read_audit(
        self,
        *,
        tenant_id: str | None = None,
        since: float | None = None,
        after_seq: int = 0,
        limit: int = 1000,
    ) -> list[AuditEntry]:
        """Entries oldest first, from ``after_seq`` on (exclusive), at most ``limit``."""
        a = t.audit_log.c

        def rows(conn: Connection) -> Sequence[Row[Any]]:
            q = select(*t.audit_log.c).where(a.seq > after_seq)
            if tenant_id is not None:
                q = q.where(a.tenant_id == tenant_id)
            if since is not None:
                q = q.where(a.ts >= since)
            return conn.execute(q.order_by(a.seq).limit(max(int(limit), 0))).all()

        return [_audit_from(r) for r in await self._run(lambda: self._read(rows))]

    # -- daily request counters -----------------------------------------------------------------

    def add_requests_sync(self, tenant_id: str, day: str, n: int) -> int:
        """Add ``n`` requests to the tenant's count for ``day``; returns the new total."""
        rc = t.request_counts

        def add(conn: Connection) -> int:
            ins = self._insert(conn)(rc).values(tenant_id=tenant_id, day=day, count=n)
            stmt = ins.on_conflict_do_update(
                index_elements=["tenant_id", "day"], set_={"count": rc.c.count + n}
            ).returning(rc.c.count)
            return int(conn.execute(stmt).scalar_one())

        return self._guarded(lambda: self._write(add))

    async def add_requests(self, tenant_id: str, day: str, n: int) -> int:
        return await asyncio.to_thread(self.add_requests_sync, tenant_id, day, n)

    async def request_count(self, tenant_id: str, day: str) -> int:
        rc = t.request_counts

        def get(conn: Connection) -> int:
            q = select(rc.c.count).where(rc.c.tenant_id == tenant_id, rc.c.day == day)
            return int(conn.execute(q).scalar() or 0)

        return await self._run(lambda: self._read(get))

    # -- raw access for the row level security set-up and tests ---------------------------------

    def engine(self) -> Engine:
        """The SQLAlchemy engine (open store only)."""
        return self._eng()

    def iter_dump(self) -> Iterator[str]:
        """Every row of the tenancy tables as text (for checks that secrets are not stored)."""
        with self._eng().connect() as conn:
            for table in t.TABLES:
                for row in conn.execute(select(*table.c)):
                    yield repr(tuple(row))


def _plan(plan: PlanName | str) -> PlanName:
    try:
        return PlanName(plan)
    except ValueError:
        names = ", ".join(p.value for p in PlanName)
        raise InvalidStateError(f"unknown plan {plan!r}; plans: {names}") from None


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        names = ", ".join(r.value for r in Role)
        raise InvalidStateError(f"unknown role {role!r}; roles: {names}") from None


def _tenant_row(tenant: Tenant) -> dict[str, Any]:
    return {
        "tenant_id": tenant.tenant_id,
        "name": tenant.name,
        "plan": str(tenant.plan),
        "created": tenant.created_at,
        "overrides": json.dumps(tenant.overrides, sort_keys=True),
    }


def _tenant_from(row: Row[Any]) -> Tenant:
    m = row._mapping
    return Tenant(
        tenant_id=m["tenant_id"],
        name=m["name"],
        plan=PlanName(m["plan"]),
        created_at=float(m["created"]),
        overrides=json.loads(m["overrides"] or "{}"),
    )


def _key_row(conn: Connection, key_id: str) -> Row[Any] | None:
    return conn.execute(select(*t.api_keys.c).where(t.api_keys.c.key_id == key_id)).first()


def _key_from(row: Row[Any]) -> ApiKey:
    m = row._mapping
    return ApiKey(
        key_id=m["key_id"],
        tenant_id=m["tenant_id"],
        role=Role(m["role"]),
        name=m["name"],
        secret_hash=bytes(m["secret_hash"]),
        created_at=float(m["created"]),
        last_used_at=m["last_used"],
        revoked_at=m["revoked"],
    )


def _audit_row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "ts": entry.ts,
        "tenant_id": entry.tenant_id,
        "actor": entry.actor,
        "action": entry.action,
        "resource": entry.resource,
        "outcome": str(entry.outcome),
        "status": entry.status,
        "client_ip": entry.client_ip,
        "detail": entry.detail,
    }


def _audit_from(row: Row[Any]) -> AuditEntry:
    m = row._mapping
    return AuditEntry(
        seq=int(m["seq"]),
        ts=float(m["ts"]),
        tenant_id=m["tenant_id"],
        actor=m["actor"],
        action=m["action"],
        resource=m["resource"],
        outcome=Outcome(m["outcome"]),
        status=m["status"],
        client_ip=m["client_ip"],
        detail=m["detail"],
    )
