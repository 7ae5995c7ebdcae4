"""Model prices (M2): a shipped, overridable table and the cost of a response's usage.

The table ships as ``prices.yaml`` in this package: USD per million input,
output, cache-read and cache-write tokens per ``provider:model``. Reasoning
tokens are priced as output. A file named by ``NEXUS_PRICES`` (same shape) is
merged over it. Lookup order for a model name: the exact name, the longest
listed name that the model name starts with followed by ``-`` (dated
snapshots such as ``openai:gpt-4o-2024-08-06``), then ``provider:*``.
"""

from __future__ import annotations

import os
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from nexus.domain.messages import Usage
from nexus.errors import ConfigError

__all__ = ["ModelPrice", "PriceTable", "cost_of", "default_price_table"]

_PER_TOKEN = 1_000_000


class ModelPrice(BaseModel):
    """USD per million tokens of each kind."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input: float = Field(0.0, ge=0)
    output: float = Field(0.0, ge=0)
    cache_read: float | None = Field(None, ge=0)
    cache_write: float | None = Field(None, ge=0)

    def cost(self, usage: Usage) -> float:
        """The cost in USD of ``usage`` at these prices (cache prices default to input)."""
        cache_read = self.input if self.cache_read is None else self.cache_read
        cache_write = self.input if self.cache_write is None else self.cache_write
        total = (
            usage.input_tokens * self.input
            + (usage.output_tokens + usage.reasoning_tokens) * self.output
            + usage.cache_read_tokens * cache_read
            + usage.cache_write_tokens * cache_write
        )
        return round(total / _PER_TOKEN, 8)


class PriceTable:
    """Prices by model name. Build with :meth:`shipped`, :meth:`load` or from a mapping."""

    def __init__(self, prices: dict[str, ModelPrice] | None = None) -> None:
        self._prices: dict[str, ModelPrice] = dict(prices or {})

    @classmethod
    def from_mapping(cls, data: Any, source: str = "<mapping>") -> PriceTable:
        """Parse ``{models: {name: {input, output, …}}}`` (or the bare ``models`` mapping)."""
        if isinstance(data, dict) and "models" in data:
            data = data["models"]
        if not isinstance(data, dict):
            raise ConfigError(f"price table {source}: expected a mapping of model names to prices")
        prices: dict[str, ModelPrice] = {}
        for name, entry in data.items():
            try:
                prices[str(name)] = ModelPrice.model_validate(entry)
            except ValidationError as exc:
                raise ConfigError(f"price table {source}: bad entry for '{name}': {exc}") from exc
        return cls(prices)

    @classmethod
    def load(cls, path: str | Path) -> PriceTable:
        """Read a YAML or JSON price file."""
        file = Path(path)
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"price table {file}: cannot be read: {exc}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"price table {file}: invalid YAML: {exc}") from exc
        return cls.from_mapping(data, str(file))

    @classmethod
    def shipped(cls) -> PriceTable:
        """The table that ships with Nexus."""
        text = resources.files("nexus.providers").joinpath("prices.yaml").read_text("utf-8")
        return cls.from_mapping(yaml.safe_load(text), "nexus/providers/prices.yaml")

    def merged(self, other: PriceTable) -> PriceTable:
        """A new table: this one with ``other``'s entries added or replacing."""
        return PriceTable({**self._prices, **other._prices})

    def names(self) -> list[str]:
        return sorted(self._prices)

    def price_of(self, model: str) -> ModelPrice | None:
        """The price entry for ``model``, or None when the table does not know it."""
        exact = self._prices.get(model)
        if exact is not None:
            return exact
        best: str | None = None
        for name in self._prices:
            if (
                not name.endswith(":*")
                and model.startswith(name + "-")
                and (best is None or len(name) > len(best))
            ):
                best = name
        if best is not None:
            return self._prices[best]
        provider = model.partition(":")[0]
        return self._prices.get(f"{provider}:*")

    def cost_of(self, model: str, usage: Usage) -> float:
        """USD for ``usage`` on ``model``; 0.0 for a model the table does not know."""
        price = self.price_of(model)
        return 0.0 if price is None else price.cost(usage)


@lru_cache(maxsize=8)
def _table_for(override: str) -> PriceTable:
    table = PriceTable.shipped()
    if override:
        table = table.merged(PriceTable.load(override))
    return table


def default_price_table() -> PriceTable:
    """The shipped table, with the file named by ``NEXUS_PRICES`` merged over it."""
    return _table_for(os.environ.get("NEXUS_PRICES", ""))


def cost_of(model: str, usage: Usage, table: PriceTable | None = None) -> float:
    """USD cost of ``usage`` on ``model`` (``provider:model``) by the default price table."""
    return (table or default_price_table()).cost_of(model, usage)
