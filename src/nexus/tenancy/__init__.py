"""Tenancy and security (S1–S3): tenants with plans and quotas, hashed API keys with roles,
per-key rate limits, request size limits, the append-only audit log, and row level
security on PostgreSQL.

- :mod:`nexus.tenancy.models`: tenants, plans (:data:`PLAN_LIMITS`), keys, roles, audit entries
- :mod:`nexus.tenancy.store`: :class:`TenancyStore` in the run store's database
- :mod:`nexus.tenancy.authenticator`: API keys → the API's ``Principal``
- :mod:`nexus.tenancy.limits`: rate limits, daily quotas, :func:`limits_for` for budgets
- :mod:`nexus.tenancy.middleware`: the request size limit and the audit of API calls
- :mod:`nexus.tenancy.rls`: row level security on PostgreSQL
- :mod:`nexus.tenancy.service`: :class:`Tenancy`, all of it for one API app
"""

from __future__ import annotations

from nexus.tenancy.errors import QuotaExceeded, RateLimited, RequestTooLarge
from nexus.tenancy.limits import check_agents, limits_for
from nexus.tenancy.models import (
    DEFAULT_TENANT,
    PLAN_LIMITS,
    ApiKey,
    AuditEntry,
    Outcome,
    PlanLimits,
    PlanName,
    Role,
    Tenant,
)
from nexus.tenancy.store import Actor, TenancyStore

__all__ = [
    "DEFAULT_TENANT",
    "PLAN_LIMITS",
    "Actor",
    "ApiKey",
    "AuditEntry",
    "Outcome",
    "PlanLimits",
    "PlanName",
    "QuotaExceeded",
    "RateLimited",
    "RequestTooLarge",
    "Role",
    "TenancyStore",
    "Tenant",
    "check_agents",
    "limits_for",
]
