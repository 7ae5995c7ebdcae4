"""Prometheus figures of the gateway, on the app's registry next to the other Nexus metrics.

- ``nexus_gateway_requests_total{api,outcome}``: calls by API (openai, anthropic) and
  outcome (``ok``, ``cached``, or the error code)
- ``nexus_model_calls_total`` / ``nexus_model_tokens_total`` / ``nexus_model_cost_usd_total``:
  the shared model counters of :class:`~nexus.observability.metrics.NexusMetrics`,
  counted for every call that reached a model
- ``nexus_response_cache_lookups_total{result}`` (memory_hit, persistent_hit, miss),
  ``nexus_response_cache_stores_total`` and ``nexus_response_cache_hit_ratio``: read
  from the cache's own counters when scraped
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from nexus.cache.response_cache import ResponseCache
from nexus.domain.messages import Usage
from nexus.observability.metrics import NexusMetrics

__all__ = ["GatewayMetrics"]


class _CacheCollector(Collector):
    """Reads the counters of the cache the gateway holds when scraped (none: no samples)."""

    def __init__(self, owner: GatewayMetrics) -> None:
        self.owner = owner

    def collect(self) -> Iterator[Metric]:
        cache = self.owner.cache
        if cache is None:
            return
        stats = cache.stats
        lookups = CounterMetricFamily(
            "nexus_response_cache_lookups", "Response cache lookups by result", labels=["result"]
        )
        lookups.add_metric(["memory_hit"], stats.memory_hits)
        lookups.add_metric(["persistent_hit"], stats.persistent_hits)
        lookups.add_metric(["miss"], stats.misses)
        yield lookups
        yield CounterMetricFamily(
            "nexus_response_cache_stores", "Responses stored in the cache", value=stats.stores
        )
        yield GaugeMetricFamily(
            "nexus_response_cache_hit_ratio",
            "Response cache hits / lookups since start (0 before the first lookup)",
            value=stats.hit_rate or 0.0,
        )


class GatewayMetrics:
    """Counts gateway calls on ``metrics``' registry (a private registry without one).

    Make one per app; ``cache`` is the response cache whose counters are exported
    (set when the cache is opened)."""

    def __init__(self, metrics: NexusMetrics | None) -> None:
        self.shared = metrics
        self.cache: ResponseCache | None = None
        registry = metrics.registry if metrics is not None else CollectorRegistry()
        self.requests = Counter(
            "nexus_gateway_requests",
            "Gateway calls by API and outcome",
            ["api", "outcome"],
            registry=registry,
        )
        registry.register(_CacheCollector(self))

    def call(self, api: str, outcome: str, model: str | None, usage: Usage | None) -> None:
        """Count one call; ``model`` and ``usage`` when a model answered it."""
        self.requests.labels(api, outcome).inc()
        if self.shared is None or model is None:
            return
        self.shared.model_calls.labels(model).inc()
        if usage is not None:
            tokens = self.shared.model_tokens
            tokens.labels(model, "input").inc(usage.input_tokens)
            tokens.labels(model, "output").inc(usage.output_tokens + usage.reasoning_tokens)
            tokens.labels(model, "cache_read").inc(usage.cache_read_tokens)
            if usage.cost_usd:
                self.shared.model_cost.labels(model).inc(usage.cost_usd)
