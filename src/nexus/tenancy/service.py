"""Tenancy for one API app: the store, the authenticator, limits, the audit writer.

Use::

    tenancy = Tenancy(settings.store_url)
    tenancy.install(app)          # before the app starts: middleware, routes, authenticator
    await tenancy.open()          # in the app's lifespan, before serving
    ...
    await tenancy.close()         # on shutdown: flushes counters and the audit log

:func:`open_api_store` is the run store the API should read through: on
PostgreSQL the one whose reads obey row level security
(:class:`~nexus.tenancy.rls.TenantScopedPostgresStore`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nexus.store.base import RunStore
from nexus.store.factory import open_store
from nexus.tenancy.audit import AuditWriter
from nexus.tenancy.limits import TenantLimits, use_limits
from nexus.tenancy.store import TenancyStore

if TYPE_CHECKING:
    from fastapi import FastAPI

    from nexus.tenancy.authenticator import KeyAuthenticator

#: The default largest request body (1 MiB).
MAX_BODY_BYTES = 1 << 20

__all__ = ["Tenancy", "open_api_store"]


class Tenancy:
    """Everything tenancy adds to an API app, on the database at ``store_url``."""

    def __init__(self, store_url: str, *, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        # imported here: these modules use the API package, which imports this one
        from nexus.tenancy.authenticator import KeyAuthenticator

        self.store = TenancyStore(store_url)
        self.limits = TenantLimits(self.store)
        self.authenticator: KeyAuthenticator = KeyAuthenticator(self.store, limits=self.limits)
        self.audit = AuditWriter(self.store)
        self.max_body_bytes = max_body_bytes

    def install(self, app: FastAPI) -> None:
        """Add the middleware (audit outside the size limit), the routes and the
        authenticator to ``app``; ``app.state.tenancy`` is this object."""
        from nexus.api.auth import set_authenticator
        from nexus.tenancy.middleware import AuditMiddleware, BodyLimit
        from nexus.tenancy.routes import router

        app.state.tenancy = self
        set_authenticator(app, self.authenticator)
        app.include_router(router)
        app.add_middleware(BodyLimit, max_bytes=self.max_body_bytes)
        app.add_middleware(AuditMiddleware, writer=self.audit)

    async def open(self) -> None:
        await self.store.open()
        use_limits(self.limits)

    async def close(self) -> None:
        use_limits(None)
        try:
            await self.audit.drain()
            await self.authenticator.close()
        finally:
            await self.store.close()


def open_api_store(url: str) -> RunStore:
    """The run store for the API at ``url`` (not yet opened): on PostgreSQL its reads obey
    row level security for the request's tenant; elsewhere the store of :func:`open_store`."""
    scheme = url.partition("://")[0]
    if scheme in ("postgresql+psycopg", "postgresql", "postgres"):
        from nexus.tenancy.rls import TenantScopedPostgresStore

        return TenantScopedPostgresStore("postgresql+psycopg://" + url.partition("://")[2])
    return open_store(url)
