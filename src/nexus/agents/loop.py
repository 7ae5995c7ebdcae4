"""The agent tool loop (A8): call the model, run the tools it asks for, feed the results
back, until it answers without a tool call or the turn limit is reached.

Each model call is a *turn* (1, 2, …). For every turn the loop emits
``agent.turn``, then ``model.responded`` (with the whole response, which is what
a replaying fork reads back) and ``usage.recorded``; for every tool call
``tool.called``. A turn found in ``replay`` is not sent to the provider: the
recorded response is used at zero cost, and its tool calls run for real.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nexus.agents.tools import Toolbox, truncate_arguments
from nexus.domain.messages import Message, ModelRequest, ModelResponse, Usage
from nexus.errors import ModelError, NexusError, StepError
from nexus.handlers.base import EmitFn
from nexus.providers.base import ModelProvider
from nexus.providers.pricing import PriceTable, default_price_table

__all__ = ["AgentLoopResult", "LoopConfig", "run_agent_loop"]


@dataclass(slots=True)
class LoopConfig:
    """Who runs the loop, on which model, and within which limits."""

    agent_id: str
    model: str
    max_turns: int
    run_id: str = ""
    step_key: str = ""
    correlation_id: str = ""
    max_tokens: int | None = None
    budget_usd: float | None = None
    #: request metadata passed to every call (task, cassette_dirs …); ``turn`` is added
    metadata: dict[str, Any] = field(default_factory=dict)
    #: turn number → recorded response (a ModelResponse or its dict form)
    replay: Mapping[int, ModelResponse | dict[str, Any]] = field(default_factory=dict)


@dataclass(slots=True)
class AgentLoopResult:
    """How an agent step went: the final reply, counts, usage and cost."""

    text: str
    turns: int
    tool_calls: int
    usage: Usage
    cost_usd: float
    messages: list[Message]
    last_tests: dict[str, Any] | None = None
    replayed_turns: int = 0
    models: list[str] = field(default_factory=list)


def _replayed(recorded: ModelResponse | dict[str, Any], config: LoopConfig) -> ModelResponse:
    try:
        response = (
            recorded
            if isinstance(recorded, ModelResponse)
            else ModelResponse.model_validate(recorded)
        )
    except ValueError as exc:
        raise ModelError(
            f"agent {config.agent_id}, step {config.step_key}: the recorded response to"
            f" replay is invalid: {exc}"
        ) from exc
    return response.model_copy(
        update={"usage": Usage(), "latency_s": 0.0, "provider_meta": {"replayed": True}}
    )


async def _ask(provider: ModelProvider, request: ModelRequest) -> ModelResponse:
    try:
        return await provider.complete(request)
    except NexusError:
        raise
    except Exception as exc:  # a provider bug or an unmapped SDK error
        raise ModelError(
            f"model {request.model} failed for agent {request.agent_id}: {exc!r}",
            model=request.model,
        ) from exc


async def run_agent_loop(
    provider: ModelProvider,
    toolbox: Toolbox,
    messages: list[Message],
    config: LoopConfig,
    *,
    emit: EmitFn,
    prices: PriceTable | None = None,
) -> AgentLoopResult:
    """Run the bounded tool-calling loop; ``messages`` (system + user) is extended in place.

    Raises :class:`StepError` when the agent does not finish within ``config.max_turns``
    turns or its budget is spent, and lets provider errors (``ModelError``) through.
    """
    table = prices or default_price_table()
    usage = Usage()
    cost = 0.0
    tool_calls = 0
    replayed = 0
    models: list[str] = []
    for turn in range(1, config.max_turns + 1):
        if config.budget_usd is not None and cost >= config.budget_usd:
            error = StepError(
                f"agent {config.agent_id} spent ${cost:.4f} of its ${config.budget_usd:.4f}"
                f" budget before turn {turn}",
                agent=config.agent_id,
            )
            error.retryable = False
            raise error
        emit("agent.turn", {"agent": config.agent_id, "turn": turn, "model": config.model})
        recorded = config.replay.get(turn)
        if recorded is not None:
            response = _replayed(recorded, config)
            turn_cost = 0.0
            replayed += 1
        else:
            request = ModelRequest(
                model=config.model,
                messages=tuple(messages),
                tools=toolbox.specs,
                max_tokens=config.max_tokens,
                agent_id=config.agent_id,
                run_id=config.run_id or None,
                step_key=config.step_key or None,
                correlation_id=config.correlation_id or None,
                metadata={**config.metadata, "turn": turn},
            )
            started = time.perf_counter()
            response = await _ask(provider, request)
            if not response.latency_s:
                response = response.model_copy(update={"latency_s": time.perf_counter() - started})
            turn_cost = response.usage.cost_usd or table.cost_of(config.model, response.usage)
        response = response.model_copy(
            update={"usage": response.usage.model_copy(update={"cost_usd": turn_cost})}
        )
        usage = usage.add(response.usage)
        cost += turn_cost
        models.append(response.model)
        emit(
            "model.responded",
            {
                "agent": config.agent_id,
                "turn": turn,
                "model": response.model,
                "response": response.model_dump(mode="json"),
                "usage": response.usage.model_dump(mode="json"),
                "cost_usd": turn_cost,
                "replayed": recorded is not None,
            },
        )
        emit(
            "usage.recorded",
            {
                "agent": config.agent_id,
                "model": response.model,
                "input_tokens": response.usage.input_tokens,
                "output_tokens": response.usage.output_tokens,
                "cache_read_tokens": response.usage.cache_read_tokens,
                "cost_usd": turn_cost,
            },
        )
        messages.append(response.message)
        calls = response.message.tool_calls
        if not calls:
            return AgentLoopResult(
                text=response.message.text_content,
                turns=turn,
                tool_calls=tool_calls,
                usage=usage,
                cost_usd=round(cost, 8),
                messages=messages,
                last_tests=toolbox.ctx.last_tests,
                replayed_turns=replayed,
                models=models,
            )
        results = []
        for call in calls:
            outcome = await toolbox.call(call)
            tool_calls += 1
            results.append(outcome.result)
            emit(
                "tool.called",
                {
                    "agent": config.agent_id,
                    "turn": turn,
                    "tool": outcome.tool,
                    "arguments": truncate_arguments(outcome.arguments),
                    "ok": outcome.ok,
                    "summary": outcome.summary,
                },
            )
        messages.append(Message(role="tool", parts=tuple(results)))
    raise StepError(
        f"agent {config.agent_id} did not finish within {config.max_turns} turns",
        agent=config.agent_id,
        turns=config.max_turns,
    )
