"""The OpenAI chat completions adapter (M1, M2), through the official ``openai`` SDK.

One instance serves one model at one endpoint (base URL): OpenAI itself, or any
OpenAI-compatible server (Ollama, vLLM, LM Studio). Every call has a timeout and
the SDK's own retries are off — :mod:`nexus.providers.reliability` retries.
Streams ask for usage (``stream_options.include_usage``) so streamed calls are
counted. SDK and transport errors become :mod:`nexus.providers.errors` values
that name the provider, the endpoint and the status.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import openai

from nexus.domain.messages import ModelRequest, ModelResponse, Usage
from nexus.errors import ConfigError
from nexus.providers.base import StreamChunk
from nexus.providers.errors import (
    BadResponse,
    ProviderError,
    ProviderUnavailable,
    StreamInterrupted,
    error_from_status,
)
from nexus.providers.pricing import PriceTable, default_price_table
from nexus.providers.translate_openai import (
    OpenAIStreamAssembler,
    parse_completion,
    to_openai_request,
)

__all__ = ["OpenAIProvider"]


class OpenAIProvider:
    """``openai:MODEL`` (or ``ollama:MODEL``) at one base URL.

    ``api_key`` None means the key is missing: the first call raises a ConfigError
    naming ``api_key_env``. ``name`` is the provider prefix used in model names,
    prices and error messages. ``max_tokens_field`` is where the request's
    ``max_tokens`` goes (``max_tokens`` for servers that lack ``max_completion_tokens``).
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key: str | None,
        api_key_env: str = "OPENAI_API_KEY",
        name: str = "openai",
        timeout_s: float = 120.0,
        prices: PriceTable | None = None,
        max_tokens_field: str = "max_completion_tokens",
    ) -> None:
        self.name = name
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._api_key = api_key
        self._api_key_env = api_key_env
        self._prices = prices
        self.max_tokens_field = max_tokens_field
        self._client: openai.AsyncOpenAI | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    @property
    def full_name(self) -> str:
        return f"{self.name}:{self.model}"

    def _sdk(self) -> openai.AsyncOpenAI:
        """The SDK client for the running event loop (its connections belong to one loop)."""
        loop = asyncio.get_running_loop()
        if self._client is not None and self._client_loop is loop:
            return self._client
        if not self._api_key:
            raise ConfigError(
                f"model {self.full_name} needs an API key: set {self._api_key_env}",
                variable=self._api_key_env,
            )
        self._client = openai.AsyncOpenAI(
            api_key=self._api_key,
            base_url=self.base_url,
            timeout=self.timeout_s,
            max_retries=0,
        )
        self._client_loop = loop
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP connections of the SDK client, if one was made."""
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _price(self, usage: Usage) -> Usage:
        table = self._prices or default_price_table()
        return usage.model_copy(update={"cost_usd": table.cost_of(self.full_name, usage)})

    def _error(self, exc: BaseException, partial_text: str = "") -> ProviderError:
        """Map an SDK, transport or format error to a provider error."""
        if isinstance(exc, ProviderError):
            return exc
        where = (self.name, self.base_url)
        error: ProviderError
        if isinstance(exc, openai.APIStatusError):
            error = error_from_status(*where, exc.status_code, exc.body, exc.response.headers)
        elif isinstance(exc, openai.APITimeoutError):
            error = ProviderUnavailable.at(
                *where, f"no answer within {self.timeout_s:g}s (timeout)", reason="timeout"
            )
        elif isinstance(exc, openai.APIConnectionError):
            cause = exc.__cause__ or exc.__context__
            detail = f"{type(cause).__name__}: {cause}" if cause else str(exc)
            error = ProviderUnavailable.at(*where, f"connection failed: {detail}", reason="connect")
        elif isinstance(exc, openai.APIError):  # an error event inside a stream
            error = error_from_status(*where, 200, exc.body or exc.message)
        elif isinstance(exc, (ValueError, openai.APIResponseValidationError)):
            error = BadResponse.at(*where, f"unreadable response: {exc}")
        else:  # a transport error the SDK let through, e.g. a body cut short
            error = ProviderUnavailable.at(
                *where, f"the connection failed: {type(exc).__name__}: {exc}", reason="transport"
            )
        if partial_text:
            return StreamInterrupted.at(
                *where,
                f"the stream broke after {len(partial_text)} characters of the answer"
                f" ({error.message})",
                status=error.status,
                partial_text=partial_text,
                cause=error.code,
            )
        return error

    async def complete(self, request: ModelRequest) -> ModelResponse:
        client = self._sdk()
        kwargs = to_openai_request(
            request, self.model, stream=False, max_tokens_field=self.max_tokens_field
        )
        started = time.perf_counter()
        try:
            completion = await client.chat.completions.create(**kwargs, timeout=self.timeout_s)
            parsed = parse_completion(completion.model_dump())
        except (openai.OpenAIError, ValueError) as exc:
            raise self._error(exc) from exc
        return ModelResponse(
            model=self.full_name,
            message=parsed.message,
            stop_reason=parsed.stop_reason,
            usage=self._price(parsed.usage),
            latency_s=time.perf_counter() - started,
            provider_meta={**parsed.meta, "endpoint": self.base_url},
        )

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]:
        client = self._sdk()
        kwargs = to_openai_request(
            request, self.model, stream=True, max_tokens_field=self.max_tokens_field
        )
        assembler = OpenAIStreamAssembler()
        try:
            sdk_stream = await client.chat.completions.create(**kwargs, timeout=self.timeout_s)
        except (openai.OpenAIError, ValueError) as exc:
            raise self._error(exc) from exc
        try:
            async for chunk in sdk_stream:
                for out in assembler.feed(chunk.model_dump()):
                    yield out
            stop, usage, meta = assembler.finish()
        except Exception as exc:  # the boundary: every failure while reading becomes ours
            raise self._error(exc, assembler.partial_text) from exc
        finally:
            await sdk_stream.close()
        yield StreamChunk.final(
            self._price(usage),
            stop,
            model=self.full_name,
            provider_meta={**meta, "endpoint": self.base_url},
        )
