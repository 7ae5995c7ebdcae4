"""Low-confidence review (A6): a step whose confidence is below the agent's threshold is
reviewed by another agent before it counts as done.

The threshold is the agent's ``limits.review_below`` (default
:data:`DEFAULT_REVIEW_BELOW`, 0.3); the reviewer is the agent's ``reviewer``
(default ``prime``, the orchestrator). An agent is never its own reviewer: when
the reviewer would be the agent itself, or is not in the registry, the review
is recorded as ``unavailable`` and the step stands.

The review is one model turn of the reviewer, without tools, on the step's
prompt, the agent's answer, its confidence and its test results. The reviewer
answers ``APPROVE`` or ``REJECT`` on its first line, then its reasons and a
``CONFIDENCE:`` line. Anything but a clear approval is a rejection: the step
fails with :class:`ReviewRejected` (retryable), and when the step's retry policy
allows another attempt the agent sees the reviewer's reasons in its prompt.

Events on the step: ``agent.review_requested`` (agent, reviewer, confidence,
threshold), ``usage.recorded`` for the reviewer's call, and ``agent.reviewed``
(the verdict). The review's result is in the step's output and meta under
``review``; its cost is part of the step's cost.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from nexus.agents.definition import AgentDefinition
from nexus.agents.prompts import DEFAULT_CONFIDENCE, render_system_prompt, split_confidence
from nexus.agents.registry import AgentOutcome
from nexus.domain.messages import Message, ModelRequest, ModelResponse, Usage
from nexus.errors import ModelError, NexusError, NotFoundError, StepError
from nexus.handlers.base import StepContext
from nexus.providers.pricing import default_price_table

__all__ = [
    "DEFAULT_REVIEWER",
    "DEFAULT_REVIEW_BELOW",
    "Review",
    "ReviewRejected",
    "parse_verdict",
    "review_step",
    "review_threshold",
]

DEFAULT_REVIEW_BELOW = 0.3
DEFAULT_REVIEWER = "prime"
_REASONS_LIMIT = 600

Verdict = Literal["approve", "reject", "unavailable"]

_APPROVE = re.compile(r"^\W*(approve[ds]?|accept(ed)?|lgtm)\b", re.IGNORECASE)
_REJECT = re.compile(r"^\W*(reject(ed)?|revise|decline[d]?)\b", re.IGNORECASE)


class ReviewRejected(StepError):
    """The reviewer did not approve a low-confidence step. Retryable: with another
    attempt the agent gets the reviewer's reasons."""

    code = "review_rejected"
    retryable = True


@dataclass(frozen=True, slots=True)
class Review:
    """The outcome of one review."""

    agent: str
    reviewer: str | None
    verdict: Verdict
    confidence: float
    threshold: float
    reasons: str = ""
    reviewer_confidence: float | None = None
    model: str | None = None
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "reviewer": self.reviewer,
            "verdict": self.verdict,
            "confidence": self.confidence,
            "threshold": self.threshold,
            "reasons": self.reasons,
            "reviewer_confidence": self.reviewer_confidence,
            "model": self.model,
            "cost_usd": self.cost_usd,
        }

    def rejection(self, step_key: str) -> ReviewRejected:
        reasons = (
            self.reasons
            if len(self.reasons) <= _REASONS_LIMIT
            else (self.reasons[: _REASONS_LIMIT - 1] + "…")
        )
        return ReviewRejected(
            f"reviewer {self.reviewer} rejected the output of agent {self.agent} in step"
            f" '{step_key}' (confidence {self.confidence:.2f}, below {self.threshold:.2f}):"
            f" {reasons or 'no reasons given'}",
            agent=self.agent,
            reviewer=self.reviewer,
        )


def review_threshold(agent: AgentDefinition) -> float:
    """The confidence below which ``agent``'s steps are reviewed."""
    below = agent.limits.review_below
    return DEFAULT_REVIEW_BELOW if below is None else below


def parse_verdict(reply: str) -> tuple[Literal["approve", "reject"], str]:
    """``(verdict, reasons)`` of a reviewer's reply; no clear approval is a rejection."""
    lines = [line for line in reply.strip().splitlines() if line.strip()]
    if not lines:
        return "reject", "the reviewer gave an empty reply"
    first, rest = lines[0], "\n".join(lines[1:]).strip()
    if _APPROVE.match(first):
        verdict: Literal["approve", "reject"] = "approve"
    elif _REJECT.match(first):
        verdict = "reject"
    else:
        return "reject", "no clear APPROVE: " + " ".join(reply.split())
    head = first.split(":", 1)[1].strip() if ":" in first else ""
    reasons = "\n".join(p for p in (head, rest) if p)
    return verdict, " ".join(reasons.split())


def _user_message(
    agent: AgentDefinition,
    prompt: str,
    answer: str,
    confidence: float,
    threshold: float,
    tests: dict[str, Any] | None,
) -> str:
    parts = [
        f"Review the work of {agent.name} ({agent.role.replace('_', ' ')}) on one step."
        f" {agent.name} reported a confidence of {confidence:.2f}, below its review"
        f" threshold of {threshold:.2f}.",
        f"The step's instructions:\n{prompt.strip()}",
        f"{agent.name}'s answer:\n{answer.strip() or '(empty)'}",
    ]
    if tests:
        counts = ", ".join(
            f"{tests[k]} {k}" for k in ("passed", "failed", "errors", "total") if k in tests
        )
        parts.append(f"Tests it ran: {counts}.")
    parts.append(
        "Answer APPROVE or REJECT on the first line. Then give your reasons; when you"
        " reject, say exactly what must change. End with a line CONFIDENCE: <0 to 1>."
    )
    return "\n\n".join(parts)


async def _ask(provider: Any, request: ModelRequest) -> ModelResponse:
    try:
        response: ModelResponse = await provider.complete(request)
    except NexusError:
        raise
    except Exception as exc:  # a provider bug or an unmapped SDK error
        raise ModelError(
            f"model {request.model} failed for reviewer {request.agent_id}: {exc!r}",
            model=request.model,
        ) from exc
    return response


async def review_step(
    ctx: StepContext,
    agent: AgentDefinition,
    *,
    prompt: str,
    answer: str,
    confidence: float,
    tests: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> Review | None:
    """Review the step when ``confidence`` is below the agent's threshold; None otherwise."""
    threshold = review_threshold(agent)
    if confidence >= threshold:
        return None
    services = ctx.services
    reviewer_id = agent.reviewer or DEFAULT_REVIEWER
    reviewer: AgentDefinition | None = None
    if reviewer_id != agent.id:
        try:
            reviewer = services.agents.get(reviewer_id)
        except NotFoundError:
            reviewer = None
    ctx.emit(
        "agent.review_requested",
        {
            "agent": agent.id,
            "reviewer": reviewer.id if reviewer is not None else None,
            "confidence": confidence,
            "threshold": threshold,
        },
    )
    if reviewer is None:
        review = Review(
            agent.id,
            None,
            "unavailable",
            confidence,
            threshold,
            f"no reviewer: '{reviewer_id}' is "
            + ("the agent itself" if reviewer_id == agent.id else "not a registered agent"),
        )
        ctx.emit("agent.reviewed", review.to_dict())
        return review
    return await _run_review(
        ctx, agent, reviewer, prompt, answer, confidence, threshold, tests, metadata
    )


async def _run_review(
    ctx: StepContext,
    agent: AgentDefinition,
    reviewer: AgentDefinition,
    prompt: str,
    answer: str,
    confidence: float,
    threshold: float,
    tests: dict[str, Any] | None,
    metadata: dict[str, Any] | None,
) -> Review:
    services = ctx.services
    model = reviewer.model or services.settings.default_model
    provider = services.models.get(model)
    if getattr(services, "budgets", None) is not None:
        provider = await services.budgets.guard(provider, ctx, reviewer)
    task = ctx.inputs.get("task")
    request = ModelRequest(
        model=model,
        messages=(
            Message.text("system", render_system_prompt(reviewer, task, ())),
            Message.text(
                "user", _user_message(agent, prompt, answer, confidence, threshold, tests)
            ),
        ),
        max_tokens=reviewer.limits.max_tokens,
        agent_id=reviewer.id,
        run_id=ctx.run_id,
        step_key=ctx.step_key,
        correlation_id=ctx.correlation_id or None,
        metadata={**(metadata or {}), "turn": 1, "review_of": agent.id},
    )
    started = time.perf_counter()
    response = await _ask(provider, request)
    latency = time.perf_counter() - started
    usage = response.usage
    cost = usage.cost_usd or default_price_table().cost_of(model, usage)
    ctx.emit(
        "usage.recorded",
        {
            "agent": reviewer.id,
            "model": response.model,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_read_tokens": usage.cache_read_tokens,
            "cost_usd": cost,
        },
    )
    text, stated = split_confidence(response.message.text_content)
    verdict, reasons = parse_verdict(text)
    review = Review(
        agent=agent.id,
        reviewer=reviewer.id,
        verdict=verdict,
        confidence=confidence,
        threshold=threshold,
        reasons=reasons,
        reviewer_confidence=DEFAULT_CONFIDENCE if stated is None else stated,
        model=response.model,
        usage=usage.model_copy(update={"cost_usd": cost}),
        cost_usd=cost,
    )
    services.agents.record_outcome(
        AgentOutcome(
            reviewer.id,
            success=True,
            confidence=review.reviewer_confidence,
            latency_s=latency,
            cost_usd=cost,
            run_id=ctx.run_id,
            step_key=ctx.step_key,
            model=response.model,
        )
    )
    ctx.emit("agent.reviewed", review.to_dict())
    return review
