"""The ``agent`` step handler: one agent working on one step through its tool loop.

``ctx.params``: ``{"agent": id, "prompt": str, "tools": [...] | None,
"max_turns": int | None, "model": str | None}``, and optionally ``"_replay"``
(turn → recorded response, set by the engine for a fork that replays model
outputs at zero cost).

The model is ``params.model``, else the agent's ``model``, else the
``default_model`` setting. Tools are the node's ``tools`` — which must all be
allowed by the agent's definition — else the agent's own. Turns are capped by
the node's ``max_turns``, else the agent's ``limits.max_turns``, else 12. The
agent's ``limits.timeout_s`` applies when the step itself has no timeout.

Output: ``{"text", "turns", "tool_calls", "confidence"}`` plus ``"tests"`` (the
structured result of the agent's last ``run_tests`` call) when it ran tests.
Confidence is read from a final ``CONFIDENCE: 0.85`` line of the reply, which
is taken off the text; without one it is 0.5.

With ``services.budgets`` set, every model call is charged to the tenant, run and
agent budgets before it is made (:mod:`nexus.budgets`), and the step's cost feeds
the cost-anomaly detector. A confidence below the agent's ``limits.review_below``
(default 0.3) has the step reviewed by its reviewer agent; ``"review"`` is then
in the output and meta, and a rejection fails the step (:mod:`nexus.agents.review`).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from nexus.agents.definition import AgentDefinition
from nexus.agents.loop import AgentLoopResult, LoopConfig, run_agent_loop
from nexus.agents.prompts import DEFAULT_CONFIDENCE, render_system_prompt, split_confidence
from nexus.agents.prompts import user_message as build_user_message
from nexus.agents.registry import AgentOutcome, AgentRegistry
from nexus.agents.review import Review, review_step
from nexus.agents.tools import Toolbox, ToolContext
from nexus.domain.messages import Message, ModelResponse
from nexus.errors import ConfigError, StepError, StepTimeout
from nexus.handlers.base import StepContext, StepResult
from nexus.routing.feedback import learn_from_step, step_route

__all__ = ["DEFAULT_MAX_TURNS", "AgentHandler"]

DEFAULT_MAX_TURNS = 12


def _fatal(message: str, **details: Any) -> StepError:
    error = StepError(message, **details)
    error.retryable = False
    return error


def _replay_table(raw: Any) -> dict[int, ModelResponse | dict[str, Any]]:
    if not raw:
        return {}
    if not isinstance(raw, dict):
        raise _fatal(f"_replay must map turn numbers to responses, got {type(raw).__name__}")
    table: dict[int, ModelResponse | dict[str, Any]] = {}
    for turn, response in raw.items():
        if response is not None:
            table[int(turn)] = response
    return table


class AgentHandler:
    """Runs ``agent`` nodes: the agent's bounded tool-calling loop in the run's workspace."""

    name = "agent"
    description = "One agent step: the agent's model in a bounded tool-calling loop."
    params_schema: dict[str, Any] = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "agent": {"type": "string", "minLength": 1},
            "prompt": {"type": "string"},
            "tools": {"type": ["array", "null"], "items": {"type": "string"}},
            "max_turns": {"type": ["integer", "null"], "minimum": 1},
            "model": {"type": ["string", "null"]},
            "_replay": {"type": ["object", "null"]},
        },
        "required": ["agent", "prompt"],
    }

    def match(self, kind: str, name: str) -> bool:
        return kind == "agent"

    async def run(self, ctx: StepContext) -> StepResult:
        services = ctx.services
        if services is None or services.agents is None or services.models is None:
            raise _fatal(f"step '{ctx.step_key}': agent steps need the model and agent registries")
        params = ctx.params
        agents: AgentRegistry = services.agents
        agent = agents.get(str(params["agent"]))
        tools = self._tools(agent, params.get("tools"), ctx.step_key)
        model = agent.model_chain(
            params.get("model") or agent.model or services.settings.default_model
        )
        provider = routable = services.models.get(model)
        if services.budgets is not None:
            provider = await services.budgets.guard(provider, ctx, agent)
        task = ctx.inputs.get("task")
        toolbox = Toolbox(
            tools,
            ToolContext(
                agent_id=agent.id,
                workspace=Path(ctx.workspace) if ctx.workspace else None,
                run_id=ctx.run_id,
                step_key=ctx.step_key,
                correlation_id=ctx.correlation_id,
                emit=ctx.emit,
                home=Path(services.settings.home),
                handlers=services.handlers,
                timeout=ctx.timeout,
                known_agents=tuple(agents.ids()),
            ),
        )
        messages = [
            Message.text("system", render_system_prompt(agent, task, toolbox.names)),
            Message.text(
                "user",
                build_user_message(str(params["prompt"]), ctx.attempt, ctx.previous_error),
            ),
        ]
        metadata: dict[str, Any] = {
            "task": task,
            "role": agent.role,
            "priority_mode": agent.priority_mode,
            "workspace": ctx.workspace,
            "agent_limits": {
                "max_turns": agent.limits.max_turns,
                "budget_usd": agent.limits.budget_usd,
                "timeout_s": ctx.timeout or agent.limits.timeout_s,
                "session_timeout_s": agent.session_timeout_s,
            },
        }
        if ctx.inputs.get("_cassette_dirs"):
            metadata["cassette_dirs"] = list(ctx.inputs["_cassette_dirs"])
        config = LoopConfig(
            agent_id=agent.id,
            model=model,
            max_turns=int(params.get("max_turns") or agent.limits.max_turns or DEFAULT_MAX_TURNS),
            run_id=ctx.run_id,
            step_key=ctx.step_key,
            correlation_id=ctx.correlation_id,
            max_tokens=agent.limits.max_tokens,
            budget_usd=agent.limits.budget_usd,
            metadata=metadata,
            replay=_replay_table(params.get("_replay")),
        )

        agents.mark_processing(agent.id, ctx.run_id, ctx.step_key)
        started = time.perf_counter()
        try:
            result = await self._loop(provider, toolbox, messages, config, ctx, agent)
        except asyncio.CancelledError:
            agents.mark_done(agent.id, ctx.run_id, ctx.step_key)
            raise
        except Exception as exc:
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            agents.mark_done(agent.id, ctx.run_id, ctx.step_key, error=message)
            agents.record_outcome(
                AgentOutcome(
                    agent.id,
                    success=False,
                    latency_s=time.perf_counter() - started,
                    run_id=ctx.run_id,
                    step_key=ctx.step_key,
                    model=model,
                )
            )
            raise
        latency = time.perf_counter() - started
        text, stated = split_confidence(result.text)
        confidence = DEFAULT_CONFIDENCE if stated is None else stated
        review = await self._review(ctx, agent, text, confidence, result, metadata, model)
        rejected = review is not None and review.verdict == "reject"
        agents.mark_done(
            agent.id, ctx.run_id, ctx.step_key, error="review rejected" if rejected else None
        )
        agents.record_outcome(
            AgentOutcome(
                agent.id,
                success=not rejected,
                confidence=confidence,
                latency_s=latency,
                cost_usd=result.cost_usd,
                run_id=ctx.run_id,
                step_key=ctx.step_key,
                model=model,
            )
        )
        output: dict[str, Any] = {
            "text": text,
            "turns": result.turns,
            "tool_calls": result.tool_calls,
            "confidence": confidence,
        }
        if result.last_tests is not None:
            output["tests"] = result.last_tests
        meta = {
            "agent": agent.id,
            "model": model,
            "usage": result.usage.model_dump(mode="json"),
            "cost_usd": result.cost_usd,
            "confidence": confidence,
            "confidence_stated": stated is not None,
            "turns": result.turns,
            "tool_calls": result.tool_calls,
            "replayed_turns": result.replayed_turns,
        }
        if services.budgets is not None:
            services.budgets.observe_step(
                ctx, agent.id, model, result.cost_usd, replayed=result.replayed_turns > 0
            )
        if review is not None:
            output["review"] = meta["review"] = review.to_dict()
            meta["usage"] = result.usage.add(review.usage).model_dump(mode="json")
            meta["cost_usd"] = round(result.cost_usd + review.cost_usd, 8)
        route = step_route(routable, ctx.run_id, ctx.step_key, agent.id)
        if route is not None:
            # the router chose the model: show which and why, and learn from a verification
            meta.update(model=route["model"], requested_model=model, route=route)
            meta["route_reason"] = route["reason"]
            learn_from_step(routable, meta, output, latency)
        if review is not None and rejected:
            raise review.rejection(ctx.step_key)
        return StepResult(output=output, meta=meta)

    @staticmethod
    async def _review(
        ctx: StepContext,
        agent: AgentDefinition,
        text: str,
        confidence: float,
        result: AgentLoopResult,
        metadata: dict[str, Any],
        model: str,
    ) -> Review | None:
        """The review of a low-confidence step (None when confident enough)."""
        try:
            return await review_step(
                ctx,
                agent,
                prompt=str(ctx.params["prompt"]),
                answer=text,
                confidence=confidence,
                tests=result.last_tests,
                metadata=metadata,
            )
        except asyncio.CancelledError:
            ctx.services.agents.mark_done(agent.id, ctx.run_id, ctx.step_key)
            raise
        except Exception as exc:
            message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
            ctx.services.agents.mark_done(agent.id, ctx.run_id, ctx.step_key, error=message)
            ctx.services.agents.record_outcome(
                AgentOutcome(
                    agent.id,
                    success=False,
                    confidence=confidence,
                    run_id=ctx.run_id,
                    step_key=ctx.step_key,
                    model=model,
                )
            )
            raise

    @staticmethod
    async def _loop(
        provider: Any,
        toolbox: Toolbox,
        messages: list[Message],
        config: LoopConfig,
        ctx: StepContext,
        agent: AgentDefinition,
    ) -> AgentLoopResult:
        limit = agent.limits.timeout_s if ctx.timeout is None else None
        if limit is None:
            return await run_agent_loop(provider, toolbox, messages, config, emit=ctx.emit)
        try:
            async with asyncio.timeout(limit):
                return await run_agent_loop(provider, toolbox, messages, config, emit=ctx.emit)
        except TimeoutError:
            raise StepTimeout(
                f"agent {agent.id} ran past its {limit:g}s limit in step '{ctx.step_key}'",
                timeout_s=limit,
            ) from None

    @staticmethod
    def _tools(agent: AgentDefinition, requested: Any, step_key: str) -> list[str]:
        if requested is None:
            return list(agent.tools)
        if not isinstance(requested, (list, tuple)):
            raise ConfigError(f"step '{step_key}': tools must be a list of tool names")
        names = [str(t) for t in requested]
        refused = [t for t in names if t not in agent.tools]
        if refused:
            raise _fatal(
                f"step '{step_key}' gives agent {agent.id} tool(s) its definition does not allow:"
                f" {', '.join(refused)} (allowed: {', '.join(agent.tools) or 'none'})",
                agent=agent.id,
                tools=refused,
            )
        return names
