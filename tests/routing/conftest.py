"""Shared helpers for router tests: catalogs built from small mappings."""

from __future__ import annotations

from typing import Any

import pytest

from nexus.routing.catalog import Catalog, load_catalog


def entry(quality: float, price_in: float, price_out: float, **extra: Any) -> dict[str, Any]:
    """A catalog entry with a price of its own (so tests do not depend on the price table)."""
    return {
        "quality": quality,
        "context_window": extra.pop("context_window", 128_000),
        "ttft_s": extra.pop("ttft_s", 0.5),
        "tokens_per_s": extra.pop("tokens_per_s", 80),
        "price": {"input": price_in, "output": price_out},
        **extra,
    }


@pytest.fixture
def three_models() -> Catalog:
    """A strong and dear model, a middling one, a weak and cheap one."""
    return Catalog.from_mapping(
        {
            "models": {
                "test:strong": entry(0.93, 15.0, 75.0, ttft_s=2.0, tokens_per_s=30),
                "test:mid": entry(0.85, 3.0, 15.0),
                "test:cheap": entry(0.65, 0.1, 0.4, ttft_s=0.2, tokens_per_s=200),
            }
        },
        "test catalog",
    )


@pytest.fixture
def shipped() -> Catalog:
    return load_catalog()
