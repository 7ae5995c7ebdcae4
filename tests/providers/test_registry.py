"""Providers by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus.errors import ConfigError
from nexus.providers import ModelRegistry, OfflineProvider, default_registry
from nexus.settings import Settings
from nexus.testing import ScriptedModel


def test_default_registry_has_offline() -> None:
    registry = default_registry(Settings())
    assert {"offline", "openai", "anthropic", "ollama", "fallback"} <= set(registry.names())
    provider = registry.get("offline:replay")
    assert isinstance(provider, OfflineProvider)
    assert provider.model == "replay"
    assert registry.get("offline:replay") is provider  # made once per name


def test_unknown_provider_lists_the_known_ones() -> None:
    registry = default_registry()
    with pytest.raises(ConfigError) as info:
        registry.get("nobody:gpt-4o-mini")
    assert "unknown model provider 'nobody'" in info.value.message
    assert "offline" in info.value.message and "openai" in info.value.message


def test_name_without_provider_is_refused() -> None:
    with pytest.raises(ConfigError, match="provider:model"):
        default_registry().get("gpt-4o")


def test_register_passes_the_model_part_and_replaces() -> None:
    seen: list[str] = []
    registry = ModelRegistry()
    first = ScriptedModel([])

    def factory(model: str) -> ScriptedModel:
        seen.append(model)
        return first

    registry.register("fake", factory)
    assert registry.get("fake:small") is first
    assert seen == ["small"]
    second = ScriptedModel([])
    registry.register("fake", lambda _m: second)
    assert registry.get("fake:small") is second
    assert "fake" in registry
    with pytest.raises(ConfigError):
        registry.register("bad:prefix", factory)


def test_describe_reports_the_offline_cassettes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = default_registry().describe()
    assert report["offline"] == {
        "ok": True,
        "detail": "1 cassette(s), 1 recorded task(s) (bundled)",
    }
    broken = tmp_path / "broken.yaml"
    broken.write_text("interactions: [{agent: a}]\n")
    monkeypatch.setenv("NEXUS_CASSETTES", str(broken))
    bad = default_registry().describe()["offline"]
    assert bad["ok"] is False and "broken.yaml" in bad["detail"]
    registry = ModelRegistry()
    registry.register("fake", lambda _m: ScriptedModel([]))
    assert registry.describe() == {"fake": {"ok": True, "detail": "registered"}}
