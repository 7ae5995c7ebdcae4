"""The response cache (K2): exact matches on a canonical request hash, in memory (LRU with
TTLs) and in a SQLite file, with hit-rate counters. See ``docs/gateway.md`` for the policy.

- :mod:`~nexus.cache.keys`: the canonical request hash and which requests are cached
- :mod:`~nexus.cache.store`: the tiers (``MemoryCache``, ``SqliteCache``)
- :mod:`~nexus.cache.response_cache`: ``ResponseCache`` over both, its settings and stats
"""

from nexus.cache.keys import (
    CACHE_MODES,
    CacheDecision,
    CacheMode,
    cache_decision,
    canonical_request,
    parse_cache_mode,
    request_key,
)
from nexus.cache.response_cache import CACHE_FILE, CacheSettings, CacheStats, ResponseCache
from nexus.cache.store import MemoryCache, SqliteCache

__all__ = [
    "CACHE_FILE",
    "CACHE_MODES",
    "CacheDecision",
    "CacheMode",
    "CacheSettings",
    "CacheStats",
    "MemoryCache",
    "ResponseCache",
    "SqliteCache",
    "cache_decision",
    "canonical_request",
    "parse_cache_mode",
    "request_key",
]
