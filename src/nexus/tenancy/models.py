"""Tenants, their plans and limits, API keys, roles and audit entries (typed data, no I/O).

The plan table :data:`PLAN_LIMITS` ships with Nexus; a tenant may carry
overrides for single limits (a negotiated contract), see
:meth:`Tenant.limits`.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

from nexus.errors import ConfigError

#: A tenant id: lower-case letters, digits and dashes, 1–40 characters, starting with a letter
#: or digit. It appears in run rows, key listings and audit entries.
TENANT_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")

#: The tenant that owns runs started from the CLI and whose admins manage every tenant.
DEFAULT_TENANT = "default"


class PlanName(StrEnum):
    STARTER = "starter"
    PROFESSIONAL = "professional"
    ENTERPRISE = "enterprise"


class Role(StrEnum):
    """What a key may do. Each role includes the rights of the ones below it.

    - ``viewer``: read (GET) runs, steps, events, artifacts, usage, streams
    - ``operator``: also create, cancel, answer, fork, restore, message agents
    - ``admin``: also manage tenants, keys and read the audit log
    """

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, needed: Role | str) -> bool:
        """True when this role has at least the rights of ``needed``."""
        return self.rank >= Role(needed).rank


_RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class PlanLimits:
    """The limits of one plan.

    ``max_agents``: agents a tenant may run at once; ``requests_per_day``: API
    requests per UTC day over all of the tenant's keys; ``budget_usd_per_day``:
    model spend per UTC day; ``rate_per_s`` and ``burst``: the token bucket of
    each key (sustained requests per second, and how many may come at once).
    """

    max_agents: int
    requests_per_day: int
    budget_usd_per_day: float
    rate_per_s: float
    burst: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: The shipped plan table.
PLAN_LIMITS: dict[PlanName, PlanLimits] = {
    PlanName.STARTER: PlanLimits(
        max_agents=5, requests_per_day=10_000, budget_usd_per_day=10.0, rate_per_s=5.0, burst=20
    ),
    PlanName.PROFESSIONAL: PlanLimits(
        max_agents=25,
        requests_per_day=100_000,
        budget_usd_per_day=100.0,
        rate_per_s=20.0,
        burst=100,
    ),
    PlanName.ENTERPRISE: PlanLimits(
        max_agents=200,
        requests_per_day=1_000_000,
        budget_usd_per_day=1000.0,
        rate_per_s=100.0,
        burst=500,
    ),
}

LIMIT_NAMES = tuple(f.name for f in fields(PlanLimits))


def check_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """Validated limit overrides: known names, positive numbers (ints where the limit is one)."""
    clean: dict[str, Any] = {}
    for name, value in overrides.items():
        if value is None:
            continue
        if name not in LIMIT_NAMES:
            raise ConfigError(
                f"unknown plan limit {name!r}; known limits: {', '.join(LIMIT_NAMES)}"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ConfigError(f"plan limit {name!r} must be a positive number, not {value!r}")
        is_int = name in ("max_agents", "requests_per_day", "burst")
        if is_int and int(value) != value:
            raise ConfigError(f"plan limit {name!r} must be a whole number, not {value!r}")
        clean[name] = int(value) if is_int else float(value)
    return clean


def check_tenant_id(tenant_id: str) -> str:
    if not TENANT_ID.fullmatch(tenant_id):
        raise ConfigError(
            f"invalid tenant id {tenant_id!r}: use 1-40 lower-case letters, digits and dashes, "
            "starting with a letter or digit"
        )
    return tenant_id


@dataclass(frozen=True, slots=True)
class Tenant:
    """A customer of a shared Nexus: its runs, keys and audit entries carry its id."""

    tenant_id: str
    name: str
    plan: PlanName = PlanName.STARTER
    created_at: float = field(default_factory=time.time)
    overrides: dict[str, Any] = field(default_factory=dict)

    def limits(self) -> PlanLimits:
        """The plan's limits with this tenant's overrides applied."""
        return replace(PLAN_LIMITS[self.plan], **self.overrides)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tenant_id": self.tenant_id,
            "name": self.name,
            "plan": str(self.plan),
            "created_at": self.created_at,
            "overrides": dict(self.overrides),
            "limits": self.limits().to_dict(),
        }


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored API key. The secret is never kept: only its SHA-256 digest (``secret_hash``)."""

    key_id: str
    tenant_id: str
    role: Role
    name: str
    secret_hash: bytes
    created_at: float = field(default_factory=time.time)
    last_used_at: float | None = None
    revoked_at: float | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def to_dict(self) -> dict[str, Any]:
        """The key as listings show it (no digest)."""
        return {
            "key_id": self.key_id,
            "tenant_id": self.tenant_id,
            "role": str(self.role),
            "name": self.name,
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "revoked_at": self.revoked_at,
            "revoked": self.revoked,
        }


class Outcome(StrEnum):
    """How an audited action ended."""

    OK = "ok"  # done (2xx, 3xx)
    DENIED = "denied"  # refused by authentication, a role, a quota or a rate limit
    FAILED = "failed"  # refused as invalid or failed while running (other 4xx, 5xx)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the append-only audit log: who did what, when, from where, how it ended.

    ``actor`` is the key id (``cli:<user>`` for the command line, ``anonymous``
    when no key was recognised); ``action`` a verb such as ``POST /api/runs``
    or ``keys.create``; ``resource`` what it acted on (a path or an id);
    ``status`` the HTTP status when it came through the API.
    """

    ts: float
    tenant_id: str | None
    actor: str
    action: str
    resource: str
    outcome: Outcome
    client_ip: str | None = None
    status: int | None = None
    detail: str | None = None
    seq: int | None = None  # given by the database

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ts": self.ts,
            "tenant_id": self.tenant_id,
            "actor": self.actor,
            "action": self.action,
            "resource": self.resource,
            "outcome": str(self.outcome),
            "status": self.status,
            "client_ip": self.client_ip,
            "detail": self.detail,
        }


def outcome_for_status(status: int) -> Outcome:
    if status < 400:
        return Outcome.OK
    if status in (401, 403, 429):
        return Outcome.DENIED
    return Outcome.FAILED
