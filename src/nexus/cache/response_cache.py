"""The response cache (K2): exact matches on the canonical request hash, in two tiers.

::

    cache = ResponseCache.open(settings.home)             # from NEXUS_CACHE_* settings
    key = request_key(request, scope=tenant_id, params=extra_options)
    found = cache.get(key)                                # memory, then the SQLite file
    if found is None:
        response = await provider.complete(request)
        cache.put(key, response, scope=tenant_id)

A value found in the file is copied into memory. Only successful, complete
answers are stored (:meth:`ResponseCache.put` ignores ``error`` and
``max_tokens`` stops). :class:`CacheStats` counts lookups, hits per tier,
misses and stores; ``hit_rate`` is hits / lookups.

Settings (``NEXUS_…``): ``CACHE_ENABLED`` (1), ``CACHE_TTL_S`` (3600),
``CACHE_MAX_ENTRIES`` (10000, in memory), ``CACHE_PERSIST`` (1: also the file
``$NEXUS_HOME/cache/responses.db``), ``CACHE_MAX_ROWS`` (100000, in the file).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from nexus.cache.store import MemoryCache, SqliteCache
from nexus.domain.messages import ModelResponse
from nexus.errors import StoreError

__all__ = ["CACHE_FILE", "CacheSettings", "CacheStats", "ResponseCache"]

log = logging.getLogger("nexus.cache")

CACHE_FILE = Path("cache") / "responses.db"
_STORED_STOPS = frozenset({"end_turn", "tool_use"})


class CacheSettings(BaseSettings):
    """The ``NEXUS_CACHE_…`` environment variables."""

    model_config = SettingsConfigDict(
        env_prefix="NEXUS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    cache_enabled: bool = True
    cache_ttl_s: float = Field(3600.0, gt=0)
    cache_max_entries: int = Field(10_000, ge=1)
    cache_persist: bool = True
    cache_max_rows: int = Field(100_000, ge=1)


@dataclass(slots=True)
class CacheStats:
    """Counters of one cache since it was opened."""

    lookups: int = 0
    memory_hits: int = 0
    persistent_hits: int = 0
    misses: int = 0
    stores: int = 0
    errors: int = 0

    @property
    def hits(self) -> int:
        return self.memory_hits + self.persistent_hits

    @property
    def hit_rate(self) -> float | None:
        """Hits / lookups, or None before the first lookup."""
        return round(self.hits / self.lookups, 6) if self.lookups else None


class ResponseCache:
    """Model responses by request key: an LRU in memory over an optional SQLite file."""

    def __init__(
        self,
        memory: MemoryCache[ModelResponse],
        persistent: SqliteCache | None = None,
        *,
        ttl_s: float = 3600.0,
    ) -> None:
        self.memory = memory
        self.persistent = persistent
        self.ttl_s = ttl_s
        self.stats = CacheStats()
        self._lock = threading.Lock()

    @classmethod
    def open(cls, home: str | Path, settings: CacheSettings | None = None) -> ResponseCache | None:
        """The cache of a Nexus home as the settings describe it; None when disabled."""
        s = settings if settings is not None else CacheSettings()
        if not s.cache_enabled:
            return None
        persistent = (
            SqliteCache(Path(home) / CACHE_FILE, max_rows=s.cache_max_rows)
            if s.cache_persist
            else None
        )
        return cls(MemoryCache(s.cache_max_entries), persistent, ttl_s=s.cache_ttl_s)

    def _count(self, field: str) -> None:
        with self._lock:
            setattr(self.stats, field, getattr(self.stats, field) + 1)

    def get(self, key: str) -> ModelResponse | None:
        """The cached response for ``key``, or None (a miss). A broken file row is a miss."""
        found = self.memory.get(key)
        if found is not None:
            self._count("lookups")
            self._count("memory_hits")
            return found
        if self.persistent is not None:
            try:
                raw = self.persistent.get(key)
                if raw is not None:
                    response = ModelResponse.model_validate_json(raw)
                    self.memory.put(key, response, self.ttl_s)
                    self._count("lookups")
                    self._count("persistent_hits")
                    return response
            except (StoreError, ValidationError) as exc:
                self._count("errors")
                log.warning("response cache: entry %s unreadable, treated as a miss: %s", key, exc)
        self._count("lookups")
        self._count("misses")
        return None

    def put(
        self, key: str, response: ModelResponse, *, scope: str = "", ttl_s: float | None = None
    ) -> bool:
        """Store a complete answer under ``key``; False (nothing stored) for an error or a
        truncated answer. A failure to write the file is logged, never raised."""
        if response.stop_reason not in _STORED_STOPS:
            return False
        ttl = ttl_s if ttl_s is not None else self.ttl_s
        self.memory.put(key, response, ttl)
        if self.persistent is not None:
            try:
                self.persistent.put(
                    key,
                    response.model_dump_json().encode(),
                    ttl,
                    model=response.model,
                    scope=scope,
                )
            except StoreError as exc:
                self._count("errors")
                log.warning("response cache: could not store %s: %s", key, exc)
        self._count("stores")
        return True

    def snapshot(self) -> dict[str, Any]:
        """The counters, the hit rate and the tiers' sizes, as a JSON-ready dict."""
        with self._lock:
            s = self.stats
            out: dict[str, Any] = {
                "lookups": s.lookups,
                "hits": s.hits,
                "memory_hits": s.memory_hits,
                "persistent_hits": s.persistent_hits,
                "misses": s.misses,
                "stores": s.stores,
                "errors": s.errors,
                "hit_rate": s.hit_rate,
            }
        out["memory_entries"] = len(self.memory)
        out["memory_evicted"] = self.memory.counts.evicted
        out["expired"] = self.memory.counts.expired
        if self.persistent is not None:
            out["persistent_expired"] = self.persistent.counts.expired
            out["persistent_evicted"] = self.persistent.counts.evicted
        out["ttl_s"] = self.ttl_s
        return out

    def close(self) -> None:
        if self.persistent is not None:
            self.persistent.close()
