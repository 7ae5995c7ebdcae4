"""BudgetedProvider against fake models at the provider boundary: concurrent calls never
overspend, refused calls never reach the model, streamed calls are counted."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import pytest

from nexus.budgets import BudgetedProvider, BudgetExceeded, BudgetLedger, Totals
from nexus.domain.messages import ModelRequest, ModelResponse, ToolCall, Usage
from nexus.errors import ModelError
from nexus.providers.base import StreamChunk, complete_via_stream
from nexus.testing import FunctionModel, response
from tests.budgets.helpers import PRICES, request, run_scopes

# request(): 400 characters -> 100 + 4 input tokens; max_tokens 100 -> 100 output tokens
ESTIMATE_USD = (104 * 1.0 + 100 * 2.0) / 1_000_000
ESTIMATE_TOKENS = 204


def cost(usage: Usage) -> float:
    return PRICES.cost_of("function:m", usage)


def test_estimate_counts_text_tools_and_the_output_allowance() -> None:
    guard = BudgetedProvider(FunctionModel(lambda r: "ok"), BudgetLedger(), (), prices=PRICES)
    estimate = guard.estimate(request())
    assert (estimate.input_tokens, estimate.output_tokens) == (104, 100)
    assert estimate.usd == pytest.approx(ESTIMATE_USD)
    # without max_tokens the policy's default output allowance is assumed
    lazy = BudgetedProvider(
        FunctionModel(lambda r: "ok"), BudgetLedger(), (), prices=PRICES, default_output_tokens=500
    )
    assert lazy.estimate(request(max_tokens=None)).output_tokens == 500


def test_a_fallback_chain_is_estimated_at_its_dearest_member() -> None:
    guard = BudgetedProvider(FunctionModel(lambda r: "ok"), BudgetLedger(), ())
    cheap = guard.estimate(request("openai:gpt-4o-mini"))
    dear = guard.estimate(request("anthropic:claude-opus-4-1"))
    chain = guard.estimate(request("fallback:openai:gpt-4o-mini,anthropic:claude-opus-4-1"))
    assert cheap.usd < dear.usd
    assert chain.usd == pytest.approx(dear.usd)


class ChoosingModel(FunctionModel):
    """A provider that picks among models, as router:auto does."""

    name = "router"

    def candidates(self) -> tuple[str, ...]:
        return ("openai:gpt-4o-mini", "anthropic:claude-sonnet-4-5")


def test_a_choosing_provider_is_estimated_at_its_dearest_candidate() -> None:
    routed = BudgetedProvider(ChoosingModel(lambda r: "ok"), BudgetLedger(), ())
    direct = BudgetedProvider(FunctionModel(lambda r: "ok"), BudgetLedger(), ())
    dearest = direct.estimate(request("anthropic:claude-sonnet-4-5"))
    assert dearest.usd > 0
    assert routed.estimate(request("router:auto")).usd == pytest.approx(dearest.usd)
    assert direct.estimate(request("router:auto")).usd == 0.0  # unknown and no candidates


async def test_many_concurrent_calls_never_spend_more_than_the_budget() -> None:
    limit = 0.01
    ledger = BudgetLedger()
    rng = random.Random(7)
    held: list[float] = []

    async def answer(req: ModelRequest) -> ModelResponse:
        state = ledger.state("run:r")
        held.append(state.spent.usd + state.reserved_usd)  # what is committed while calling
        await asyncio.sleep(rng.random() * 0.004)
        usage = {"input_tokens": 104, "output_tokens": rng.randint(10, 100)}
        return response("ok", usage=usage)

    inner = FunctionModel(answer)
    guard = BudgetedProvider(inner, ledger, run_scopes(usd=limit), prices=PRICES)

    async def one(i: int) -> ModelResponse:
        await asyncio.sleep(rng.random() * 0.05)  # calls start spread out, settle in between
        if i % 2:
            return await complete_via_stream(guard, request())
        return await guard.complete(request())

    results = await asyncio.gather(*(one(i) for i in range(200)), return_exceptions=True)

    answered = [r for r in results if isinstance(r, ModelResponse)]
    refused = [r for r in results if isinstance(r, BudgetExceeded)]
    assert len(answered) + len(refused) == 200
    assert len(inner.requests) == len(answered)  # a refused call never reached the model
    assert len(answered) >= int(limit / ESTIMATE_USD)  # at least as many as estimates fit
    assert refused, "the budget must have stopped some calls"
    spent = ledger.spent("run:r")
    assert spent.usd <= limit
    assert max(held) <= limit + 1e-12
    assert spent.usd == pytest.approx(sum(cost(r.usage) for r in answered))
    assert spent.calls == len(answered)
    assert ledger.open_reservations == 0
    assert ledger.state("run:r").reserved_usd == pytest.approx(0.0, abs=1e-12)
    # the response carries the cost the ledger charged
    assert all(r.usage.cost_usd == pytest.approx(cost(r.usage)) for r in answered)
    assert refused[0].details["scope"] == "run"
    assert "call to function:m by agent a in step 's'" in refused[0].message


async def test_a_refused_call_calls_the_hook_and_never_the_model() -> None:
    seen: list[tuple[str, str]] = []
    inner = FunctionModel(lambda r: "ok")
    guard = BudgetedProvider(
        inner,
        BudgetLedger(),
        run_scopes(usd=ESTIMATE_USD / 2),
        prices=PRICES,
        on_refused=lambda error, req: seen.append((error.code, req.model)),
    )
    with pytest.raises(BudgetExceeded, match=r"run 'r' budget of \$0\.0002 would be exceeded"):
        await guard.complete(request())
    with pytest.raises(BudgetExceeded):
        async for _ in guard.stream(request()):
            pass
    assert inner.requests == []
    assert seen == [("budget_exceeded", "function:m"), ("budget_exceeded", "function:m")]


async def test_settle_uses_every_token_kind_of_the_real_usage() -> None:
    usage = Usage(
        input_tokens=50,
        output_tokens=20,
        cache_read_tokens=30,
        cache_write_tokens=10,
        reasoning_tokens=40,
    )
    ledger = BudgetLedger()
    guard = BudgetedProvider(
        FunctionModel(lambda r: response("ok", usage=usage)), ledger, run_scopes(), prices=PRICES
    )
    await guard.complete(request())
    # cache prices default to the input price, reasoning is priced as output
    expected = (50 + 30 + 10) * 1.0 / 1e6 + (20 + 40) * 2.0 / 1e6
    assert ledger.spent("run:r") == Totals(pytest.approx(expected), 150, 1)


async def test_a_provider_reported_cost_is_taken_as_is() -> None:
    ledger = BudgetLedger()
    usage = Usage(input_tokens=10, output_tokens=10, cost_usd=0.123)
    guard = BudgetedProvider(
        FunctionModel(lambda r: response("ok", usage=usage)), ledger, run_scopes(), prices=PRICES
    )
    answer = await guard.complete(request())
    assert answer.usage.cost_usd == 0.123
    assert ledger.spent("run:r").usd == 0.123


async def test_a_failed_call_is_released_and_a_cancelled_one_settled_at_the_estimate() -> None:
    ledger = BudgetLedger()

    def fail(req: ModelRequest) -> str:
        raise ModelError("the provider answered 500")

    failing = BudgetedProvider(FunctionModel(fail), ledger, run_scopes(), prices=PRICES)
    with pytest.raises(ModelError):
        await failing.complete(request())
    assert ledger.spent("run:r") == Totals(0.0, 0, 1)

    started = asyncio.Event()

    async def hang(req: ModelRequest) -> str:
        started.set()
        await asyncio.Event().wait()
        return "never"

    hanging = BudgetedProvider(FunctionModel(hang), ledger, run_scopes(), prices=PRICES)
    task = asyncio.ensure_future(hanging.complete(request()))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert ledger.spent("run:r") == Totals(pytest.approx(ESTIMATE_USD), ESTIMATE_TOKENS, 2)
    assert ledger.open_reservations == 0


class StreamingModel:
    """A stream-only fake: text chunks, then (optionally) a final chunk or a failure."""

    name = "stream"

    def __init__(self, usage: Usage | None, *, fail_after: int | None = None) -> None:
        self.usage = usage
        self.fail_after = fail_after
        self.calls = 0

    async def complete(self, request: ModelRequest) -> ModelResponse:
        return await complete_via_stream(self, request)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]:
        self.calls += 1
        if self.fail_after == 0:
            raise ModelError("connection refused")
        for index, word in enumerate(["Hello", " there", " again"]):
            if self.fail_after is not None and index == self.fail_after:
                raise ModelError("the stream was cut")
            yield StreamChunk.delta(word)
        yield StreamChunk.call(ToolCall(id="c1", name="read_file", arguments={"path": "a"}))
        if self.usage is not None:
            yield StreamChunk.final(self.usage, "tool_use", model=request.model)


async def test_a_streamed_call_is_settled_with_its_final_usage() -> None:
    ledger = BudgetLedger()
    usage = Usage(input_tokens=120, output_tokens=30)
    guard = BudgetedProvider(StreamingModel(usage), ledger, run_scopes(), prices=PRICES)
    chunks = [chunk async for chunk in guard.stream(request("stream:m"))]
    assert [c.type for c in chunks] == ["text", "text", "text", "tool_call", "done"]
    expected = (120 * 1.0 + 30 * 2.0) / 1e6
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.cost_usd == pytest.approx(expected)
    assert ledger.spent("run:r") == Totals(pytest.approx(expected), 150, 1)


async def test_a_stream_without_usage_is_counted_at_the_estimate_never_zero() -> None:
    ledger = BudgetLedger()
    guard = BudgetedProvider(StreamingModel(None), ledger, run_scopes(), prices=PRICES)
    answer = await complete_via_stream(guard, request("stream:m"))
    assert answer.message.text_content == "Hello there again"
    assert ledger.spent("run:r") == Totals(pytest.approx(ESTIMATE_USD), ESTIMATE_TOKENS, 1)

    zero = BudgetedProvider(StreamingModel(Usage()), ledger, run_scopes(), prices=PRICES)
    chunks = [chunk async for chunk in zero.stream(request("stream:m"))]
    final = chunks[-1]
    assert final.usage is not None and final.provider_meta is not None
    assert final.usage.cost_usd == pytest.approx(ESTIMATE_USD)
    assert final.provider_meta["usage_estimated"] is True
    assert ledger.spent("run:r").usd == pytest.approx(2 * ESTIMATE_USD)


async def test_a_stream_cut_midway_is_counted_and_one_refused_at_connect_is_not() -> None:
    ledger = BudgetLedger()
    cut = BudgetedProvider(StreamingModel(None, fail_after=2), ledger, run_scopes(), prices=PRICES)
    received: list[str] = []
    with pytest.raises(ModelError, match="cut"):
        async for chunk in cut.stream(request("stream:m")):
            received.append(chunk.text)
    assert received == ["Hello", " there"]
    assert ledger.spent("run:r") == Totals(pytest.approx(ESTIMATE_USD), ESTIMATE_TOKENS, 1)

    refused = BudgetedProvider(
        StreamingModel(None, fail_after=0), ledger, run_scopes(), prices=PRICES
    )
    with pytest.raises(ModelError, match="connection refused"):
        async for _ in refused.stream(request("stream:m")):
            pass
    assert ledger.spent("run:r") == Totals(pytest.approx(ESTIMATE_USD), ESTIMATE_TOKENS, 2)
    assert ledger.open_reservations == 0


async def test_an_abandoned_stream_is_settled_at_the_estimate() -> None:
    ledger = BudgetLedger()
    guard = BudgetedProvider(
        StreamingModel(Usage(input_tokens=5)), ledger, run_scopes(), prices=PRICES
    )
    stream = guard.stream(request("stream:m"))
    first = await anext(stream)
    assert first.text == "Hello"
    await stream.aclose()  # type: ignore[attr-defined]
    assert ledger.spent("run:r") == Totals(pytest.approx(ESTIMATE_USD), ESTIMATE_TOKENS, 1)
