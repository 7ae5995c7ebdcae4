"""The model catalog: shipped models, prices from the price table, user extension."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from nexus.errors import ConfigError
from nexus.providers.pricing import default_price_table
from nexus.routing.analyzer import TASK_TYPES
from nexus.routing.catalog import Catalog, load_catalog

from .conftest import entry


def test_shipped_catalog_has_ten_real_models_and_the_offline_one(shipped: Catalog) -> None:
    real = [n for n, s in shipped.models.items() if not s.last_resort]
    assert len(real) == 10
    assert {n.partition(":")[0] for n in real} == {"openai", "anthropic", "ollama"}
    assert shipped["offline:replay"].last_resort
    assert shipped.strongest() == "anthropic:claude-opus-4-1"


def test_shipped_prices_are_the_price_tables(shipped: Catalog) -> None:
    table = default_price_table()
    for name, spec in shipped.models.items():
        price = table.price_of(name)
        assert price is not None, name
        assert (spec.price_input, spec.price_output) == (price.input, price.output), name
    assert shipped["ollama:qwen2.5-coder:7b"].cost_usd(10_000, 1_000) == 0.0
    # 30k in, 3k out on Opus: 30k × $15/M + 3k × $75/M
    assert shipped["anthropic:claude-opus-4-1"].cost_usd(30_000, 3_000) == pytest.approx(0.675)


def test_every_model_has_a_fit_for_every_task_type(shipped: Catalog) -> None:
    for spec in shipped.models.values():
        assert len(spec.task_fit) == len(TASK_TYPES)
        assert all(0.0 <= f <= 1.0 for f in spec.task_fit)
        assert spec.context_window >= 32_000
        assert spec.tokens_per_s > 0


def test_home_catalog_merges_over_the_shipped_one(nexus_home: Path) -> None:
    nexus_home.mkdir(parents=True, exist_ok=True)
    (nexus_home / "catalog.yaml").write_text(
        yaml.safe_dump(
            {
                "models": {
                    "openai:gpt-4.1-mini": {"quality": 0.5},
                    "ollama:llama3.1:8b": None,
                    "ollama:qwen3:32b": entry(0.8, 0.0, 0.0, context_window=40_000),
                },
                "rules": [{"name": "mine", "model": "openai:gpt-4.1", "if": {"role": "x"}}],
                "router": {"strategy": "thompson"},
            }
        )
    )
    catalog = load_catalog(nexus_home)
    assert catalog["openai:gpt-4.1-mini"].quality == 0.5
    assert catalog["openai:gpt-4.1-mini"].context_window == 1047576  # other fields kept
    assert "ollama:llama3.1:8b" not in catalog
    assert catalog["ollama:qwen3:32b"].context_window == 40_000
    assert catalog.rules[0]["name"] == "mine"
    assert catalog.config.strategy == "thompson"
    assert catalog.config.reward_scale_usd == 0.10  # shipped setting kept


def test_nexus_catalog_file_comes_last(
    nexus_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nexus_home.mkdir(parents=True, exist_ok=True)
    (nexus_home / "catalog.yaml").write_text("models: {openai:gpt-4.1: {quality: 0.6}}\n")
    named = tmp_path / "team-catalog.yaml"
    named.write_text("models: {openai:gpt-4.1: {quality: 0.7}}\n")
    monkeypatch.setenv("NEXUS_CATALOG", str(named))
    catalog = load_catalog(nexus_home)
    assert catalog["openai:gpt-4.1"].quality == 0.7
    assert catalog.sources[-1] == str(named)


def test_missing_catalog_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NEXUS_CATALOG", str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match=r"nope\.yaml"):
        load_catalog()


@pytest.mark.parametrize(
    ("models", "message"),
    [
        ({"nocolon": entry(0.5, 1, 1)}, "provider:model"),
        ({"x:y": {**entry(0.5, 1, 1), "quality": 1.5}}, "bad entry for model 'x:y'"),
        ({"x:y": {**entry(0.5, 1, 1), "task_fit": {"poetry": 0.5}}}, "unknown task type"),
        ({"x:y": {**entry(0.5, 1, 1), "speed": 3}}, "bad entry for model 'x:y'"),
        (
            {"unpriced:model": {k: v for k, v in entry(0.5, 1, 1).items() if k != "price"}},
            "has no price",
        ),
        ({}, "empty"),
    ],
)
def test_bad_catalog_entries_are_named(models: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Catalog.from_mapping({"models": models}, "test")


def test_unknown_router_candidates_are_refused() -> None:
    with pytest.raises(ConfigError, match="not in the catalog: x:z"):
        Catalog.from_mapping(
            {"models": {"x:y": entry(0.5, 1, 1)}, "router": {"candidates": ["x:z"]}}, "test"
        )


def test_task_fit_default_fills_missing_types() -> None:
    catalog = Catalog.from_mapping(
        {"models": {"x:y": entry(0.5, 1, 1, task_fit={"code": 0.9, "default": 0.3})}}, "t"
    )
    assert catalog["x:y"].fit("code") == 0.9
    assert catalog["x:y"].fit("docs") == 0.3
