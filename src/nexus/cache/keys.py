"""Which requests the response cache may answer, and the key it files them under (K2).

The key is the SHA-256 of a canonical JSON form of everything that decides the
answer: the model name, the messages (roles and parts), the tools, ``max_tokens``,
``temperature``, any other sampling options the client sent (``params``: top_p,
stop, seed, tool_choice, response_format …) and a ``scope`` — the tenant — so one
tenant is never served another tenant's answer. Who asks (agent, run, step,
correlation id) and request metadata do not count. Keys in objects are sorted, so
the same request always hashes the same, whatever order the client wrote it in.

The policy (:func:`cache_decision`): a streamed request is never cached; a request
with ``temperature`` 0 is (it asks for the model's deterministic answer); any other
request only when the client opts in (mode ``on``). Mode ``off`` neither reads nor
writes; mode ``refresh`` skips the read and stores the fresh answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from nexus.domain.messages import ModelRequest
from nexus.errors import UserError

__all__ = [
    "CACHE_MODES",
    "CacheDecision",
    "CacheMode",
    "cache_decision",
    "canonical_request",
    "parse_cache_mode",
    "request_key",
]

CacheMode = Literal["auto", "on", "off", "refresh"]
CACHE_MODES: tuple[CacheMode, ...] = ("auto", "on", "off", "refresh")
_SYNONYMS: dict[str, CacheMode] = {
    "": "auto",
    "auto": "auto",
    "on": "on",
    "use": "on",
    "yes": "on",
    "true": "on",
    "1": "on",
    "off": "off",
    "no": "off",
    "false": "off",
    "0": "off",
    "bypass": "off",
    "no-store": "off",
    "refresh": "refresh",
}


@dataclass(frozen=True, slots=True)
class CacheDecision:
    """Whether to look a request up (``read``) and whether to store its answer (``write``)."""

    read: bool
    write: bool

    @property
    def used(self) -> bool:
        return self.read or self.write


_NONE = CacheDecision(False, False)
_BOTH = CacheDecision(True, True)
_WRITE_ONLY = CacheDecision(False, True)


def parse_cache_mode(value: str | None) -> CacheMode:
    """A mode from a header value (``on``, ``off``, ``refresh``, ``auto`` and synonyms)."""
    mode = _SYNONYMS.get((value or "").strip().lower())
    if mode is None:
        raise UserError(
            f"cache mode '{value}' is not one of auto, on, off, refresh",
            field="header.x-nexus-cache",
        )
    return mode


def cache_decision(request: ModelRequest, *, stream: bool, mode: CacheMode) -> CacheDecision:
    """What the cache does for ``request`` (see the module docstring)."""
    if stream or mode == "off":
        return _NONE
    if mode == "refresh":
        return _WRITE_ONLY
    if mode == "on" or request.temperature == 0:
        return _BOTH
    return _NONE


def canonical_request(
    request: ModelRequest, *, scope: str = "", params: Mapping[str, Any] | None = None
) -> bytes:
    """The canonical JSON bytes that :func:`request_key` hashes."""
    form = {
        "v": 1,
        "scope": scope,
        "model": request.model,
        "messages": [m.model_dump(mode="json") for m in request.messages],
        "tools": [t.model_dump(mode="json") for t in request.tools],
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "params": dict(params or {}),
    }
    try:
        return orjson.dumps(form, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except TypeError as exc:
        raise UserError(f"request cannot be cached: a value is not JSON ({exc})") from exc


def request_key(
    request: ModelRequest, *, scope: str = "", params: Mapping[str, Any] | None = None
) -> str:
    """The hex SHA-256 cache key of ``request`` in ``scope`` (e.g. the tenant)."""
    return hashlib.sha256(canonical_request(request, scope=scope, params=params)).hexdigest()
