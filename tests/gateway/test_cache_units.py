"""The response cache on its own: the canonical key, the policy, the two tiers, the stats."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus.cache import (
    CacheSettings,
    MemoryCache,
    ResponseCache,
    SqliteCache,
    cache_decision,
    parse_cache_mode,
    request_key,
)
from nexus.domain.messages import Message, ModelRequest, ModelResponse, ToolSpec, Usage
from nexus.errors import UserError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def req(text: str = "hi", **changes: object) -> ModelRequest:
    base = ModelRequest(
        model="fake:m",
        messages=(Message.text("user", text),),
        tools=(ToolSpec(name="t", description="d", parameters={"b": 1, "a": 2}),),
        temperature=0.0,
    )
    return base.model_copy(update=changes)


def answer(text: str = "ok", stop: str = "end_turn") -> ModelResponse:
    return ModelResponse(
        model="fake:m",
        message=Message.text("assistant", text),
        stop_reason=stop,  # type: ignore[arg-type]
        usage=Usage(input_tokens=3, output_tokens=2),
    )


def test_the_key_depends_on_what_decides_the_answer_only() -> None:
    key = request_key(req(), scope="t1", params={"top_p": 1, "stop": ["x"]})
    same = req(agent_id="a", run_id="r", correlation_id="c", metadata={"source": "x"})
    assert request_key(same, scope="t1", params={"stop": ["x"], "top_p": 1}) == key
    reordered = req(tools=(ToolSpec(name="t", description="d", parameters={"a": 2, "b": 1}),))
    assert request_key(reordered, scope="t1", params={"top_p": 1, "stop": ["x"]}) == key
    different = [
        request_key(req(), scope="t2", params={"top_p": 1, "stop": ["x"]}),
        request_key(req("hi!"), scope="t1", params={"top_p": 1, "stop": ["x"]}),
        request_key(req(temperature=0.5), scope="t1", params={"top_p": 1, "stop": ["x"]}),
        request_key(req(max_tokens=9), scope="t1", params={"top_p": 1, "stop": ["x"]}),
        request_key(req(model="fake:n"), scope="t1", params={"top_p": 1, "stop": ["x"]}),
        request_key(req(), scope="t1", params={"top_p": 0.9, "stop": ["x"]}),
    ]
    assert key not in different and len(set(different)) == len(different)
    assert len(key) == 64


def test_policy() -> None:
    deterministic, warm = req(temperature=0.0), req(temperature=0.7)
    unset = req(temperature=None)
    assert cache_decision(deterministic, stream=False, mode="auto").read
    assert not cache_decision(warm, stream=False, mode="auto").used
    assert not cache_decision(unset, stream=False, mode="auto").used
    assert cache_decision(warm, stream=False, mode="on").read
    assert not cache_decision(deterministic, stream=True, mode="on").used
    assert not cache_decision(deterministic, stream=False, mode="off").used
    refresh = cache_decision(deterministic, stream=False, mode="refresh")
    assert (refresh.read, refresh.write) == (False, True)
    assert parse_cache_mode(None) == "auto"
    assert parse_cache_mode(" Bypass ") == "off"
    with pytest.raises(UserError, match="not one of auto, on, off, refresh"):
        parse_cache_mode("sometimes")


def test_memory_tier_is_an_lru_with_ttls() -> None:
    clock = Clock()
    cache: MemoryCache[str] = MemoryCache(2, clock=clock)
    cache.put("a", "A", ttl_s=10)
    cache.put("b", "B", ttl_s=100)
    assert cache.get("a") == "A"  # a is now the most recent
    cache.put("c", "C", ttl_s=100)
    assert cache.get("b") is None and cache.counts.evicted == 1
    clock.now += 11
    assert cache.get("a") is None and cache.counts.expired == 1
    assert cache.get("c") == "C"
    assert len(cache) == 1


def test_sqlite_tier_survives_a_reopen_and_expires(tmp_path: Path) -> None:
    clock = Clock()
    path = tmp_path / "c.db"
    first = SqliteCache(path, clock=clock)
    first.put("k", b"value", ttl_s=60, model="fake:m", scope="t1")
    first.put("old", b"v", ttl_s=5)
    first.close()
    again = SqliteCache(path, clock=clock)
    assert again.get("k") == b"value"
    clock.now += 10
    assert again.get("old") is None and again.counts.expired == 1
    assert len(again) == 1
    again.close()


def test_sqlite_tier_prunes_to_its_row_limit(tmp_path: Path) -> None:
    clock = Clock()
    cache = SqliteCache(tmp_path / "c.db", max_rows=3, clock=clock)
    for i in range(6):
        clock.now += 1
        cache.put(f"k{i}", b"v", ttl_s=60 if i != 4 else 0.5)
    clock.now += 1
    assert cache.prune() == 3  # k4 expired, then the two oldest of the rest
    assert [cache.get(f"k{i}") for i in range(6)] == [None, None, b"v", b"v", None, b"v"]
    cache.close()


def test_response_cache_tiers_and_hit_rate(tmp_path: Path) -> None:
    settings = CacheSettings(cache_ttl_s=60, cache_max_entries=10)
    cache = ResponseCache.open(tmp_path, settings)
    assert cache is not None
    assert cache.get("k") is None
    assert cache.put("k", answer(), scope="t1")
    assert not cache.put("cut", answer(stop="max_tokens"))  # a truncated answer is not kept
    assert not cache.put("bad", answer(stop="error"))
    found = cache.get("k")
    assert found is not None and found.message.text_content == "ok"
    cache.close()

    reopened = ResponseCache.open(tmp_path, settings)
    assert reopened is not None
    from_file = reopened.get("k")
    assert from_file is not None and from_file.usage.output_tokens == 2
    assert reopened.get("k") is not None  # now from memory
    assert reopened.get("cut") is None
    snap = reopened.snapshot()
    assert (snap["persistent_hits"], snap["memory_hits"], snap["misses"]) == (1, 1, 1)
    assert snap["hit_rate"] == pytest.approx(2 / 3, abs=1e-6)
    reopened.close()
    assert ResponseCache.open(tmp_path, CacheSettings(cache_enabled=False)) is None
