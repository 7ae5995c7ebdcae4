"""Model providers by name: ``registry.get("offline:replay")`` → a provider.

A provider is registered under its prefix with a factory that receives the part
of the name after the colon (``"replay"``) and returns a
:class:`~nexus.providers.base.ModelProvider`. Instances are made once per full
name and reused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from nexus.errors import ConfigError, NexusError
from nexus.providers.base import ModelProvider
from nexus.providers.claude_code import register_claude_code
from nexus.providers.offline import OfflineProvider, cassette_dirs_from_env
from nexus.providers.remote import register_remote_providers
from nexus.settings import Settings

__all__ = ["ModelRegistry", "ProviderCheck", "ProviderFactory", "default_registry"]

ProviderFactory = Callable[[str], ModelProvider]
#: names that stand for a full provider:model name
ALIASES: dict[str, str] = {"auto": "router:auto"}
#: a health check of a provider: ``{"ok": bool, "detail": str}``
ProviderCheck = Callable[[], dict[str, Any]]


class ModelRegistry:
    """Provider factories by prefix, and the providers made from them by full name."""

    def __init__(self) -> None:
        self._factories: dict[str, ProviderFactory] = {}
        self._checks: dict[str, ProviderCheck] = {}
        self._instances: dict[str, ModelProvider] = {}

    def register(
        self, prefix: str, factory: ProviderFactory, *, check: ProviderCheck | None = None
    ) -> None:
        """Register (or replace) the factory for ``prefix``; forgets instances made before.

        ``check`` (optional) tells whether the provider is usable, for ``nexus doctor``.
        """
        if not prefix or ":" in prefix:
            raise ConfigError(f"provider prefix '{prefix}' must be a non-empty name without ':'")
        self._factories[prefix] = factory
        if check is not None:
            self._checks[prefix] = check
        else:
            self._checks.pop(prefix, None)
        for name in [n for n in self._instances if n.partition(":")[0] == prefix]:
            del self._instances[name]

    def get(self, name: str) -> ModelProvider:
        """The provider for ``provider:model`` (or an alias: ``auto`` is ``router:auto``).
        Unknown provider → ConfigError naming the known."""
        name = ALIASES.get(name, name)
        prefix, sep, model = name.partition(":")
        if not sep or not prefix:
            raise ConfigError(
                f"model '{name}' must be written as provider:model (known providers:"
                f" {', '.join(self.names()) or 'none'})",
                model=name,
            )
        provider = self._instances.get(name)
        if provider is not None:
            return provider
        factory = self._factories.get(prefix)
        if factory is None:
            raise ConfigError(
                f"unknown model provider '{prefix}' in '{name}'; known providers:"
                f" {', '.join(self.names()) or 'none'}",
                model=name,
                known=self.names(),
            )
        provider = factory(model)
        self._instances[name] = provider
        return provider

    def names(self) -> list[str]:
        """The registered provider prefixes, sorted."""
        return sorted(self._factories)

    def __contains__(self, prefix: object) -> bool:
        return prefix in self._factories

    def describe(self) -> dict[str, dict[str, Any]]:
        """``{prefix: {"ok", "detail"}}`` for every provider, from its check when it has one."""
        report: dict[str, dict[str, Any]] = {}
        for prefix in self.names():
            check = self._checks.get(prefix)
            if check is None:
                report[prefix] = {"ok": True, "detail": "registered"}
                continue
            try:
                report[prefix] = check()
            except NexusError as exc:
                report[prefix] = {"ok": False, "detail": exc.message}
        return report


def default_registry(settings: Settings | None = None) -> ModelRegistry:
    """A registry with ``offline``, the remote providers ``openai``, ``anthropic``,
    ``ollama`` and ``fallback`` chains (configured from the environment, see
    :mod:`nexus.providers.remote`), ``claude_code`` (:mod:`nexus.providers.claude_code`),
    and ``router:auto`` (alias ``auto``) that picks one of them per request
    (:mod:`nexus.routing.provider`).

    The offline provider reads cassettes from ``NEXUS_CASSETTES`` (the
    ``cassettes`` setting when the settings object has one), the plan's
    directory and the bundled cassettes.
    """
    configured = getattr(settings, "cassettes", None) if settings is not None else None
    dirs = cassette_dirs_from_env(configured if isinstance(configured, str) else None)
    registry = ModelRegistry()
    registry.register(
        "offline",
        lambda model: OfflineProvider(model, dirs),
        check=lambda: OfflineProvider("replay", dirs).check(),
    )
    register_remote_providers(registry)
    register_claude_code(registry, settings)
    from nexus.routing.provider import register_router  # the router wraps this registry

    register_router(registry, settings.home if settings is not None else None)
    return registry
