"""Budget policy (M5, X1): the limits a model call is checked against, as frozen values.

Four scopes, from the widest:

==============  ==============================  =========================================
scope           ledger key                      limit from
==============  ==============================  =========================================
``tenant_day``  ``tenant-day:<tenant>:<date>``  ``NEXUS_BUDGET_TENANT_DAY_USD`` / ``_TOKENS``
``tenant``      ``tenant:<tenant>``             ``NEXUS_BUDGET_TENANT_USD`` / ``_TOKENS``
``run``         ``run:<run id>``                the plan's ``settings.budget``, else
                                                ``NEXUS_BUDGET_RUN_USD`` / ``_TOKENS``;
                                                calls: ``NEXUS_MAX_CALLS_PER_RUN`` (200)
``agent``       ``agent:<run id>:<agent id>``   the agent's ``limits.budget_usd`` /
                                                ``limits.budget_tokens``, else
                                                ``NEXUS_BUDGET_AGENT_USD`` / ``_TOKENS``
==============  ==============================  =========================================

Days are UTC dates. A limit left unset does not limit. The agent scope is per
agent *per run*: what one agent may spend within one run, over all its steps.
``NEXUS_MAX_FAN_OUT`` (64) caps the children of a parallel group and a plan's
``settings.max_concurrency`` (see :mod:`nexus.budgets.caps`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "BudgetPolicy",
    "BudgetSettings",
    "Limit",
    "Scope",
    "ScopeKind",
    "agent_key",
    "plan_budget",
    "run_key",
    "utc_day",
]

ScopeKind = Literal["tenant_day", "tenant", "run", "agent"]

DEFAULT_MAX_CALLS_PER_RUN = 200
DEFAULT_MAX_FAN_OUT = 64
DEFAULT_OUTPUT_TOKENS = 4096


@dataclass(frozen=True, slots=True)
class Limit:
    """What a scope may spend: USD, tokens (all kinds) and model calls; None = no limit."""

    usd: float | None = None
    tokens: int | None = None
    calls: int | None = None

    @property
    def unlimited(self) -> bool:
        return self.usd is None and self.tokens is None and self.calls is None

    def over(self, other: Limit | None) -> Limit:
        """This limit with the fields that ``other`` sets taken from ``other``."""
        if other is None:
            return self
        return Limit(
            usd=self.usd if other.usd is None else other.usd,
            tokens=self.tokens if other.tokens is None else other.tokens,
            calls=self.calls if other.calls is None else other.calls,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"usd": self.usd, "tokens": self.tokens, "calls": self.calls}


@dataclass(frozen=True, slots=True)
class Scope:
    """One budget a call is charged to: its kind, ledger key, a label for messages, its limit."""

    kind: ScopeKind
    key: str
    label: str
    limit: Limit = field(default_factory=Limit)


def run_key(run_id: str) -> str:
    """The ledger key of a run's budget."""
    return f"run:{run_id}"


def agent_key(run_id: str, agent_id: str) -> str:
    """The ledger key of an agent's budget within a run."""
    return f"agent:{run_id}:{agent_id}"


def utc_day(now: float | None = None) -> str:
    """``YYYY-MM-DD`` of ``now`` (default: the current time) in UTC."""
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() if now is None else now))


class BudgetSettings(BaseSettings):
    """The budget environment variables (``NEXUS_BUDGET_…``, ``NEXUS_MAX_…``); unset = none.

    ``budget_default_output_tokens``: the output a call is assumed to produce when
    the request sets no ``max_tokens``. ``budget_estimate_margin``: the estimate is
    multiplied by it (1.0 = chars/4 input plus the full output allowance).
    """

    model_config = SettingsConfigDict(
        env_prefix="NEXUS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    budget_tenant_day_usd: float | None = Field(None, ge=0)
    budget_tenant_day_tokens: int | None = Field(None, ge=0)
    budget_tenant_usd: float | None = Field(None, ge=0)
    budget_tenant_tokens: int | None = Field(None, ge=0)
    budget_run_usd: float | None = Field(None, ge=0)
    budget_run_tokens: int | None = Field(None, ge=0)
    budget_agent_usd: float | None = Field(None, ge=0)
    budget_agent_tokens: int | None = Field(None, ge=0)
    max_calls_per_run: int | None = Field(DEFAULT_MAX_CALLS_PER_RUN, ge=1)
    max_fan_out: int = Field(DEFAULT_MAX_FAN_OUT, ge=1)
    budget_default_output_tokens: int = Field(DEFAULT_OUTPUT_TOKENS, ge=1)
    budget_estimate_margin: float = Field(1.0, ge=1.0)


@dataclass(frozen=True, slots=True)
class BudgetPolicy:
    """Default limits per scope, the call and fan-out caps, and how calls are estimated."""

    tenant_day: Limit = field(default_factory=Limit)
    tenant: Limit = field(default_factory=Limit)
    run: Limit = field(default_factory=Limit)
    agent: Limit = field(default_factory=Limit)
    max_calls_per_run: int | None = DEFAULT_MAX_CALLS_PER_RUN
    max_fan_out: int = DEFAULT_MAX_FAN_OUT
    default_output_tokens: int = DEFAULT_OUTPUT_TOKENS
    estimate_margin: float = 1.0

    @classmethod
    def from_settings(cls, settings: BudgetSettings | None = None) -> BudgetPolicy:
        """The policy of the environment (``BudgetSettings()`` unless given)."""
        s = settings if settings is not None else BudgetSettings()
        return cls(
            tenant_day=Limit(s.budget_tenant_day_usd, s.budget_tenant_day_tokens),
            tenant=Limit(s.budget_tenant_usd, s.budget_tenant_tokens),
            run=Limit(s.budget_run_usd, s.budget_run_tokens),
            agent=Limit(s.budget_agent_usd, s.budget_agent_tokens),
            max_calls_per_run=s.max_calls_per_run,
            max_fan_out=s.max_fan_out,
            default_output_tokens=s.budget_default_output_tokens,
            estimate_margin=s.budget_estimate_margin,
        )

    def scopes(
        self,
        *,
        tenant_id: str,
        run_id: str,
        agent_id: str,
        run_budget: Limit | None = None,
        agent_budget: Limit | None = None,
        now: float | None = None,
    ) -> tuple[Scope, ...]:
        """The scopes one call of ``agent_id`` in ``run_id`` is charged to, widest first.

        ``run_budget`` (the plan's) and ``agent_budget`` (the agent definition's)
        replace the defaults field by field.
        """
        day = utc_day(now)
        run_limit = self.run.over(run_budget)
        if run_limit.calls is None and self.max_calls_per_run is not None:
            run_limit = Limit(run_limit.usd, run_limit.tokens, self.max_calls_per_run)
        return (
            Scope(
                "tenant_day",
                f"tenant-day:{tenant_id}:{day}",
                f"tenant '{tenant_id}' daily budget ({day} UTC)",
                self.tenant_day,
            ),
            Scope("tenant", f"tenant:{tenant_id}", f"tenant '{tenant_id}' budget", self.tenant),
            Scope("run", run_key(run_id), f"run '{run_id}' budget", run_limit),
            Scope(
                "agent",
                agent_key(run_id, agent_id),
                f"agent '{agent_id}' budget in run '{run_id}'",
                self.agent.over(agent_budget),
            ),
        )


def plan_budget(plan: Mapping[str, Any] | None) -> Limit | None:
    """The ``settings.budget`` of a plan in its stored (dict) form, or None."""
    if not plan:
        return None
    settings = plan.get("settings")
    budget = settings.get("budget") if isinstance(settings, Mapping) else None
    if not isinstance(budget, Mapping):
        return None
    usd = budget.get("usd")
    tokens = budget.get("tokens")
    return Limit(
        usd=float(usd) if usd is not None else None,
        tokens=int(tokens) if tokens is not None else None,
    )
