"""Budgets (M5, X1): every model call reserves its estimated cost against tenant, run and
agent budgets before it is made, is refused when one would be exceeded, and is settled
with its real usage afterwards. See ``docs/budgets.md``.

- :mod:`~nexus.budgets.policy`: the limits (``BudgetPolicy``, ``Limit``, ``Scope``)
- :mod:`~nexus.budgets.ledger`: ``BudgetLedger`` (reserve / settle / release),
  ``BudgetExceeded``
- :mod:`~nexus.budgets.spendlog`: where spend is persisted
- :mod:`~nexus.budgets.estimate`: what a call will cost, and did cost
- :mod:`~nexus.budgets.guard`: ``BudgetedProvider``, the provider wrapper
- :mod:`~nexus.budgets.caps`: fan-out caps checked on plans
- :mod:`~nexus.budgets.service`: ``Budgets``, what handlers get as ``services.budgets``
"""

from nexus.budgets.caps import ensure_within_caps, fan_out_problems
from nexus.budgets.estimate import CallEstimate, actual_cost, estimate_call
from nexus.budgets.guard import BudgetedProvider
from nexus.budgets.ledger import BudgetExceeded, BudgetLedger, Reservation, ScopeState
from nexus.budgets.policy import BudgetPolicy, BudgetSettings, Limit, Scope, plan_budget
from nexus.budgets.service import Budgets, RunInfo
from nexus.budgets.spendlog import MemorySpendLog, SpendLog, SqliteSpendLog, Totals

__all__ = [
    "BudgetExceeded",
    "BudgetLedger",
    "BudgetPolicy",
    "BudgetSettings",
    "BudgetedProvider",
    "Budgets",
    "CallEstimate",
    "Limit",
    "MemorySpendLog",
    "Reservation",
    "RunInfo",
    "Scope",
    "ScopeState",
    "SpendLog",
    "SqliteSpendLog",
    "Totals",
    "actual_cost",
    "ensure_within_caps",
    "estimate_call",
    "fan_out_problems",
    "plan_budget",
]
