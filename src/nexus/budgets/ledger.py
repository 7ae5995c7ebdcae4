"""The budget ledger (X1): reserve a call's estimated cost before it is made, settle after.

::

    reservation = ledger.reserve(scopes, estimated_usd=0.012, estimated_tokens=3100)
    try:
        response = await provider.complete(request)      # only runs if reserve passed
    except Exception:
        ledger.release(reservation)
        raise
    ledger.settle(reservation, response_cost_usd, response_tokens)

``reserve`` checks every scope at once and either reserves on all of them or
raises :class:`BudgetExceeded` naming the first scope that would go over: its
limit, what is spent, what is reserved by calls in flight, and what this call
needs. Checking and reserving happen in one critical section without awaits
(a plain lock), so concurrent calls — coroutines or threads — can never
together reserve more than a limit. ``settle`` replaces the estimate with the
real figure, ``release`` drops it (the call failed and cost nothing); both count
the call. Settled and released calls are added to a :class:`SpendLog`, which is
what makes spend survive a restart.

The real cost of a call can exceed its estimate (a longer prompt than chars/4
suggests): the ledger records what was really spent, and the next call is
refused. Estimates count the full output allowance, so that is rare.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from nexus.budgets.policy import Scope
from nexus.budgets.spendlog import MemorySpendLog, SpendLog, Totals
from nexus.errors import StepError, StoreError

__all__ = ["BudgetExceeded", "BudgetLedger", "Reservation", "ScopeState"]

log = logging.getLogger("nexus.budgets")

_EPSILON = 1e-12


class BudgetExceeded(StepError):
    """A model call was refused before it was made: a budget would be exceeded.

    ``details``: ``scope`` (tenant_day, tenant, run, agent), ``key``, ``unit``
    (usd, tokens, calls), ``limit``, ``spent``, ``reserved`` and ``needed``.
    Never retried: another attempt would be refused the same way.
    """

    code = "budget_exceeded"
    retryable = False


@dataclass(frozen=True, slots=True)
class Reservation:
    """Money and tokens held for one call on each of its scopes until settled or released."""

    id: int
    scopes: tuple[Scope, ...]
    usd: float
    tokens: int


@dataclass(slots=True)
class ScopeState:
    """A scope's spend (settled), its reservations in flight, and calls counted."""

    spent: Totals
    reserved_usd: float = 0.0
    reserved_tokens: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "spent_usd": round(self.spent.usd, 8),
            "spent_tokens": self.spent.tokens,
            "calls": self.spent.calls,
            "reserved_usd": round(self.reserved_usd, 8),
            "reserved_tokens": self.reserved_tokens,
        }


def _money(value: float) -> str:
    return f"${value:.4f}" if value < 100 else f"${value:,.2f}"


class BudgetLedger:
    """Spend and reservations per scope key; atomic reserve, settle and release."""

    def __init__(self, log_: SpendLog | None = None) -> None:
        self.spend_log: SpendLog = log_ if log_ is not None else MemorySpendLog()
        self._lock = threading.Lock()
        self._states: dict[str, ScopeState] = {}
        self._open: dict[int, Reservation] = {}
        self._ids = itertools.count(1)

    # reading ---------------------------------------------------------------------------
    def state(self, key: str) -> ScopeState:
        """A copy of the state of the scope with ledger key ``key``."""
        with self._lock:
            found = self._state(key)
            return ScopeState(found.spent.copy(), found.reserved_usd, found.reserved_tokens)

    def spent(self, key: str) -> Totals:
        """What the scope ``key`` has spent (settled calls only)."""
        return self.state(key).spent

    @property
    def open_reservations(self) -> int:
        with self._lock:
            return len(self._open)

    def forget(self, *prefixes: str) -> int:
        """Drop the in-memory state of idle scopes whose key starts with a prefix (a
        finished run's); they are read from the spend log again if ever needed."""
        with self._lock:
            idle = [
                key
                for key, state in self._states.items()
                if key.startswith(prefixes) and not state.reserved_usd and not state.reserved_tokens
            ]
            for key in idle:
                del self._states[key]
            return len(idle)

    def _state(self, key: str) -> ScopeState:
        found = self._states.get(key)
        if found is None:
            found = ScopeState(self.spend_log.load(key))
            self._states[key] = found
        return found

    # the three operations ------------------------------------------------------------
    def reserve(
        self, scopes: Sequence[Scope], estimated_usd: float, estimated_tokens: int
    ) -> Reservation:
        """Hold ``estimated_usd`` and ``estimated_tokens`` on every scope, or raise
        :class:`BudgetExceeded` (nothing held) if any scope would go over its limit."""
        usd = max(0.0, float(estimated_usd))
        tokens = max(0, int(estimated_tokens))
        with self._lock:
            states = [self._state(scope.key) for scope in scopes]
            for scope, state in zip(scopes, states, strict=True):
                self._check(scope, state, usd, tokens)
            for state in states:
                state.reserved_usd += usd
                state.reserved_tokens += tokens
                state.spent.calls += 1
            reservation = Reservation(next(self._ids), tuple(scopes), usd, tokens)
            self._open[reservation.id] = reservation
            return reservation

    def settle(self, reservation: Reservation, actual_usd: float, actual_tokens: int) -> None:
        """Replace the reservation's estimate by the real cost; a no-op once closed."""
        self._close(reservation, Totals(max(0.0, float(actual_usd)), max(0, int(actual_tokens))))

    def release(self, reservation: Reservation) -> None:
        """Drop the reservation (the call failed and cost nothing); it still counts as a call."""
        self._close(reservation, Totals())

    def _close(self, reservation: Reservation, actual: Totals) -> None:
        with self._lock:
            if self._open.pop(reservation.id, None) is None:
                return
            for scope in reservation.scopes:
                state = self._state(scope.key)
                state.reserved_usd = max(0.0, state.reserved_usd - reservation.usd)
                state.reserved_tokens = max(0, state.reserved_tokens - reservation.tokens)
                state.spent.usd += actual.usd
                state.spent.tokens += actual.tokens
            keys = [scope.key for scope in reservation.scopes]
            try:
                self.spend_log.add(keys, Totals(actual.usd, actual.tokens, 1))
            except StoreError:
                # the call happened and is counted in memory; only its persistence failed
                log.warning("budget spend of %s not persisted", keys, exc_info=True)

    @staticmethod
    def _check(scope: Scope, state: ScopeState, usd: float, tokens: int) -> None:
        limit = scope.limit
        if limit.calls is not None and state.spent.calls + 1 > limit.calls:
            raise BudgetExceeded(
                f"{scope.label} allows {limit.calls} model calls and {state.spent.calls}"
                " were made; this call is refused",
                scope=scope.kind,
                key=scope.key,
                unit="calls",
                limit=limit.calls,
                spent=state.spent.calls,
                reserved=0,
                needed=1,
            )
        if limit.usd is not None and state.spent.usd + state.reserved_usd + usd > (
            limit.usd + _EPSILON
        ):
            raise BudgetExceeded(
                f"{scope.label} of {_money(limit.usd)} would be exceeded: spent"
                f" {_money(state.spent.usd)}, reserved {_money(state.reserved_usd)} by calls in"
                f" flight, and this call needs an estimated {_money(usd)}",
                scope=scope.kind,
                key=scope.key,
                unit="usd",
                limit=limit.usd,
                spent=round(state.spent.usd, 8),
                reserved=round(state.reserved_usd, 8),
                needed=round(usd, 8),
            )
        if (
            limit.tokens is not None
            and state.spent.tokens + state.reserved_tokens + tokens > limit.tokens
        ):
            raise BudgetExceeded(
                f"{scope.label} of {limit.tokens} tokens would be exceeded: spent"
                f" {state.spent.tokens}, reserved {state.reserved_tokens} by calls in flight,"
                f" and this call needs an estimated {tokens}",
                scope=scope.kind,
                key=scope.key,
                unit="tokens",
                limit=limit.tokens,
                spent=state.spent.tokens,
                reserved=state.reserved_tokens,
                needed=tokens,
            )
