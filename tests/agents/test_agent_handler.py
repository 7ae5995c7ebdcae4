"""The agent handler and its tool loop, driven by fake models at the provider boundary."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nexus.agents.definition import AgentDefinition
from nexus.agents.registry import AgentRegistry
from nexus.domain.messages import ModelRequest, ToolResult
from nexus.errors import NoRecordingError, NotFoundError, StepError, StepTimeout
from nexus.handlers.agent import AgentHandler
from nexus.handlers.base import StepContext
from nexus.providers.registry import ModelRegistry
from nexus.services import Services
from nexus.testing import FunctionModel, ScriptedModel, registry_with, response, text, tool_call

MakeCtx = Callable[..., StepContext]
MakeServices = Callable[..., Services]
Events = list[tuple[str, dict[str, Any]]]


def test_matches_agent_nodes_only() -> None:
    handler = AgentHandler()
    assert handler.name == "agent"
    assert handler.match("agent", "anything") and not handler.match("tool", "agent")


async def test_tool_loop_writes_files_and_reports(
    make_services: MakeServices, make_ctx: MakeCtx, events: Events, workspace: Path
) -> None:
    model = ScriptedModel(
        [
            tool_call(
                "write_file",
                path="hello.py",
                content="print('hi')\n",
                _usage={"input_tokens": 1000, "output_tokens": 100},
            ),
            text(
                "Wrote hello.py.\nCONFIDENCE: 0.8",
                usage={"input_tokens": 1200, "output_tokens": 20},
            ),
        ]
    )
    services = make_services(registry_with(model, "offline"))
    ctx = make_ctx(
        services,
        "code",
        task="Say hi",
        inputs={"_cassette_dirs": ["/plans/demo/cassettes"]},
    )
    result = await AgentHandler().run(ctx)

    assert (workspace / "hello.py").read_text() == "print('hi')\n"
    assert result.output == {
        "text": "Wrote hello.py.",
        "turns": 2,
        "tool_calls": 1,
        "confidence": 0.8,
    }
    # offline:replay is priced 2.50 / 10.00 per million tokens
    cost = (2200 * 2.50 + 120 * 10.00) / 1_000_000
    assert result.meta["cost_usd"] == pytest.approx(cost)
    assert result.meta["usage"]["input_tokens"] == 2200
    assert result.meta["model"] == "offline:replay"
    assert result.meta["agent"] == "code" and result.meta["turns"] == 2

    first, second = model.requests
    assert [m.role for m in first.messages] == ["system", "user"]
    assert first.messages[0].text_content.startswith("You are Code, the developer")
    assert first.messages[1].text_content == "Do the work."
    assert [t.name for t in first.tools] == list(services.agents.get("code").tools)
    assert (first.agent_id, first.run_id, first.step_key, first.correlation_id) == (
        "code",
        "run1",
        "implement",
        "corr1",
    )
    assert {k: first.metadata[k] for k in ("task", "turn", "cassette_dirs")} == {
        "task": "Say hi",
        "turn": 1,
        "cassette_dirs": ["/plans/demo/cassettes"],
    }
    assert first.metadata["workspace"] == str(workspace)
    code = services.agents.get("code")
    assert first.metadata["agent_limits"]["max_turns"] == code.limits.max_turns
    assert second.metadata["turn"] == 2
    tool_message = second.messages[-1]
    assert tool_message.role == "tool"
    result_part = tool_message.parts[0]
    assert isinstance(result_part, ToolResult)
    assert result_part.content.startswith("created hello.py (1 lines")

    kinds = [kind for kind, _ in events]
    assert kinds == [
        "agent.turn",
        "model.responded",
        "usage.recorded",
        "tool.called",
        "agent.turn",
        "model.responded",
        "usage.recorded",
    ]
    responded = events[1][1]
    assert responded["turn"] == 1 and responded["replayed"] is False
    assert responded["response"]["message"]["parts"][0]["name"] == "write_file"
    assert responded["cost_usd"] == pytest.approx((1000 * 2.5 + 100 * 10) / 1e6)
    called = events[3][1]
    assert called["tool"] == "write_file" and called["ok"] is True
    assert called["summary"] == "created hello.py (1 lines)"
    assert events[2][1]["input_tokens"] == 1000

    status = services.agents.status_of("code")
    assert status.state == "idle"
    stats = services.agents.stats("code")
    assert (stats.steps, stats.successes, stats.mean_confidence) == (1, 1, 0.8)


async def test_model_choice_node_then_agent_then_default(
    make_services: MakeServices, make_ctx: MakeCtx
) -> None:
    answered: list[str] = []

    def named(label: str) -> FunctionModel:
        def reply(request: ModelRequest) -> str:
            answered.append(f"{label}:{request.model}")
            return "ok"

        return FunctionModel(reply)

    models = ModelRegistry()
    models.register("node", lambda m: named("node"))
    models.register("agentpref", lambda m: named("agent"))
    models.register("offline", lambda m: named("default"))
    services = make_services(models)
    services.agents.register(
        AgentDefinition(id="picky", name="Picky", role="r", model="agentpref:big")
    )
    await AgentHandler().run(make_ctx(services, "picky", model="node:small"))
    await AgentHandler().run(make_ctx(services, "picky"))
    await AgentHandler().run(make_ctx(services, "code"))
    assert answered == ["node:node:small", "agent:agentpref:big", "default:offline:replay"]


async def test_max_turns_is_a_step_error(make_services: MakeServices, make_ctx: MakeCtx) -> None:
    model = FunctionModel(lambda request: tool_call("list_files"))
    services = make_services(registry_with(model, "offline"))
    with pytest.raises(StepError, match="agent code did not finish within 3 turns"):
        await AgentHandler().run(make_ctx(services, "code", max_turns=3))
    assert len(model.requests) == 3
    assert services.agents.status_of("code").state == "error"
    assert services.agents.stats("code").success_rate == 0.0


async def test_max_turns_from_agent_limits(make_services: MakeServices, make_ctx: MakeCtx) -> None:
    model = FunctionModel(lambda request: tool_call("list_files"))
    services = make_services(registry_with(model, "offline"))
    with pytest.raises(StepError, match="within 8 turns"):  # beta: limits.max_turns 8
        await AgentHandler().run(make_ctx(services, "beta"))


async def test_node_tools_narrow_the_agents_tools(
    make_services: MakeServices, make_ctx: MakeCtx
) -> None:
    model = ScriptedModel([tool_call("write_file", path="x", content="y"), "Could not write."])
    services = make_services(registry_with(model, "offline"))
    result = await AgentHandler().run(make_ctx(services, "code", tools=["read_file", "search"]))
    assert [t.name for t in model.requests[0].tools] == ["read_file", "search"]
    refused = model.requests[1].messages[-1].parts[0]
    assert isinstance(refused, ToolResult) and refused.is_error
    assert "not available to you (allowed: read_file, search)" in refused.content
    assert result.output["confidence"] == 0.5  # no CONFIDENCE line

    with pytest.raises(StepError) as info:
        await AgentHandler().run(make_ctx(services, "beta", tools=["write_file", "run_tests"]))
    assert "tool(s) its definition does not allow: write_file" in info.value.message
    assert info.value.retryable is False


async def test_replay_uses_recorded_responses_at_zero_cost(
    make_services: MakeServices, make_ctx: MakeCtx, events: Events, workspace: Path
) -> None:
    recorded = {
        "1": tool_call(
            "write_file", path="a.txt", content="A", _usage={"input_tokens": 900}
        ).model_dump(mode="json"),
        "2": text("Done.\nCONFIDENCE: 0.9", usage={"input_tokens": 950}).model_dump(mode="json"),
    }
    untouchable = ScriptedModel([])  # any provider call would raise
    services = make_services(registry_with(untouchable, "offline"))
    result = await AgentHandler().run(make_ctx(services, "code", extra={"_replay": recorded}))
    assert (workspace / "a.txt").read_text() == "A"  # tools still run for real
    assert result.output["text"] == "Done." and result.output["confidence"] == 0.9
    assert result.meta["cost_usd"] == 0.0
    assert result.meta["usage"]["input_tokens"] == 0
    assert result.meta["replayed_turns"] == 2
    assert untouchable.requests == []
    assert [d["replayed"] for k, d in events if k == "model.responded"] == [True, True]


async def test_replay_of_some_turns_then_the_provider(
    make_services: MakeServices, make_ctx: MakeCtx
) -> None:
    recorded = {"1": tool_call("list_files").model_dump(mode="json")}
    model = ScriptedModel([text("Live answer.", usage={"input_tokens": 400})])
    services = make_services(registry_with(model, "offline"))
    result = await AgentHandler().run(make_ctx(services, "code", extra={"_replay": recorded}))
    assert result.output["text"] == "Live answer."
    assert result.meta["replayed_turns"] == 1
    assert [r.metadata["turn"] for r in model.requests] == [2]
    assert result.meta["cost_usd"] == pytest.approx(400 * 2.5 / 1e6)


async def test_retry_attempt_sees_the_previous_error(
    make_services: MakeServices, make_ctx: MakeCtx
) -> None:
    model = ScriptedModel(["Fixed."])
    services = make_services(registry_with(model, "offline"))
    ctx = make_ctx(
        services,
        "code",
        prompt="Implement it.",
        attempt=2,
        previous_error={"code": "tool_error", "message": "pytest crashed"},
    )
    await AgentHandler().run(ctx)
    user = model.requests[0].messages[1].text_content
    assert user.startswith("Implement it.\n\nThis is attempt 2.")
    assert "pytest crashed" in user


async def test_tests_output_only_when_the_agent_ran_tests(
    make_services: MakeServices, make_ctx: MakeCtx, workspace: Path
) -> None:
    (workspace / "test_m.py").write_text("def test_a():\n    assert False\n")
    model = ScriptedModel([tool_call("run_tests"), "1 failure.\nCONFIDENCE: 0.9", "No tests."])
    services = make_services(registry_with(model, "offline"))
    ran = await AgentHandler().run(make_ctx(services, "beta", step="validate[1]/test"))
    tests: dict[str, Any] = ran.output["tests"]
    assert (tests["passed"], tests["failed"], tests["errors"]) == (0, 1, 0)
    assert "test_a" in tests["report"]
    idle = await AgentHandler().run(make_ctx(services, "beta", step="verdict"))
    assert "tests" not in idle.output


async def test_offline_without_recording_stops_at_the_first_call(
    make_services: MakeServices, make_ctx: MakeCtx
) -> None:
    services = make_services()  # the default registry: offline
    with pytest.raises(NoRecordingError) as info:
        await AgentHandler().run(make_ctx(services, "aria", step="analyse", task="Build an OS"))
    assert "agent aria, step analyse, turn 1" in info.value.message
    assert services.agents.status_of("aria").state == "error"


async def test_budget_stops_the_loop(make_services: MakeServices, make_ctx: MakeCtx) -> None:
    model = FunctionModel(lambda request: tool_call("list_files", _usage={"input_tokens": 10_000}))
    services = make_services(registry_with(model, "offline"))
    services.agents.register(
        AgentDefinition(
            id="thrifty",
            name="Thrifty",
            role="r",
            tools=("list_files",),
            limits={"budget_usd": 0.05},  # type: ignore[arg-type]
        )
    )
    with pytest.raises(StepError) as info:
        await AgentHandler().run(make_ctx(services, "thrifty", max_turns=50))
    # each turn costs 10,000 * 2.50 / 1M = $0.025: the budget is spent after two
    assert "spent $0.0500 of its $0.0500 budget before turn 3" in info.value.message
    assert len(model.requests) == 2
    assert info.value.retryable is False


async def test_agent_timeout_applies_without_a_step_timeout(
    make_services: MakeServices, make_ctx: MakeCtx
) -> None:
    async def slow(request: ModelRequest) -> str:
        await asyncio.sleep(10)
        return "late"

    services = make_services(registry_with(FunctionModel(slow), "offline"))
    services.agents.register(
        AgentDefinition(id="quick", name="Q", role="r", limits={"timeout_s": 0.2})  # type: ignore[arg-type]
    )
    with pytest.raises(StepTimeout, match=r"ran past its 0\.2s limit"):
        await AgentHandler().run(make_ctx(services, "quick"))


async def test_unknown_agent(make_services: MakeServices, make_ctx: MakeCtx) -> None:
    services = make_services(registry_with(ScriptedModel([]), "offline"))
    with pytest.raises(NotFoundError, match="unknown agent 'zed'"):
        await AgentHandler().run(make_ctx(services, "zed"))


def test_tool_call_events_truncate_long_arguments() -> None:
    from nexus.agents.tools import truncate_arguments

    short = truncate_arguments({"path": "a.py", "content": "x" * 1000, "n": 3})
    assert short["path"] == "a.py" and short["n"] == 3
    assert short["content"] == "x" * 200 + "… [800 more chars]"


async def test_response_text_and_tool_calls_in_one_turn(
    make_services: MakeServices, make_ctx: MakeCtx
) -> None:
    model = ScriptedModel([response("Two reads.", [("list_files", {}), ("recall", {})]), "ok"])
    services = make_services(registry_with(model, "offline"))
    result = await AgentHandler().run(make_ctx(services, "code"))
    assert result.output["tool_calls"] == 2
    results = model.requests[1].messages[-1].parts
    assert len(results) == 2
    assert all(isinstance(p, ToolResult) for p in results)


async def test_custom_team_registry(make_services: MakeServices, make_ctx: MakeCtx) -> None:
    registry = AgentRegistry([AgentDefinition(id="solo", name="Solo", role="developer")])
    services = make_services(registry_with(ScriptedModel(["hi"]), "offline"))
    services.agents = registry
    result = await AgentHandler().run(make_ctx(services, "solo"))
    assert result.output["text"] == "hi"
