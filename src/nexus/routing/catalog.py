"""The model catalog (M4): what the router knows about each model before it has outcomes.

The catalog ships as ``catalog.yaml`` in this package. A user extends or
overrides it with ``NEXUS_HOME/catalog.yaml`` and then the file named by
``NEXUS_CATALOG``: each is merged over the previous one by model name (an
entry's fields replace the shipped entry's fields; ``name: null`` removes a
model), its ``rules`` come before the shipped ones, and its ``router`` settings
replace the shipped settings one by one.

Prices come from the price table (:mod:`nexus.providers.pricing`) so that the
router and the cost accounting agree; an entry may carry its own ``price`` for
a model the table does not list.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from nexus.errors import ConfigError
from nexus.providers.pricing import PriceTable, default_price_table
from nexus.routing.analyzer import TASK_TYPES

__all__ = [
    "Catalog",
    "ModelSpec",
    "RouterConfig",
    "load_catalog",
    "merge_catalog_data",
]

Strategy = Literal["ucb1", "thompson"]
_TASK_FIT_KEYS = (*TASK_TYPES, "default")


class _Price(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    input: float = Field(ge=0)
    output: float = Field(ge=0)


class _Entry(BaseModel):
    """One catalog entry as written in YAML (validated, then turned into a ModelSpec)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tier: str = "medium"
    quality: float = Field(ge=0, le=1)
    task_fit: dict[str, float] = Field(default_factory=dict)
    context_window: int = Field(ge=1)
    capabilities: tuple[str, ...] = ("tools", "streaming")
    ttft_s: float = Field(ge=0)
    tokens_per_s: float = Field(gt=0)
    confidence: float | None = Field(None, ge=0, le=1)
    price: _Price | None = None
    last_resort: bool = False

    @field_validator("task_fit")
    @classmethod
    def _known_types(cls, fit: dict[str, float]) -> dict[str, float]:
        unknown = [t for t in fit if t not in _TASK_FIT_KEYS]
        if unknown:
            raise ValueError(
                f"unknown task type(s) {', '.join(unknown)}; known: {', '.join(_TASK_FIT_KEYS)}"
            )
        bad = [t for t, v in fit.items() if not 0.0 <= v <= 1.0]
        if bad:
            raise ValueError(f"task_fit values must be within 0..1 (not for {', '.join(bad)})")
        return fit


class RouterConfig(BaseModel):
    """The router's tunables (the ``router:`` section of a catalog file).

    ``strategy``: the bandit, ``ucb1`` or ``thompson``. ``reward_scale_usd``: the
    cost at which a verified success earns half the reward (reward = success ×
    scale / (scale + cost)); it is also the cost that scores 0.5 on the Cost node.
    ``latency_scale_s``: the time per model call that scores 0.5 on Speed.
    ``prior_strength``: how many outcomes the catalog priors count as.
    ``explore``: the UCB1 exploration coefficient. ``candidates``: the models
    ``router:auto`` may choose (default: every catalog model whose provider is
    registered).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: Strategy = "ucb1"
    reward_scale_usd: float = Field(0.10, gt=0)
    latency_scale_s: float = Field(10.0, gt=0)
    prior_strength: float = Field(2.0, gt=0)
    explore: float = Field(0.3, ge=0)
    candidates: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What the router knows about one model before outcomes. Prices in USD per Mtok."""

    name: str
    tier: str
    quality: float
    #: task fit per task type, in the order of ``TASK_TYPES``
    task_fit: tuple[float, ...]
    context_window: int
    capabilities: frozenset[str]
    ttft_s: float
    tokens_per_s: float
    confidence: float
    price_input: float
    price_output: float
    last_resort: bool = False

    @property
    def provider(self) -> str:
        return self.name.partition(":")[0]

    @property
    def supports_tools(self) -> bool:
        return "tools" in self.capabilities

    def fit(self, task_type: str) -> float:
        """The task fit for ``task_type`` (0..1)."""
        return self.task_fit[TASK_TYPES.index(task_type)]

    def cost_usd(self, input_tokens: float, output_tokens: float) -> float:
        """The price of a step that reads ``input_tokens`` and writes ``output_tokens``."""
        return (input_tokens * self.price_input + output_tokens * self.price_output) / 1e6

    def latency_s(self, calls: float, output_tokens: float) -> float:
        """The expected duration of ``calls`` model calls writing ``output_tokens`` in all."""
        return calls * self.ttft_s + output_tokens / self.tokens_per_s


class Catalog:
    """Models by name, the raw rules, and the router settings of a merged catalog."""

    def __init__(
        self,
        models: dict[str, ModelSpec],
        rules: list[dict[str, Any]] | None = None,
        config: RouterConfig | None = None,
        sources: tuple[str, ...] = (),
    ) -> None:
        if not models:
            raise ConfigError("the model catalog is empty; the router needs at least one model")
        self.models = dict(models)
        self.rules = list(rules or [])
        self.config = config or RouterConfig()
        self.sources = sources

    @classmethod
    def from_mapping(
        cls,
        data: Any,
        source: str = "<mapping>",
        prices: PriceTable | None = None,
        sources: tuple[str, ...] = (),
    ) -> Catalog:
        """Build from ``{models: {...}, rules: [...], router: {...}}``."""
        if not isinstance(data, dict):
            raise ConfigError(f"catalog {source}: expected a mapping with 'models'")
        raw_models = data.get("models") or {}
        if not isinstance(raw_models, dict):
            raise ConfigError(
                f"catalog {source}: 'models' must map provider:model names to entries"
            )
        table = prices or default_price_table()
        models = {
            str(name): _spec(str(name), entry, source, table)
            for name, entry in raw_models.items()
            if entry is not None
        }
        rules = data.get("rules") or []
        if not isinstance(rules, list):
            raise ConfigError(f"catalog {source}: 'rules' must be a list")
        try:
            config = RouterConfig.model_validate(data.get("router") or {})
        except ValidationError as exc:
            raise ConfigError(f"catalog {source}: bad 'router' settings: {exc}") from exc
        if config.candidates is not None:
            unknown = [c for c in config.candidates if c not in models]
            if unknown:
                raise ConfigError(
                    f"catalog {source}: router candidates not in the catalog: {', '.join(unknown)}"
                )
        return cls(models, rules, config, sources or (source,))

    def __contains__(self, name: object) -> bool:
        return name in self.models

    def __getitem__(self, name: str) -> ModelSpec:
        try:
            return self.models[name]
        except KeyError:
            raise ConfigError(
                f"model '{name}' is not in the router catalog; known: {', '.join(self.names())}"
            ) from None

    def __len__(self) -> int:
        return len(self.models)

    def names(self) -> list[str]:
        """Model names in catalog order."""
        return list(self.models)

    def strongest(self) -> str:
        """The model with the highest quality prior (ties: the first listed)."""
        return max(self.models.values(), key=lambda m: m.quality).name


def _spec(name: str, entry: Any, source: str, table: PriceTable) -> ModelSpec:
    if ":" not in name:
        raise ConfigError(f"catalog {source}: model '{name}' must be written as provider:model")
    try:
        parsed = _Entry.model_validate(entry)
    except ValidationError as exc:
        raise ConfigError(f"catalog {source}: bad entry for model '{name}': {exc}") from exc
    if parsed.price is not None:
        price_in, price_out = parsed.price.input, parsed.price.output
    else:
        listed = table.price_of(name)
        if listed is None:
            raise ConfigError(
                f"catalog {source}: model '{name}' has no price; add 'price: {{input: …,"
                " output: …}}' (USD per million tokens) or list it in the price table"
            )
        price_in, price_out = listed.input, listed.output
    default_fit = parsed.task_fit.get("default", parsed.quality)
    return ModelSpec(
        name=name,
        tier=parsed.tier,
        quality=parsed.quality,
        task_fit=tuple(parsed.task_fit.get(t, default_fit) for t in TASK_TYPES),
        context_window=parsed.context_window,
        capabilities=frozenset(parsed.capabilities),
        ttft_s=parsed.ttft_s,
        tokens_per_s=parsed.tokens_per_s,
        confidence=parsed.quality if parsed.confidence is None else parsed.confidence,
        price_input=price_in,
        price_output=price_out,
        last_resort=parsed.last_resort,
    )


def merge_catalog_data(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` merged over ``base`` (both raw catalog mappings); see the module docstring."""
    models: dict[str, Any] = dict(base.get("models") or {})
    for name, entry in (extra.get("models") or {}).items():
        if entry is None:
            models.pop(name, None)
        elif isinstance(entry, dict) and isinstance(models.get(name), dict):
            models[name] = {**models[name], **entry}
        else:
            models[name] = entry
    rules = list(extra.get("rules") or []) + list(base.get("rules") or [])
    router = {**(base.get("router") or {}), **(extra.get("router") or {})}
    return {"version": 1, "models": models, "rules": rules, "router": router}


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"catalog {path}: cannot be read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"catalog {path}: invalid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"catalog {path}: expected a mapping with 'models', 'rules', 'router'")
    return data


def shipped_catalog_data() -> dict[str, Any]:
    """The raw mapping of the catalog that ships with Nexus."""
    text = resources.files("nexus.routing").joinpath("catalog.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def load_catalog(
    home: str | Path | None = None,
    *,
    path: str | Path | None = None,
    prices: PriceTable | None = None,
) -> Catalog:
    """The shipped catalog, with ``home/catalog.yaml`` and then ``path`` (default: the
    ``NEXUS_CATALOG`` environment variable) merged over it."""
    data = shipped_catalog_data()
    sources = ["nexus/routing/catalog.yaml"]
    extra_paths: list[Path] = []
    if home is not None and Path(home, "catalog.yaml").is_file():
        extra_paths.append(Path(home, "catalog.yaml"))
    named = path if path is not None else os.environ.get("NEXUS_CATALOG", "")
    if named:
        if not Path(named).is_file():
            raise ConfigError(f"catalog file {named} (NEXUS_CATALOG) does not exist")
        extra_paths.append(Path(named))
    for extra in extra_paths:
        data = merge_catalog_data(data, _read(extra))
        sources.append(str(extra))
    return Catalog.from_mapping(data, " + ".join(sources), prices, tuple(sources))
