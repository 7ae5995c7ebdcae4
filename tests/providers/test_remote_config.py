"""Remote providers from the environment: registry names, endpoints, keys and doctor checks."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from nexus.domain.messages import Message, ModelRequest
from nexus.errors import ConfigError
from nexus.providers import default_registry
from nexus.providers.fallback import FallbackProvider
from nexus.providers.reliability import ReliableProvider
from nexus.providers.remote import REMOTE_SPECS, endpoints_for
from tests.providers.fakes import openai_wire
from tests.providers.fakes.server import FakeServer, Reply

SECRET = "sk-live-do-not-print-me"


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "OLLAMA_BASE_URL",
        "NEXUS_ENDPOINTS",
        "NEXUS_ENDPOINTS_OPENAI",
        "NEXUS_MODEL_TIMEOUT_S",
        "NEXUS_MODEL_MAX_ATTEMPTS",
    ):
        monkeypatch.delenv(name, raising=False)


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def hello(model: str) -> ModelRequest:
    return ModelRequest(model=model, messages=(Message.text("user", "hello"),))


async def test_openai_from_the_environment(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1/")
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("NEXUS_MODEL_TIMEOUT_S", "7.5")
    server.queue(Reply.json(openai_wire.chat_completion("hi from the fake")))
    provider = default_registry().get("openai:gpt-4o-mini")
    assert isinstance(provider, ReliableProvider)
    assert [e.url for e in provider.endpoints] == [server.url + "/v1"]
    assert provider.endpoints[0].provider.timeout_s == 7.5  # type: ignore[attr-defined]
    response = await provider.complete(hello("openai:gpt-4o-mini"))
    assert response.message.text_content == "hi from the fake"
    assert server.requests[0].headers["authorization"] == f"Bearer {SECRET}"


async def test_a_missing_key_fails_at_first_use_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry = default_registry()
    provider = registry.get("anthropic:claude-haiku-4-5")  # making it needs no key
    with pytest.raises(ConfigError, match="set ANTHROPIC_API_KEY"):
        await provider.complete(hello("anthropic:claude-haiku-4-5"))


async def test_several_endpoints_from_env_fail_over(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = dead_url()
    monkeypatch.setenv("NEXUS_ENDPOINTS_OPENAI", f"{dead}, {server.url}/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    server.queue(Reply.json(openai_wire.chat_completion("from the second region")))
    provider = default_registry().get("openai:gpt-4o-mini")
    response = await provider.complete(hello("openai:gpt-4o-mini"))
    assert response.message.text_content == "from the second region"
    assert response.provider_meta["endpoint"] == server.url + "/v1"
    assert response.provider_meta["attempts"][0]["endpoint"] == dead


def test_endpoints_file_per_model_then_per_provider(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = tmp_path / "endpoints.yaml"
    table.write_text(
        "openai:gpt-4o-mini: [https://eu.example.invalid/v1, https://us.example.invalid/v1]\n"
        "openai: https://any.example.invalid/v1/\n"
    )
    env = {"NEXUS_ENDPOINTS": str(table), "NEXUS_ENDPOINTS_OPENAI": "https://env.example.invalid"}
    spec = REMOTE_SPECS["openai"]
    assert endpoints_for(spec, "gpt-4o-mini", env) == [
        "https://eu.example.invalid/v1",
        "https://us.example.invalid/v1",
    ]
    assert endpoints_for(spec, "gpt-4.1", env) == ["https://any.example.invalid/v1"]
    assert endpoints_for(
        spec, "gpt-4.1", {"NEXUS_ENDPOINTS_OPENAI": "https://env.example.invalid"}
    ) == ["https://env.example.invalid"]
    assert endpoints_for(spec, "gpt-4.1", {}) == ["https://api.openai.com/v1"]
    assert endpoints_for(REMOTE_SPECS["ollama"], "llama3.2", {}) == ["http://127.0.0.1:11434/v1"]
    with pytest.raises(ConfigError, match="not an http"):
        endpoints_for(spec, "x", {"NEXUS_ENDPOINTS_OPENAI": "ftp://nope"})
    table.write_text("- just a list\n")
    with pytest.raises(ConfigError, match="NEXUS_ENDPOINTS file"):
        endpoints_for(spec, "x", {"NEXUS_ENDPOINTS": str(table)})


def test_bad_limits_are_config_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEXUS_MODEL_MAX_ATTEMPTS", "zero")
    with pytest.raises(ConfigError, match="NEXUS_MODEL_MAX_ATTEMPTS='zero' is not a number"):
        default_registry().get("openai:gpt-4o-mini")


async def test_ollama_needs_no_key(server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_BASE_URL", server.url + "/v1")
    server.queue(Reply.json(openai_wire.chat_completion("llama says hi")))
    request = hello("ollama:llama3.2").model_copy(update={"max_tokens": 300})
    response = await default_registry().get("ollama:llama3.2").complete(request)
    assert response.model == "ollama:llama3.2"
    assert response.usage.cost_usd == 0.0  # local models are free
    sent = server.requests[0]
    assert sent.json["model"] == "llama3.2"
    assert sent.json["max_tokens"] == 300 and "max_completion_tokens" not in sent.json
    assert sent.headers["authorization"] == "Bearer ollama"


def test_fallback_chain_by_name() -> None:
    registry = default_registry()
    provider = registry.get("fallback:anthropic:claude-haiku-4-5,openai:gpt-4o-mini,ollama:qwen3")
    assert isinstance(provider, FallbackProvider)
    assert provider.models == ["anthropic:claude-haiku-4-5", "openai:gpt-4o-mini", "ollama:qwen3"]
    assert provider.chain[1][1] is registry.get("openai:gpt-4o-mini")


def test_describe_says_which_keys_are_set_without_showing_them(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("OLLAMA_BASE_URL", server.url + "/v1")
    server.queue(Reply.json({"object": "list", "data": [{"id": "llama3.2"}, {"id": "qwen3"}]}))
    report = default_registry().describe()
    assert report["openai"] == {
        "ok": True,
        "detail": "OPENAI_API_KEY set; endpoint https://api.openai.com/v1",
    }
    assert report["anthropic"]["ok"] is False
    assert report["anthropic"]["detail"].startswith("ANTHROPIC_API_KEY not set")
    assert report["ollama"] == {"ok": True, "detail": f"reachable at {server.url}/v1 (2 model(s))"}
    assert server.requests[0].path == "/v1/models"
    assert SECRET not in repr(report)


def test_describe_reports_an_unreachable_ollama(monkeypatch: pytest.MonkeyPatch) -> None:
    dead = dead_url()
    monkeypatch.setenv("OLLAMA_BASE_URL", dead)
    report = default_registry().describe()["ollama"]
    assert report["ok"] is False
    assert report["detail"].startswith(f"not reachable at {dead}")
