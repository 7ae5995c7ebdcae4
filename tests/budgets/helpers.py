"""Shared helpers for the budget tests: a price table, requests, scopes."""

from __future__ import annotations

from nexus.budgets import BudgetPolicy, Limit, Scope
from nexus.domain.messages import Message, ModelRequest
from nexus.providers.pricing import PriceTable

#: USD per million tokens for the fake models (FunctionModel answers as function:…)
PRICES = PriceTable.from_mapping(
    {"function:*": {"input": 1.0, "output": 2.0}, "stream:*": {"input": 1.0, "output": 2.0}}
)


def request(
    model: str = "function:m", chars: int = 400, max_tokens: int | None = 100
) -> ModelRequest:
    """A request of ``chars`` characters of text: chars/4 + 4 input tokens estimated."""
    return ModelRequest(
        model=model,
        messages=(Message.text("user", "x" * chars),),
        max_tokens=max_tokens,
        agent_id="a",
        run_id="r",
        step_key="s",
    )


def run_scopes(usd: float | None = None, tokens: int | None = None) -> tuple[Scope, ...]:
    """The scopes of agent ``a`` in run ``r`` of tenant ``t`` with a run limit."""
    policy = BudgetPolicy(run=Limit(usd=usd, tokens=tokens))
    return policy.scopes(tenant_id="t", run_id="r", agent_id="a")
