"""Fallback chains (M3): a provider that tries models in order until one answers.

``FallbackProvider([("anthropic:claude-sonnet-4-5", a), ("openai:gpt-4o-mini", b),
("ollama:llama3.2", c)])`` sends each request to the first model; when that
fails with a model error (after its own retries: rate limits, outages, an
exhausted credit balance, a bad response) or lacks configuration (a missing API
key), the same request goes to the next. The response names the model that
answered and carries its own usage and cost, so nothing is counted twice;
``provider_meta["fallback"]`` lists the models skipped and why. When every
model fails the error lists each failure.

A stream moves on only while nothing has been handed on to the caller; a
stream that breaks after part of the answer was delivered fails as it is.

In the registry a chain is a model name: ``fallback:MODEL,MODEL,…``, e.g.
``fallback:anthropic:claude-sonnet-4-5,openai:gpt-4o-mini,ollama:llama3.2``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

from nexus.domain.messages import ModelRequest, ModelResponse
from nexus.errors import ConfigError, ModelError, NexusError
from nexus.providers.base import ModelProvider, StreamChunk
from nexus.providers.errors import AllProvidersFailed

__all__ = ["FallbackProvider", "parse_chain"]

log = logging.getLogger("nexus.providers.fallback")


def parse_chain(spec: str) -> list[str]:
    """``"anthropic:a, openai:b"`` → ``["anthropic:a", "openai:b"]``; each needs a prefix."""
    names = [part.strip() for part in spec.split(",") if part.strip()]
    if not names:
        raise ConfigError("a fallback chain needs at least one model: fallback:MODEL,MODEL,…")
    bad = [n for n in names if ":" not in n]
    if bad:
        raise ConfigError(
            f"fallback chain '{spec}': write each model as provider:model ({', '.join(bad)})"
        )
    return names


def _failure(model: str, error: NexusError) -> dict[str, Any]:
    return {"model": model, "code": error.code, "message": error.message}


class FallbackProvider:
    """Models tried in order; itself a :class:`~nexus.providers.base.ModelProvider`."""

    name = "fallback"

    def __init__(self, chain: Sequence[tuple[str, ModelProvider]]) -> None:
        if not chain:
            raise ConfigError("a fallback chain needs at least one model")
        self.chain = tuple(chain)

    @property
    def models(self) -> list[str]:
        return [name for name, _ in self.chain]

    @staticmethod
    def _all_failed(failures: list[dict[str, Any]], retryable: bool) -> AllProvidersFailed:
        """The error when no model answered; retryable when any failure was."""
        listing = "; ".join(f"{f['model']}: {f['message']}" for f in failures)
        error = AllProvidersFailed(
            f"every model of the fallback chain failed ({len(failures)}): {listing}", failures
        )
        error.retryable = retryable
        return error

    async def complete(self, request: ModelRequest) -> ModelResponse:
        failures: list[dict[str, Any]] = []
        retryable = False
        last: NexusError | None = None
        for model, provider in self.chain:
            try:
                response = await provider.complete(request.model_copy(update={"model": model}))
            except (ModelError, ConfigError) as error:
                failures.append(_failure(model, error))
                retryable = retryable or bool(getattr(error, "retryable", False))
                last = error
                log.warning("fallback: %s failed (%s); trying the next model", model, error)
                continue
            if failures:
                meta = {
                    **response.provider_meta,
                    "fallback": {"answered": model, "skipped": failures},
                }
                response = response.model_copy(update={"provider_meta": meta})
            return response
        raise self._all_failed(failures, retryable) from last

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]:
        failures: list[dict[str, Any]] = []
        retryable = False
        last: NexusError | None = None
        for model, provider in self.chain:
            handed_on = False
            try:
                async for chunk in provider.stream(request.model_copy(update={"model": model})):
                    if chunk.type == "done" and failures:
                        meta = {
                            **(chunk.provider_meta or {}),
                            "fallback": {"answered": model, "skipped": failures},
                        }
                        chunk = chunk.model_copy(update={"provider_meta": meta})
                    handed_on = True
                    yield chunk
            except (ModelError, ConfigError) as error:
                if handed_on:
                    raise
                failures.append(_failure(model, error))
                retryable = retryable or bool(getattr(error, "retryable", False))
                last = error
                log.warning("fallback: %s failed (%s); trying the next model", model, error)
                continue
            return
        raise self._all_failed(failures, retryable) from last
