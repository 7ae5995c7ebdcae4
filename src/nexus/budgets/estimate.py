"""What a model call will cost, before it is made, and what it did cost, after.

Before: input tokens ≈ characters / 4 of everything sent (messages, tool calls
and results, tool schemas) plus 4 per message, and an image counts as
:data:`IMAGE_TOKENS`; output tokens = the request's ``max_tokens``, else the
policy's default allowance. Both are priced at the model's input and output
prices and multiplied by the policy's margin. A model the price table does not
know is priced as the dearest of the models it may turn into: the members of a
``fallback:A,B,…`` chain, or the candidates of a provider that chooses among
models (``router:auto``: its ``candidates()``); else it is priced at $0 and
only token budgets bound it. After: the provider's own ``usage.cost_usd`` when it
reports one, else the usage priced by the model that answered (else the model
asked for); every token kind counts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from nexus.domain.messages import ImagePart, ModelRequest, TextPart, ToolCall, ToolResult, Usage
from nexus.providers.pricing import ModelPrice, PriceTable

__all__ = ["IMAGE_TOKENS", "CallEstimate", "actual_cost", "estimate_call", "input_chars"]

IMAGE_TOKENS = 1_600
_PER_MESSAGE = 4
_PER_TOKEN = 1_000_000


@dataclass(frozen=True, slots=True)
class CallEstimate:
    """The expected size and price of one call."""

    input_tokens: int
    output_tokens: int
    usd: float

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def input_chars(request: ModelRequest) -> tuple[int, int]:
    """``(characters of text sent, number of images)`` of a request."""
    chars = 0
    images = 0
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, TextPart):
                chars += len(part.text)
            elif isinstance(part, ToolCall):
                chars += len(part.name) + len(json.dumps(part.arguments, ensure_ascii=False))
            elif isinstance(part, ToolResult):
                chars += len(part.content)
            elif isinstance(part, ImagePart):
                images += 1
    for tool in request.tools:
        chars += len(tool.name) + len(tool.description)
        chars += len(json.dumps(tool.parameters, ensure_ascii=False))
    return chars, images


def _dearest(prices: PriceTable, models: Iterable[str]) -> ModelPrice | None:
    found = [prices.price_of(name.strip()) for name in models if name.strip()]
    known = [p for p in found if p is not None]
    if not known:
        return None
    return ModelPrice(input=max(p.input for p in known), output=max(p.output for p in known))


def _price(prices: PriceTable, model: str, candidates: Sequence[str]) -> ModelPrice | None:
    provider, _, rest = model.partition(":")
    if provider == "fallback":
        return _dearest(prices, rest.split(","))
    found = prices.price_of(model)
    if found is None and candidates:
        return _dearest(prices, candidates)
    return found


def estimate_call(
    request: ModelRequest,
    prices: PriceTable,
    *,
    default_output_tokens: int,
    margin: float = 1.0,
    candidates: Sequence[str] = (),
) -> CallEstimate:
    """The estimate of ``request`` (see the module docstring); ``candidates``: the models
    an unpriced model name may turn into."""
    chars, images = input_chars(request)
    tokens_in = math.ceil(chars / 4) + _PER_MESSAGE * len(request.messages) + images * IMAGE_TOKENS
    tokens_out = request.max_tokens or default_output_tokens
    price = _price(prices, request.model, candidates)
    usd = 0.0
    if price is not None:
        usd = (tokens_in * price.input + tokens_out * price.output) / _PER_TOKEN
    return CallEstimate(
        input_tokens=math.ceil(tokens_in * margin),
        output_tokens=math.ceil(tokens_out * margin),
        usd=round(usd * margin, 10),
    )


def actual_cost(usage: Usage, answered_by: str, asked_for: str, prices: PriceTable) -> float:
    """USD of a finished call's usage (see the module docstring)."""
    if usage.cost_usd:
        return usage.cost_usd
    return prices.cost_of(answered_by, usage) or prices.cost_of(asked_for, usage)
