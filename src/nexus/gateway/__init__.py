"""The model gateway (M6): OpenAI- and Anthropic-compatible access to every Nexus model,
through the router, the response cache, fallbacks, budgets and usage accounting.
The HTTP routes are in :mod:`nexus.api.gateway_openai` and
:mod:`nexus.api.gateway_anthropic`; see ``docs/gateway.md``.

- :mod:`~nexus.gateway.service`: ``Gateway``, the call path
- :mod:`~nexus.gateway.models`: model names (aliases, ``auto``, bare names) and the list
- :mod:`~nexus.gateway.openai_wire` / :mod:`~nexus.gateway.anthropic_wire`: the two formats
- :mod:`~nexus.gateway.errors`: gateway errors and their status and type in each API
- :mod:`~nexus.gateway.metrics`: Prometheus figures
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from nexus.analytics.calls import CallLog
from nexus.cache.response_cache import ResponseCache
from nexus.gateway.errors import ErrorInfo, InvalidRequest, ModelNotFound, describe_error
from nexus.gateway.metrics import GatewayMetrics
from nexus.gateway.models import ModelNames
from nexus.gateway.service import Answer, Caller, Gateway

if TYPE_CHECKING:
    from nexus.runtime import Nexus

__all__ = [
    "Answer",
    "Caller",
    "ErrorInfo",
    "Gateway",
    "GatewayMetrics",
    "InvalidRequest",
    "ModelNames",
    "ModelNotFound",
    "describe_error",
    "open_gateway",
]


def open_gateway(nx: Nexus, metrics: GatewayMetrics | None = None) -> Gateway:
    """The gateway of a facade: its model registry and budgets, the response cache
    (``NEXUS_CACHE_*``) and the call log under its home."""
    home = nx.settings.home
    cache = ResponseCache.open(home)
    if metrics is not None:
        metrics.cache = cache
    return Gateway(
        ModelNames(nx.services.models, home=home),
        budgets=nx.services.budgets,
        cache=cache,
        calls=CallLog.open(home),
        metrics=metrics,
    )
