"""The gateway's call path, shared by the OpenAI and the Anthropic API (M6).

For every call, in order:

1. the model name is resolved (:mod:`nexus.gateway.models`): ``auto`` is the router,
   ``fallback:A,B`` a chain, ``provider:model`` one provider;
2. the response cache is consulted when the policy allows it
   (:func:`nexus.cache.keys.cache_decision`) — a hit costs nothing and reserves nothing;
3. the call is charged to the caller's tenant budgets (daily and total) through
   :class:`~nexus.budgets.guard.BudgetedProvider`: reserved before the call, refused
   when a budget would be exceeded, settled with the real usage after; the daily
   budget is the lower of ``NEXUS_BUDGET_TENANT_DAY_USD`` and the tenant plan's
   ``budget_usd_per_day`` (when the server enforces tenancy);
4. the answer is stored in the cache (when allowed), and the call is recorded — in
   the call log (usage analytics) and the Prometheus counters — whatever its outcome.

A stream is recorded when it ends, breaks or is abandoned; an abandoned stream is
recorded at the estimate the budget settled it at, never at zero.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from nexus.analytics.calls import CallLog, CallRecord
from nexus.budgets.guard import BudgetedProvider
from nexus.budgets.policy import Scope
from nexus.budgets.service import Budgets
from nexus.cache.keys import CacheMode, cache_decision, request_key
from nexus.cache.response_cache import ResponseCache
from nexus.domain.messages import ModelRequest, ModelResponse, Usage
from nexus.errors import NexusError
from nexus.gateway.metrics import GatewayMetrics
from nexus.gateway.models import Api, ModelNames
from nexus.providers.base import ModelProvider, StreamChunk
from nexus.providers.pricing import default_price_table

__all__ = ["Answer", "Caller", "Gateway"]

CacheOutcome = Literal["hit", "miss", "off"]
_TENANT_SCOPES = frozenset({"tenant_day", "tenant"})


@dataclass(frozen=True, slots=True)
class Caller:
    """Who calls: the tenant and key of the API key, the request's correlation id, and
    the router's priority mode when the client chose one."""

    tenant_id: str
    key_id: str | None = None
    correlation_id: str | None = None
    priority: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """A finished call: the response, what the cache did, the model name it was sent to."""

    response: ModelResponse
    cache: CacheOutcome
    model: str


class Gateway:
    """Resolves, caches, budgets, calls and records model calls of API clients."""

    def __init__(
        self,
        names: ModelNames,
        *,
        budgets: Budgets | None = None,
        cache: ResponseCache | None = None,
        calls: CallLog | None = None,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.names = names
        self.budgets = budgets
        self.cache = cache
        self.calls = calls
        self.metrics = metrics

    def close(self) -> None:
        """Write pending call records and close the files."""
        if self.calls is not None:
            self.calls.close()
        if self.cache is not None:
            self.cache.close()

    # --- the pieces -----------------------------------------------------------------------
    def _routed(self, api: Api, request: ModelRequest, caller: Caller) -> ModelRequest:
        full = self.names.resolve(request.model, api)
        metadata: dict[str, Any] = {"source": f"gateway:{api}", "tenant": caller.tenant_id}
        if caller.priority:
            metadata["priority_mode"] = caller.priority
        return request.model_copy(
            update={"model": full, "metadata": metadata, "correlation_id": caller.correlation_id}
        )

    async def _scopes(self, budgets: Budgets, tenant_id: str) -> list[Scope]:
        """The tenant's daily and total budgets; the daily one at most the tenant's plan
        allows (``budget_usd_per_day``) when the server enforces tenancy."""
        scopes = [
            s
            for s in budgets.policy.scopes(tenant_id=tenant_id, run_id="-", agent_id="-")
            if s.kind in _TENANT_SCOPES
        ]
        return await budgets.with_tenant_plan(scopes, tenant_id)

    async def _provider(self, routed: ModelRequest, asked: str, caller: Caller) -> ModelProvider:
        provider = self.names.provider(routed.model, asked)
        budgets = self.budgets
        if budgets is None:
            return provider
        policy = budgets.policy
        scopes = await self._scopes(budgets, caller.tenant_id)
        return BudgetedProvider(
            provider,
            budgets.ledger,
            scopes,
            prices=budgets.prices if budgets.prices is not None else default_price_table(),
            default_output_tokens=policy.default_output_tokens,
            margin=policy.estimate_margin,
        )

    def _record(
        self,
        api: Api,
        caller: Caller,
        routed: ModelRequest,
        *,
        started: float,
        usage: Usage | None,
        answered_by: str | None,
        error: BaseException | None = None,
        cached: bool = False,
        stream: bool = False,
    ) -> None:
        use = usage or Usage()
        code = None
        if error is not None:
            code = error.code if isinstance(error, NexusError) else "internal_error"
        if self.calls is not None:
            self.calls.record(
                CallRecord(
                    ts=time.time(),
                    tenant_id=caller.tenant_id,
                    key_id=caller.key_id,
                    api=api,
                    model=routed.model,
                    answered_by=answered_by or routed.model,
                    input_tokens=use.input_tokens,
                    output_tokens=use.output_tokens,
                    cache_read_tokens=use.cache_read_tokens,
                    cache_write_tokens=use.cache_write_tokens,
                    reasoning_tokens=use.reasoning_tokens,
                    cost_usd=use.cost_usd,
                    latency_s=time.perf_counter() - started,
                    success=error is None,
                    error=code,
                    cached=cached,
                    stream=stream,
                )
            )
        if self.metrics is not None:
            outcome = code or ("cached" if cached else "ok")
            model = None if cached or usage is None else (answered_by or routed.model)
            self.metrics.call(api, outcome, model, usage)

    # --- calls ----------------------------------------------------------------------------
    async def complete(
        self,
        api: Api,
        request: ModelRequest,
        caller: Caller,
        *,
        cache_mode: CacheMode = "auto",
        params: Mapping[str, Any] | None = None,
    ) -> Answer:
        """One non-streamed call (``request.model`` is the name the client sent)."""
        started = time.perf_counter()
        routed = self._routed(api, request, caller)
        decision = cache_decision(routed, stream=False, mode=cache_mode)
        key = None
        if self.cache is not None and decision.used:
            key = request_key(routed, scope=caller.tenant_id, params=params)
            if decision.read:
                found = self.cache.get(key)
                if found is not None:
                    self._record(
                        api, caller, routed, started=started, usage=None,
                        answered_by=found.model, cached=True,
                    )  # fmt: skip
                    return Answer(found, "hit", routed.model)
        try:
            provider = await self._provider(routed, request.model, caller)
            response = await provider.complete(routed)
        except Exception as exc:
            self._record(api, caller, routed, started=started, usage=None, answered_by=None,
                         error=exc)  # fmt: skip
            raise
        if key is not None and decision.write and self.cache is not None:
            self.cache.put(key, response, scope=caller.tenant_id)
        self._record(
            api, caller, routed, started=started, usage=response.usage, answered_by=response.model
        )
        return Answer(response, "miss" if key is not None else "off", routed.model)

    def resolve(self, api: Api, request: ModelRequest, caller: Caller) -> ModelRequest:
        """``request`` addressed to the registry's name for its model (ModelNotFound when
        there is none), with the caller's metadata."""
        return self._routed(api, request, caller)

    async def stream(
        self, api: Api, routed: ModelRequest, caller: Caller, asked: str
    ) -> AsyncGenerator[StreamChunk, None]:
        """A streamed call of a request from :meth:`resolve`; errors before the first chunk
        reach the caller of the first ``__anext__``."""
        started = time.perf_counter()
        usage: Usage | None = None
        answered: str | None = None
        error: BaseException | None = None
        provider: ModelProvider | None = None
        delivered = False
        try:
            provider = await self._provider(routed, asked, caller)
            async for chunk in provider.stream(routed):
                if chunk.type == "done":
                    usage, answered = chunk.usage, chunk.model
                delivered = True
                yield chunk
        except BaseException as exc:
            error = exc
            raise
        finally:
            if usage is None and delivered and isinstance(provider, BudgetedProvider):
                # the budget settled this broken or abandoned stream at its estimate
                estimate = provider.estimate(routed)
                usage = Usage(
                    input_tokens=estimate.input_tokens,
                    output_tokens=estimate.output_tokens,
                    cost_usd=estimate.usd,
                )
            if error is not None and not isinstance(error, Exception):
                error = _Abandoned("the client left before the stream ended")
            self._record(
                api, caller, routed, started=started, usage=usage, answered_by=answered,
                error=error, stream=True,
            )  # fmt: skip


class _Abandoned(NexusError):
    code = "stream_abandoned"
