"""``router:auto`` end to end: fake models at the provider boundary, a real router between."""

from __future__ import annotations

from typing import Any

import pytest

from nexus.domain.messages import Message, ModelRequest, ToolSpec
from nexus.errors import ConfigError
from nexus.providers.base import ModelProvider
from nexus.providers.pricing import default_price_table
from nexus.providers.registry import ModelRegistry
from nexus.routing import Router, RouterProvider
from nexus.routing.catalog import Catalog
from nexus.routing.provider import provider_configured
from nexus.testing import FunctionModel, text

from .conftest import entry

USAGE = {"input_tokens": 2_000, "output_tokens": 300}


def fake(label: str) -> FunctionModel:
    return FunctionModel(lambda request: text(f"{label} answered as {request.model}", usage=USAGE))


def registry_for(router: Router, **providers: ModelProvider) -> ModelRegistry:
    registry = ModelRegistry()
    for prefix, provider in providers.items():
        registry.register(prefix, lambda _model, provider=provider: provider)
    registry.register("router", lambda model: RouterProvider(registry, model, router=router))
    return registry


def request(
    prompt: str = "Implement a slugify function in slug.py",
    *,
    turn: int = 1,
    step: str = "implement",
    tools: bool = True,
    **metadata: Any,
) -> ModelRequest:
    specs = (ToolSpec(name="read_file", description="Read a file", parameters={}),) if tools else ()
    return ModelRequest(
        model="router:auto",
        messages=(Message.text("system", "You are Code."), Message.text("user", prompt)),
        tools=specs,
        agent_id="code",
        run_id="run1",
        step_key=step,
        metadata={"turn": turn, "role": "developer", **metadata},
    )


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")


async def test_routes_a_request_and_says_why(keys: None, shipped: Catalog) -> None:
    openai, anthropic = fake("openai"), fake("anthropic")
    router = Router(shipped)
    registry = registry_for(router, openai=openai, anthropic=anthropic)
    provider = registry.get("router:auto")
    response = await provider.complete(request())

    route = response.provider_meta["route"]
    assert set(route) >= {"model", "reason", "scores", "rule", "decision_id"}
    assert response.model == route["model"]
    assert route["model"].partition(":")[0] in {"openai", "anthropic"}
    assert route["reason"].startswith(f"balance mode: {route['model']} scored")
    assert route["rule"] is None
    assert set(route["scores"]) == {n for n in shipped.names() if n.startswith(("openai", "anth"))}
    assert (route["role"], route["task_type"]) == ("developer", "code")
    called = openai if route["model"].startswith("openai") else anthropic
    [sent] = called.requests
    assert sent.model == route["model"]
    assert (
        response.message.text_content == f"{route['model'].split(':')[0]} answered as {sent.model}"
    )
    # the chosen model's price, since the fake reported none
    price = default_price_table().cost_of(route["model"], response.usage)
    assert response.usage.cost_usd == pytest.approx(price) and price > 0
    assert router.decision(route["decision_id"]) is not None


async def test_only_configured_providers_are_candidates(
    monkeypatch: pytest.MonkeyPatch, shipped: Catalog
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    registry = registry_for(Router(shipped), openai=fake("o"), anthropic=fake("a"))
    provider = registry.get("router:auto")
    assert isinstance(provider, RouterProvider)
    assert provider.candidates() == tuple(n for n in shipped.names() if n.startswith("anthropic"))
    assert not provider_configured("openai")
    assert provider_configured("offline") and provider_configured("scripted")


async def test_no_candidate_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, shipped: Catalog
) -> None:
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OLLAMA_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    registry = registry_for(Router(shipped), openai=fake("o"))
    with pytest.raises(ConfigError, match="router:auto has no candidate model"):
        await registry.get("router:auto").complete(request())


async def test_candidates_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, shipped: Catalog
) -> None:
    monkeypatch.setenv("NEXUS_ROUTER_CANDIDATES", "openai:gpt-4.1-nano, offline:replay")
    registry = registry_for(Router(shipped), openai=fake("o"), offline=fake("off"))
    response = await registry.get("router:auto").complete(request())
    assert response.model == "openai:gpt-4.1-nano"  # offline:replay is the last resort


async def test_the_mode_comes_from_the_name_or_the_agent(keys: None, shipped: Catalog) -> None:
    router = Router(shipped)
    registry = registry_for(router, openai=fake("o"), anthropic=fake("a"))
    price = {n: s.price_output for n, s in shipped.models.items()}
    cheap = await registry.get("router:cost").complete(request())
    strong = await registry.get("router:quality").complete(request(step="other"))
    by_agent = await registry.get("router:auto").complete(
        request(step="third", priority_mode="quality")
    )
    assert price[cheap.model] < price[strong.model]
    assert cheap.provider_meta["route"]["mode"] == "cost"
    assert by_agent.model == strong.model
    assert by_agent.provider_meta["route"]["mode"] == "quality"
    with pytest.raises(ConfigError, match="router:fast is not a router model"):
        registry.get("router:fast")


async def test_one_step_keeps_its_model_across_turns(keys: None, shipped: Catalog) -> None:
    router = Router(shipped)
    registry = registry_for(router, openai=fake("o"), anthropic=fake("a"))
    provider = registry.get("router:auto")
    first = await provider.complete(request(turn=1))
    # learning between turns does not move the step to another model
    for _ in range(20):
        router.record_outcome(("developer", "code", first.model), False, 1.0, 60.0)
    second = await provider.complete(request(turn=2))
    assert (
        second.provider_meta["route"]["decision_id"] == first.provider_meta["route"]["decision_id"]
    )
    next_step = await provider.complete(request(turn=1, step="fix"))
    assert next_step.model != first.model


async def test_requests_too_big_or_with_tools_skip_models_that_cannot_take_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    catalog = Catalog.from_mapping(
        {
            "models": {
                "a:small": entry(0.99, 0.0, 0.0, context_window=4_000),
                "a:no-tools": entry(0.98, 0.0, 0.0, capabilities=["streaming"]),
                "a:big": entry(0.4, 1.0, 1.0, context_window=1_000_000),
            }
        },
        "t",
    )
    router = Router(catalog)
    registry = registry_for(router, a=fake("a"))
    provider = registry.get("router:quality")
    assert (await provider.complete(request(tools=False, step="s1"))).model == "a:small"
    assert (await provider.complete(request(tools=True, step="s2"))).model == "a:small"
    long_prompt = "word " * 20_000  # 25k tokens
    assert (await provider.complete(request(long_prompt, tools=False, step="s3"))).model == (
        "a:no-tools"
    )
    assert (await provider.complete(request(long_prompt, tools=True, step="s4"))).model == "a:big"


async def test_streaming_carries_the_route_on_the_last_chunk(keys: None, shipped: Catalog) -> None:
    registry = registry_for(Router(shipped), openai=fake("o"), anthropic=fake("a"))
    chunks = [c async for c in registry.get("router:auto").stream(request())]
    assert [c.type for c in chunks] == ["text", "done"]
    final = chunks[-1]
    assert final.provider_meta is not None
    route = final.provider_meta["route"]
    assert final.model == route["model"]
    assert final.usage is not None and final.usage.cost_usd > 0


async def test_the_default_registry_knows_router_auto_and_its_alias(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from nexus.providers.registry import default_registry

    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OLLAMA_BASE_URL"):
        monkeypatch.delenv(name, raising=False)

    registry = default_registry()
    provider = registry.get("auto")
    assert provider is registry.get("router:auto")
    assert isinstance(provider, RouterProvider)
    # no keys in the test environment: only the offline replay model is left
    assert registry.describe()["router"] == {
        "ok": True,
        "detail": "router:auto chooses among offline:replay",
    }
