"""Who is calling: the :class:`Principal` dependency that every route uses.

Every route declares the least role it needs with ``require_role("viewer" |
"operator" | "admin")``; the dependency resolves the caller through the app's
:class:`Authenticator` and checks the role (admin > operator > viewer).

The seam: an authenticator (``set_authenticator(app, auth)``, kept in
``app.state.authenticator``) turns a request's credentials into a principal.
The default one, :class:`NoKeys`, knows no keys. A request that carries no
credentials acts as the admin of the default tenant (seeing every tenant) only
when the server is open (``--open`` / ``NEXUS_API_OPEN=1``) or the
authenticator has no keys configured; otherwise it gets 401. A WebSocket that
fails the check is closed with code 4401 or 4403 before it is accepted.

Credentials reach the authenticator as they were sent: ``Authorization: Bearer
KEY``, ``X-API-Key: KEY``, or (for browsers' EventSource and WebSocket, which
cannot set headers) an ``api_key`` query parameter — see :func:`presented_key`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from fastapi import FastAPI, WebSocketException
from starlette.requests import HTTPConnection

from nexus.api.errors import Forbidden, Unauthorized
from nexus.errors import NexusError

__all__ = [
    "DEFAULT_PRINCIPAL",
    "ROLES",
    "Authenticator",
    "NoKeys",
    "Principal",
    "Role",
    "get_authenticator",
    "presented_key",
    "require_role",
    "resolve_principal",
    "set_authenticator",
]

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")
_RANK = {role: i for i, role in enumerate(ROLES)}


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: its tenant, its role, the id of the key it used (None without a key).

    ``all_tenants``: may see and act on every tenant's resources (the admin of an
    open server); otherwise only ``tenant_id``'s."""

    tenant_id: str
    role: Role
    key_id: str | None = None
    all_tenants: bool = False

    def allows(self, role: Role) -> bool:
        return _RANK[self.role] >= _RANK[role]

    def can_see(self, tenant_id: str) -> bool:
        return self.all_tenants or tenant_id == self.tenant_id

    @property
    def name(self) -> str:
        """How events and messages name this caller (never the key itself)."""
        return f"key:{self.key_id}" if self.key_id else f"{self.tenant_id}:{self.role}"


DEFAULT_PRINCIPAL = Principal("default", "admin", None, all_tenants=True)


@runtime_checkable
class Authenticator(Protocol):
    """Turns a request's credentials into a :class:`Principal`."""

    async def authenticate(self, conn: HTTPConnection) -> Principal | None:
        """The caller, or None when the request carries no credentials.

        Raise :class:`~nexus.api.errors.Unauthorized` for credentials that are wrong,
        or another NexusError with a ``status_code`` (e.g. 429 with ``Retry-After``)."""
        ...

    async def has_keys(self) -> bool:
        """Whether any API key is configured (without keys, the server is open)."""
        ...


class NoKeys:
    """The authenticator of a server without API keys: everyone is anonymous."""

    async def authenticate(self, conn: HTTPConnection) -> Principal | None:
        return None

    async def has_keys(self) -> bool:
        return False


def presented_key(conn: HTTPConnection) -> str | None:
    """The API key a request presents, if any (header first, then the query)."""
    auth = conn.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    header = conn.headers.get("x-api-key", "").strip()
    if header:
        return header
    query = conn.query_params.get("api_key", "").strip()
    return query or None


def set_authenticator(app: FastAPI, authenticator: Authenticator) -> None:
    app.state.authenticator = authenticator


def get_authenticator(app: FastAPI) -> Authenticator:
    auth: Authenticator | None = getattr(app.state, "authenticator", None)
    return auth if auth is not None else NoKeys()


async def resolve_principal(conn: HTTPConnection) -> Principal:
    """The caller of ``conn`` (raises Unauthorized when a key is needed and missing)."""
    app = conn.app
    authenticator = get_authenticator(app)
    principal = await authenticator.authenticate(conn)
    if principal is not None:
        return principal
    if getattr(app.state, "api_open", False) or not await authenticator.has_keys():
        return DEFAULT_PRINCIPAL
    raise Unauthorized(
        "an API key is required: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'"
    )


def require_role(role: Role) -> Callable[[HTTPConnection], Awaitable[Principal]]:
    """A dependency that resolves the caller and requires at least ``role``."""

    async def dependency(conn: HTTPConnection) -> Principal:
        try:
            principal = await resolve_principal(conn)
            if not principal.allows(role):
                raise Forbidden(
                    f"this needs the {role} role; the key has the {principal.role} role",
                    required_role=role,
                    role=principal.role,
                )
        except NexusError as exc:
            if conn.scope["type"] == "websocket":
                code = 4403 if isinstance(exc, Forbidden) else 4401
                raise WebSocketException(code=code, reason=exc.message[:120]) from None
            raise
        conn.state.principal = principal
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency
