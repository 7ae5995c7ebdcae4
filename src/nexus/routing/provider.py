"""``router:auto``: the router as a model provider (STYLE.md: routers are providers).

For each request the provider asks the :class:`~nexus.routing.router.Router` for a
model, calls it through the model registry, and returns its answer with the
decision in ``provider_meta["route"]`` (``model``, ``reason``, ``scores``,
``rule``, ``decision_id``, plus ``role``, ``mode``, ``task_type`` so that the
outcome can be recorded later, even by another process).

- The task is the request's first user message (the step's prompt), else
  ``metadata["task"]``; the role is ``metadata["role"]``, else the agent id; the
  priority mode is the name after ``router:`` when it is one of the modes
  (``router:cost``), else ``metadata["priority_mode"]``, else ``balance``.
- The request's real size and whether it offers tools replace the analyzer's
  estimates, so a model whose window is too small or that cannot call tools is
  never chosen.
- One agent step keeps its model: turns after the first of the same (run, step,
  agent) reuse the step's decision.
- Candidates: the catalog's ``router.candidates``, else ``NEXUS_ROUTER_CANDIDATES``
  (comma-separated), else every catalog model whose provider is registered and
  configured (an API key or base URL in the environment for ``openai``,
  ``anthropic`` and ``ollama``; ``offline`` always, as the last resort).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any

from nexus.domain.messages import ModelRequest, ModelResponse
from nexus.errors import ConfigError, NexusError
from nexus.providers.base import ModelProvider, StreamChunk
from nexus.providers.pricing import PriceTable, default_price_table
from nexus.routing.router import Decision, Router
from nexus.routing.scoring import MODES

__all__ = [
    "ROUTER_PREFIX",
    "RouterProvider",
    "provider_configured",
    "register_router",
    "request_features_text",
]

ROUTER_PREFIX = "router"
_CHARS_PER_TOKEN = 4
_STICKY_LIMIT = 2048

#: environment variables of which one must be set for a provider to count as configured
_CONFIGURED_BY: dict[str, tuple[str, ...]] = {
    "openai": ("OPENAI_API_KEY",),
    "anthropic": ("ANTHROPIC_API_KEY",),
    "ollama": ("OLLAMA_BASE_URL",),
}


def provider_configured(prefix: str, env: Mapping[str, str] | None = None) -> bool:
    """Whether ``prefix`` can be called without further setup (keys are looked at, never
    shown). Providers without a listed variable (offline, test fakes) always count."""
    names = _CONFIGURED_BY.get(prefix)
    if names is None:
        return True
    source = os.environ if env is None else env
    return any(source.get(name, "").strip() for name in names)


def request_features_text(request: ModelRequest) -> str:
    """The text the router analyzes: the first user message, else ``metadata["task"]``."""
    for message in request.messages:
        if message.role == "user":
            text = message.text_content
            if text.strip():
                return text
    task = request.metadata.get("task")
    return str(task) if task else ""


def _request_tokens(request: ModelRequest) -> int:
    chars = sum(len(m.text_content) for m in request.messages)
    chars += sum(len(t.description) + len(str(t.parameters)) for t in request.tools)
    return chars // _CHARS_PER_TOKEN


class RouterProvider:
    """A :class:`~nexus.providers.base.ModelProvider` that routes every request.

    ``registry``: where the chosen model is looked up (anything with
    ``get(name) -> ModelProvider`` and ``in`` for prefixes). ``model``: ``auto`` or a
    priority mode. ``router``: the router, or a function that makes it on first use.
    """

    name = ROUTER_PREFIX

    def __init__(
        self,
        registry: Any,
        model: str = "auto",
        *,
        router: Router | Callable[[], Router],
        candidates: tuple[str, ...] | None = None,
        prices: PriceTable | None = None,
    ) -> None:
        if model != "auto" and model not in MODES:
            raise ConfigError(
                f"router:{model} is not a router model; use router:auto or one of"
                f" {', '.join('router:' + m for m in MODES)}"
            )
        self.registry = registry
        self.model = model
        self._router = router
        self._candidates = candidates
        self._prices = prices
        self._sticky: dict[tuple[str, str, str], Decision] = {}

    @property
    def router(self) -> Router:
        """The router (made on first use when a factory was given)."""
        if not isinstance(self._router, Router):
            self._router = self._router()
        return self._router

    def candidates(self) -> tuple[str, ...]:
        """The models this provider may route to (see the module docstring)."""
        if self._candidates is None:
            router = self.router
            if router.config.candidates is not None:
                names = tuple(router.config.candidates)
            elif os.environ.get("NEXUS_ROUTER_CANDIDATES", "").strip():
                raw = os.environ["NEXUS_ROUTER_CANDIDATES"]
                names = tuple(n.strip() for n in raw.split(",") if n.strip())
            else:
                names = router.candidates_where(lambda m: provider_configured(m.partition(":")[0]))
            self._candidates = tuple(
                n
                for n in names
                if n.partition(":")[0] != ROUTER_PREFIX and n.partition(":")[0] in self.registry
            )
            if not self._candidates:
                raise ConfigError(
                    "router:auto has no candidate model: configure a provider (OPENAI_API_KEY,"
                    " ANTHROPIC_API_KEY, OLLAMA_BASE_URL) or list candidates in catalog.yaml"
                    f" (router.candidates) or NEXUS_ROUTER_CANDIDATES; tried: {', '.join(names)}"
                )
        return self._candidates

    def decide(self, request: ModelRequest) -> Decision:
        """The routing decision for ``request`` (the step's earlier one after its first turn)."""
        sticky_key: tuple[str, str, str] | None = None
        if request.run_id and request.step_key:
            sticky_key = (request.run_id, request.step_key, request.agent_id or "")
            turn = request.metadata.get("turn")
            earlier = self._sticky.get(sticky_key)
            if earlier is not None and isinstance(turn, int) and turn > 1:
                return earlier
        router = self.router
        meta = request.metadata
        role = str(meta.get("role") or request.agent_id or "default")
        mode = self.model if self.model != "auto" else str(meta.get("priority_mode") or "balance")
        features = router.analyze(request_features_text(request), role).with_request(
            _request_tokens(request), bool(request.tools)
        )
        decision = router.decide(features, role, mode, self.candidates())
        if sticky_key is not None:
            if len(self._sticky) >= _STICKY_LIMIT:
                del self._sticky[next(iter(self._sticky))]
            self._sticky[sticky_key] = decision
        return decision

    def step_decision(self, run_id: str, step_key: str, agent_id: str) -> Decision | None:
        """The decision this provider made for an agent step, if it routed that step."""
        return self._sticky.get((run_id, step_key, agent_id))

    def _routed(self, request: ModelRequest) -> tuple[Decision, ModelProvider, ModelRequest]:
        decision = self.decide(request)
        provider: ModelProvider = self.registry.get(decision.model)
        return decision, provider, request.model_copy(update={"model": decision.model})

    def _priced(self, model: str, response: ModelResponse) -> ModelResponse:
        usage = response.usage
        if usage.cost_usd or not usage.total_tokens:
            return response
        cost = (self._prices or default_price_table()).cost_of(model, usage)
        return response.model_copy(update={"usage": usage.model_copy(update={"cost_usd": cost})})

    async def complete(self, request: ModelRequest) -> ModelResponse:
        decision, provider, routed = self._routed(request)
        started = time.perf_counter()
        response = await provider.complete(routed)
        response = self._priced(decision.model, response)
        meta = {**response.provider_meta, "route": decision.route_meta()}
        update: dict[str, Any] = {"provider_meta": meta}
        if not response.latency_s:
            update["latency_s"] = time.perf_counter() - started
        return response.model_copy(update=update)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]:
        decision, provider, routed = self._routed(request)
        async for chunk in provider.stream(routed):
            if chunk.type != "done":
                yield chunk
                continue
            usage = chunk.usage
            if usage is not None and not usage.cost_usd and usage.total_tokens:
                cost = (self._prices or default_price_table()).cost_of(decision.model, usage)
                usage = usage.model_copy(update={"cost_usd": cost})
            meta = {**(chunk.provider_meta or {}), "route": decision.route_meta()}
            yield chunk.model_copy(
                update={
                    "usage": usage,
                    "model": chunk.model or decision.model,
                    "provider_meta": meta,
                }
            )


def register_router(registry: Any, home: str | Path | None = None) -> None:
    """Register ``router:auto`` (and ``router:<mode>``) on ``registry``.

    Every router model of the registry shares one :class:`Router`, opened on first
    use from ``home`` (default ``NEXUS_HOME``): its catalog and what it learned.
    """
    shared: list[Router] = []

    def router() -> Router:
        if not shared:
            shared.append(Router.open(home))
        return shared[0]

    def check() -> dict[str, Any]:
        try:
            provider = RouterProvider(registry, "auto", router=router)
            names = provider.candidates()
        except NexusError as exc:
            return {"ok": False, "detail": exc.message}
        return {"ok": True, "detail": f"router:auto chooses among {', '.join(names)}"}

    registry.register(
        ROUTER_PREFIX, lambda model: RouterProvider(registry, model, router=router), check=check
    )
