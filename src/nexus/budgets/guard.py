"""``BudgetedProvider``: a model provider that charges every call to budgets (X1).

It wraps any :class:`~nexus.providers.base.ModelProvider` — a plain adapter, a
fallback chain, a router — behind the same interface::

    provider = BudgetedProvider(inner, ledger, policy.scopes(tenant_id=…, run_id=…, agent_id=…))
    response = await provider.complete(request)     # BudgetExceeded before inner is called

Each call: estimate (:mod:`nexus.budgets.estimate`), reserve on every scope
(refused calls never reach ``inner``), call, settle with the real usage.

- ``complete``: an error from the provider releases the reservation (a failed
  request is not billed); a cancellation (a step timeout, a cancelled run)
  settles at the estimate, since the request may have been processed.
- ``stream``: settled with the usage of the final ``done`` chunk. A stream that
  ends, breaks or is abandoned after its first chunk without reporting usage is
  settled at the estimate, never at $0; a ``done`` chunk without usage gets the
  estimate as its usage (``provider_meta["usage_estimated"]``), so the caller
  accounts the same figure. A stream that fails before its first chunk is
  released.

When the provider reports no ``cost_usd`` the response's usage gets the cost
the ledger charged, so the step's own accounting matches the ledger's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

from nexus.budgets.estimate import CallEstimate, actual_cost, estimate_call
from nexus.budgets.ledger import BudgetExceeded, BudgetLedger, Reservation
from nexus.budgets.policy import DEFAULT_OUTPUT_TOKENS, Scope
from nexus.domain.messages import ModelRequest, ModelResponse, Usage
from nexus.errors import NexusError
from nexus.providers.base import ModelProvider, StreamChunk
from nexus.providers.pricing import PriceTable, default_price_table

__all__ = ["BudgetedProvider", "RefusalHook"]

#: called with the error and the request when a call is refused (e.g. to emit an event)
RefusalHook = Callable[[BudgetExceeded, ModelRequest], None]


class BudgetedProvider:
    """A provider whose calls reserve, then settle, their cost on ``scopes`` in ``ledger``."""

    def __init__(
        self,
        inner: ModelProvider,
        ledger: BudgetLedger,
        scopes: Sequence[Scope],
        *,
        prices: PriceTable | None = None,
        default_output_tokens: int = DEFAULT_OUTPUT_TOKENS,
        margin: float = 1.0,
        on_refused: RefusalHook | None = None,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.ledger = ledger
        self.scopes = tuple(scopes)
        self.prices = prices if prices is not None else default_price_table()
        self.default_output_tokens = default_output_tokens
        self.margin = margin
        self.on_refused = on_refused

    def estimate(self, request: ModelRequest) -> CallEstimate:
        """What ``request`` is expected to cost."""
        return estimate_call(
            request,
            self.prices,
            default_output_tokens=self.default_output_tokens,
            margin=self.margin,
            candidates=self._candidates(),
        )

    def _candidates(self) -> tuple[str, ...]:
        """The models a choosing provider (a router) may call: its ``candidates()``."""
        choose = getattr(self.inner, "candidates", None)
        if not callable(choose):
            return ()
        try:
            return tuple(str(name) for name in choose())
        except NexusError:  # no candidates: the call itself will say so
            return ()

    def _reserve(self, request: ModelRequest) -> tuple[Reservation, CallEstimate]:
        estimate = self.estimate(request)
        try:
            return self.ledger.reserve(self.scopes, estimate.usd, estimate.tokens), estimate
        except BudgetExceeded as exc:
            who = f" by agent {request.agent_id}" if request.agent_id else ""
            where = f" in step '{request.step_key}'" if request.step_key else ""
            error = BudgetExceeded(
                f"{exc.message} (call to {request.model}{who}{where}: about"
                f" {estimate.input_tokens} input and {estimate.output_tokens} output tokens)",
                **exc.details,
                model=request.model,
                agent=request.agent_id,
            )
            if self.on_refused is not None:
                self.on_refused(error, request)
            raise error from None

    def _cost(self, usage: Usage, answered_by: str | None, request: ModelRequest) -> float:
        return actual_cost(usage, answered_by or request.model, request.model, self.prices)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        reservation, estimate = self._reserve(request)
        try:
            response = await self.inner.complete(request)
        except asyncio.CancelledError:
            self.ledger.settle(reservation, estimate.usd, estimate.tokens)
            raise
        except BaseException:
            self.ledger.release(reservation)
            raise
        cost = self._cost(response.usage, response.model, request)
        self.ledger.settle(reservation, cost, response.usage.total_tokens)
        if cost != response.usage.cost_usd:
            usage = response.usage.model_copy(update={"cost_usd": cost})
            response = response.model_copy(update={"usage": usage})
        return response

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]:
        reservation, estimate = self._reserve(request)
        started = False
        try:
            async for chunk in self.inner.stream(request):
                started = True
                if chunk.type == "done":
                    chunk = self._settle_final(reservation, estimate, chunk, request)
                yield chunk
        except Exception:
            if not started:
                self.ledger.release(reservation)
            raise
        finally:
            # no-op when already settled or released: otherwise the estimate, never $0
            self.ledger.settle(reservation, estimate.usd, estimate.tokens)

    def _settle_final(
        self,
        reservation: Reservation,
        estimate: CallEstimate,
        chunk: StreamChunk,
        request: ModelRequest,
    ) -> StreamChunk:
        usage = chunk.usage
        if usage is None or (usage.total_tokens == 0 and not usage.cost_usd):
            usage = Usage(
                input_tokens=estimate.input_tokens,
                output_tokens=estimate.output_tokens,
                cost_usd=estimate.usd,
            )
            meta = {**(chunk.provider_meta or {}), "usage_estimated": True}
            self.ledger.settle(reservation, estimate.usd, estimate.tokens)
            return chunk.model_copy(update={"usage": usage, "provider_meta": meta})
        cost = self._cost(usage, chunk.model, request)
        self.ledger.settle(reservation, cost, usage.total_tokens)
        if cost != usage.cost_usd:
            chunk = chunk.model_copy(update={"usage": usage.model_copy(update={"cost_usd": cost})})
        return chunk
