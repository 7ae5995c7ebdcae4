"""The shipped price table and cost arithmetic."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus.domain.messages import Usage
from nexus.errors import ConfigError
from nexus.providers import pricing
from nexus.providers.pricing import ModelPrice, PriceTable, cost_of, default_price_table


def test_offline_replay_is_priced_like_a_mid_size_model() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=100_000)
    assert cost_of("offline:replay", usage) == pytest.approx(2.50 + 1.00)


def test_cost_of_known_models() -> None:
    usage = Usage(input_tokens=1000, output_tokens=500)
    assert cost_of("openai:gpt-4o-mini", usage) == pytest.approx(0.00015 + 0.0003)
    assert cost_of("anthropic:claude-sonnet-4-0", usage) == pytest.approx(0.003 + 0.0075)


def test_cache_and_reasoning_tokens() -> None:
    usage = Usage(cache_read_tokens=1_000_000, cache_write_tokens=1_000_000, reasoning_tokens=10)
    # sonnet: cache read 0.30, cache write 3.75, reasoning billed as output (15 / M)
    expected = 0.30 + 3.75 + 10 * 15 / 1_000_000
    assert cost_of("anthropic:claude-sonnet-4-0", usage) == pytest.approx(expected)
    # without cache prices, cache tokens cost the input price
    assert ModelPrice(input=2.0, output=4.0).cost(Usage(cache_read_tokens=500_000)) == 1.0


def test_lookup_dated_snapshot_wildcard_and_unknown() -> None:
    table = default_price_table()
    assert table.price_of("openai:gpt-4o-2024-08-06") == table.price_of("openai:gpt-4o")
    # the longest prefix wins: gpt-4o-mini-… is not priced as gpt-4o
    assert table.price_of("openai:gpt-4o-mini-2024-07-18") == table.price_of("openai:gpt-4o-mini")
    assert cost_of("ollama:llama3.2", Usage(input_tokens=10**6)) == 0.0
    assert table.price_of("nobody:model") is None
    assert cost_of("nobody:model", Usage(input_tokens=10**6)) == 0.0


def test_override_file_named_by_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    override = tmp_path / "prices.yaml"
    override.write_text("models:\n  openai:gpt-4o-mini: {input: 1.0, output: 2.0}\n")
    monkeypatch.setenv("NEXUS_PRICES", str(override))
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert cost_of("openai:gpt-4o-mini", usage) == pytest.approx(3.0)
    assert cost_of("offline:replay", usage) == pytest.approx(12.5)  # shipped entries stay


def test_bad_price_file_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("models:\n  x:y: {input: -1}\n")
    with pytest.raises(ConfigError, match="bad entry for 'x:y'"):
        PriceTable.load(bad)
    assert "offline:replay" in pricing.PriceTable.shipped().names()
