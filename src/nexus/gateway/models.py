"""Model names at the gateway: what a client writes → the registry's ``provider:model``.

Resolution, in order:

1. an alias from ``NEXUS_GATEWAY_ALIASES`` (``pattern=model,…``; shell-style
   patterns, first match wins), e.g. ``claude-*=auto,gpt-4o=openai:gpt-4o-mini``;
2. ``auto`` is ``router:auto`` (the router decides per request);
3. ``provider:model`` with a registered provider is used as it is;
4. a bare name (no ``provider:``) goes to the API's own provider: ``openai:`` for
   ``/v1/chat/completions``, ``anthropic:`` for ``/v1/messages`` — so clients that
   send their usual model names (the Claude Code CLI does) work unchanged.

Anything else is :class:`~nexus.gateway.errors.ModelNotFound` (404), as is a name
the provider's factory refuses (``router:nonsense``).

The model list (``GET /v1/models``): ``auto``, the router's modes
(``router:auto``, ``router:cost`` …) and every catalog model whose provider is
registered and configured (an API key or base URL set).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from nexus.errors import ConfigError
from nexus.gateway.errors import InvalidRequest, ModelNotFound
from nexus.providers.base import ModelProvider
from nexus.providers.registry import ALIASES, ModelRegistry

__all__ = ["Api", "ModelEntry", "ModelNames", "parse_aliases"]

Api = Literal["openai", "anthropic"]
NATIVE_PREFIX: dict[Api, str] = {"openai": "openai", "anthropic": "anthropic"}
ALIASES_ENV = "NEXUS_GATEWAY_ALIASES"
_RESOLVED_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class ModelEntry:
    """One model the gateway lists."""

    id: str
    owned_by: str


def parse_aliases(spec: str) -> tuple[tuple[str, str], ...]:
    """``"claude-*=auto, gpt-4o=openai:gpt-4o-mini"`` → ``(("claude-*", "auto"), …)``."""
    pairs: list[tuple[str, str]] = []
    for item in spec.split(","):
        if not item.strip():
            continue
        pattern, sep, target = item.partition("=")
        if not sep or not pattern.strip() or not target.strip():
            raise ConfigError(
                f"{ALIASES_ENV}: '{item.strip()}' is not pattern=model"
                " (e.g. claude-*=auto,gpt-4o=openai:gpt-4o-mini)"
            )
        pairs.append((pattern.strip(), target.strip()))
    return tuple(pairs)


class ModelNames:
    """Resolves client model names against a registry, and lists the models offered."""

    def __init__(
        self,
        registry: ModelRegistry,
        *,
        aliases: tuple[tuple[str, str], ...] | None = None,
        home: str | Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        source = os.environ if env is None else env
        self.registry = registry
        self.aliases = (
            aliases if aliases is not None else parse_aliases(source.get(ALIASES_ENV, ""))
        )
        self.home = home
        self._resolved: dict[tuple[str, Api], str] = {}

    def resolve(self, name: str, api: Api) -> str:
        """The registry name for the model a client asked for (see the module docstring)."""
        found = self._resolved.get((name, api))
        if found is not None:
            return found
        full = self._resolve(name, api)
        if len(self._resolved) >= _RESOLVED_LIMIT:
            self._resolved.clear()
        self._resolved[(name, api)] = full
        return full

    def _resolve(self, name: str, api: Api) -> str:
        asked = name.strip()
        if not asked:
            raise InvalidRequest(
                "'model' must name a model, e.g. auto or openai:gpt-4o-mini", param="model"
            )
        target = asked
        for pattern, alias in self.aliases:
            if fnmatch.fnmatchcase(asked, pattern):
                target = alias
                break
        target = ALIASES.get(target, target)
        prefix, sep, _rest = target.partition(":")
        if not sep:
            native = NATIVE_PREFIX[api]
            if native not in self.registry:
                raise self._not_found(asked)
            return f"{native}:{target}"
        if not prefix or prefix not in self.registry:
            raise self._not_found(asked)
        return target

    def _not_found(self, asked: str) -> ModelNotFound:
        return ModelNotFound(
            f"the model '{asked}' does not exist here; use auto, provider:model with one of the"
            f" providers {', '.join(self.registry.names())}, or a name from GET /v1/models",
            model=asked,
        )

    def provider(self, full_name: str, asked: str) -> ModelProvider:
        """The provider for a resolved name; a name its factory refuses is ModelNotFound."""
        try:
            return self.registry.get(full_name)
        except ConfigError as exc:
            raise ModelNotFound(
                f"the model '{asked}' is not available: {exc.message}", model=asked
            ) from None

    def listed(self) -> list[ModelEntry]:
        """``auto``, the router's modes, and the configured catalog models."""
        from nexus.routing.catalog import load_catalog
        from nexus.routing.provider import provider_configured
        from nexus.routing.scoring import MODES

        entries = [ModelEntry("auto", "nexus")]
        if "router" in self.registry:
            entries.extend(ModelEntry(f"router:{mode}", "nexus") for mode in ("auto", *MODES))
        try:
            catalog = load_catalog(self.home)
        except ConfigError:
            return entries
        for name in catalog.names():
            prefix = name.partition(":")[0]
            if prefix in self.registry and provider_configured(prefix):
                entries.append(ModelEntry(name, prefix))
        return entries

    def find(self, model_id: str) -> ModelEntry:
        """The listed model ``model_id``, else ModelNotFound."""
        for entry in self.listed():
            if entry.id == model_id:
                return entry
        raise self._not_found(model_id)
