"""REST endpoints of tenancy (admin role): tenants, API keys, the audit log and its export.

Who sees what: the admins of the default tenant (``all_tenants``) manage every
tenant; the admins of any other tenant see only their own tenant, its keys
and its audit entries — another tenant's are 404, as if they did not exist.
Creating and changing tenants is for the default tenant's admins only.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import HTTPConnection

from nexus.api.auth import Principal
from nexus.api.deps import Admin
from nexus.api.errors import COMMON_RESPONSES, Forbidden
from nexus.errors import NotFoundError
from nexus.tenancy.audit import export_audit, parse_since
from nexus.tenancy.models import TENANT_ID, ApiKey, AuditEntry, PlanName, Role, Tenant
from nexus.tenancy.service import Tenancy

__all__ = ["router"]

router = APIRouter(tags=["tenancy"], responses=COMMON_RESPONSES)


class LimitsIn(BaseModel):
    """Overrides of single plan limits; a field left out keeps the plan's value."""

    model_config = ConfigDict(extra="forbid")

    max_agents: int | None = Field(None, ge=1, le=1_000_000)
    requests_per_day: int | None = Field(None, ge=1, le=10**12)
    budget_usd_per_day: float | None = Field(None, gt=0, le=1e9)
    rate_per_s: float | None = Field(None, gt=0, le=1e6)
    burst: int | None = Field(None, ge=1, le=10**7)


class LimitsOut(BaseModel):
    max_agents: int
    requests_per_day: int
    budget_usd_per_day: float
    rate_per_s: float
    burst: int


class TenantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant_id: str = Field(pattern=f"^{TENANT_ID.pattern}$", description="Lower-case id.")
    name: str | None = Field(None, min_length=1, max_length=200)
    plan: PlanName = PlanName.STARTER
    limits: LimitsIn = Field(default_factory=LimitsIn)


class TenantPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    plan: PlanName | None = None
    limits: LimitsIn | None = Field(None, description="Replaces every override when given.")


class TenantOut(BaseModel):
    tenant_id: str
    name: str
    plan: PlanName
    created_at: float
    overrides: dict[str, float]
    limits: LimitsOut

    @classmethod
    def of(cls, tenant: Tenant) -> TenantOut:
        return cls.model_validate(tenant.to_dict())


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant_id: str | None = Field(None, description="Default: the caller's tenant.")
    role: Role = Role.VIEWER
    name: str = Field("", max_length=200)


class KeyOut(BaseModel):
    key_id: str
    tenant_id: str
    role: Role
    name: str
    created_at: float
    last_used_at: float | None
    revoked_at: float | None
    revoked: bool

    @classmethod
    def of(cls, key: ApiKey) -> KeyOut:
        return cls.model_validate(key.to_dict())


class KeyCreated(BaseModel):
    key: KeyOut
    token: str = Field(description="The API key. It is shown this once and never again.")


class AuditOut(BaseModel):
    seq: int
    ts: float
    tenant_id: str | None
    actor: str
    action: str
    resource: str
    outcome: Literal["ok", "denied", "failed"]
    status: int | None
    client_ip: str | None
    detail: str | None

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditOut:
        return cls.model_validate(entry.to_dict())


class AuditPage(BaseModel):
    items: list[AuditOut]
    next_after: int | None = Field(description="Pass as after_seq for the next page.")


def _tenancy(conn: HTTPConnection) -> Tenancy:
    tenancy: Tenancy = conn.app.state.tenancy
    return tenancy


def _only_root(principal: Principal, what: str) -> None:
    if not principal.all_tenants:
        raise Forbidden(f"{what} is for the admins of the default tenant")


async def _visible_tenant(tenancy: Tenancy, principal: Principal, tenant_id: str) -> Tenant:
    if not principal.can_see(tenant_id):
        raise NotFoundError(f"no tenant with id '{tenant_id}'", tenant_id=tenant_id)
    return await tenancy.store.get_tenant(tenant_id)


def _overrides(limits: LimitsIn | None) -> dict[str, Any]:
    return {} if limits is None else limits.model_dump(exclude_none=True)


# -- tenants -------------------------------------------------------------------------------


@router.get("/api/tenants", response_model=list[TenantOut], summary="List tenants")
async def list_tenants(conn: HTTPConnection, principal: Admin) -> list[TenantOut]:
    tenancy = _tenancy(conn)
    if principal.all_tenants:
        return [TenantOut.of(t) for t in await tenancy.store.list_tenants()]
    return [TenantOut.of(await tenancy.store.get_tenant(principal.tenant_id))]


@router.post(
    "/api/tenants",
    response_model=TenantOut,
    status_code=status.HTTP_201_CREATED,
    summary="Create a tenant",
)
async def create_tenant(body: TenantIn, conn: HTTPConnection, principal: Admin) -> TenantOut:
    _only_root(principal, "creating tenants")
    tenant = await _tenancy(conn).store.create_tenant(
        body.tenant_id, body.name, body.plan, _overrides(body.limits)
    )
    return TenantOut.of(tenant)


@router.get("/api/tenants/{tenant_id}", response_model=TenantOut, summary="One tenant")
async def get_tenant(tenant_id: str, conn: HTTPConnection, principal: Admin) -> TenantOut:
    return TenantOut.of(await _visible_tenant(_tenancy(conn), principal, tenant_id))


@router.patch(
    "/api/tenants/{tenant_id}", response_model=TenantOut, summary="Change a tenant's plan"
)
async def update_tenant(
    tenant_id: str, body: TenantPatch, conn: HTTPConnection, principal: Admin
) -> TenantOut:
    tenancy = _tenancy(conn)
    await _visible_tenant(tenancy, principal, tenant_id)
    _only_root(principal, "changing plans")
    overrides = None if body.limits is None else _overrides(body.limits)
    tenant = await tenancy.store.update_tenant(tenant_id, plan=body.plan, overrides=overrides)
    tenancy.limits.forget(tenant_id)
    return TenantOut.of(tenant)


# -- keys ----------------------------------------------------------------------------------


@router.get("/api/keys", response_model=list[KeyOut], summary="List API keys (no secrets)")
async def list_keys(
    conn: HTTPConnection,
    principal: Admin,
    tenant_id: Annotated[str | None, Query(max_length=40)] = None,
) -> list[KeyOut]:
    tenancy = _tenancy(conn)
    if tenant_id is not None:
        await _visible_tenant(tenancy, principal, tenant_id)
    elif not principal.all_tenants:
        tenant_id = principal.tenant_id
    return [KeyOut.of(k) for k in await tenancy.store.list_keys(tenant_id)]


@router.post(
    "/api/keys",
    response_model=KeyCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create an API key (its token is shown once)",
)
async def create_key(body: KeyIn, conn: HTTPConnection, principal: Admin) -> KeyCreated:
    tenancy = _tenancy(conn)
    tenant_id = body.tenant_id or principal.tenant_id
    await _visible_tenant(tenancy, principal, tenant_id)
    key, token = await tenancy.store.create_key(tenant_id, body.role, body.name)
    tenancy.authenticator.forget()
    return KeyCreated(key=KeyOut.of(key), token=token)


@router.get("/api/keys/{key_id}", response_model=KeyOut, summary="One API key (no secret)")
async def get_key(key_id: str, conn: HTTPConnection, principal: Admin) -> KeyOut:
    return KeyOut.of(await _visible_key(_tenancy(conn), principal, key_id))


@router.delete("/api/keys/{key_id}", response_model=KeyOut, summary="Revoke an API key")
async def revoke_key(key_id: str, conn: HTTPConnection, principal: Admin) -> KeyOut:
    tenancy = _tenancy(conn)
    await _visible_key(tenancy, principal, key_id)
    key = await tenancy.store.revoke_key(key_id)
    tenancy.authenticator.forget(key_id)
    return KeyOut.of(key)


async def _visible_key(tenancy: Tenancy, principal: Principal, key_id: str) -> ApiKey:
    try:
        key = await tenancy.store.get_key(key_id)
    except NotFoundError:
        key = None
    if key is None or not principal.can_see(key.tenant_id):
        raise NotFoundError(f"no API key with id '{key_id}'", key_id=key_id)
    return key


# -- audit ----------------------------------------------------------------------------------

SinceQuery = Annotated[
    str | None,
    Query(
        max_length=40,
        description="ISO date/time (UTC unless zoned) or a duration back from now: 30m, 12h, 7d.",
    ),
]


def _audit_tenant(principal: Principal, tenant_id: str | None) -> str | None:
    if principal.all_tenants:
        return tenant_id
    if tenant_id is not None and tenant_id != principal.tenant_id:
        raise NotFoundError(f"no tenant with id '{tenant_id}'", tenant_id=tenant_id)
    return principal.tenant_id


@router.get("/api/audit", response_model=AuditPage, summary="Audit entries, oldest first")
async def read_audit(
    conn: HTTPConnection,
    principal: Admin,
    tenant_id: Annotated[str | None, Query(max_length=40)] = None,
    since: SinceQuery = None,
    after_seq: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    entries = await _tenancy(conn).store.read_audit(
        tenant_id=_audit_tenant(principal, tenant_id),
        since=parse_since(since),
        after_seq=after_seq,
        limit=limit,
    )
    more = len(entries) == limit
    return AuditPage(
        items=[AuditOut.of(e) for e in entries],
        next_after=entries[-1].seq if more and entries else None,
    )


@router.get(
    "/api/audit/export",
    summary="Export the audit log as JSON lines or CSV",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"application/x-ndjson": {}, "text/csv": {}}, "description": "Entries"}
    },
)
async def export(
    conn: HTTPConnection,
    principal: Admin,
    format: Annotated[Literal["jsonl", "csv"], Query()] = "jsonl",
    tenant_id: Annotated[str | None, Query(max_length=40)] = None,
    since: SinceQuery = None,
) -> StreamingResponse:
    chunks = export_audit(
        _tenancy(conn).store,
        format,
        tenant_id=_audit_tenant(principal, tenant_id),
        since=parse_since(since),
    )
    media = "application/x-ndjson" if format == "jsonl" else "text/csv"
    name = f"nexus-audit.{format}"
    return StreamingResponse(
        chunks, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )
