"""The OpenAI chat completions adapter over :class:`~nexus.providers.http11.Http11Client`
instead of the official SDK: same requests, answers, usage, prices and errors as
:class:`~nexus.providers.openai_provider.OpenAIProvider`, at a fraction of the client CPU.

Chosen with ``NEXUS_OPENAI_TRANSPORT=http`` (for ``openai:``, ``ollama:`` and other
OpenAI-compatible endpoints; the default, ``sdk``, keeps the official client). Bodies are
built by :func:`~nexus.providers.translate_openai.to_openai_request` and read with
:func:`~nexus.providers.translate_openai.parse_completion` and
:class:`~nexus.providers.translate_openai.OpenAIStreamAssembler`; an HTTP error status
becomes the provider error of :func:`~nexus.providers.errors.error_from_status` (with
``Retry-After``), a transport failure :class:`~nexus.providers.errors.ProviderUnavailable`,
an unreadable body :class:`~nexus.providers.errors.BadResponse`, and a stream that breaks
after part of the answer :class:`~nexus.providers.errors.StreamInterrupted`. Retries stay
with :mod:`nexus.providers.reliability`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

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
from nexus.providers.http11 import Http11Client, HttpError
from nexus.providers.pricing import PriceTable, default_price_table
from nexus.providers.translate_openai import (
    OpenAIStreamAssembler,
    WireFormatError,
    parse_completion,
    to_openai_request,
)

__all__ = ["OpenAIHttpProvider"]

_JSON = "application/json"


def _body(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw


class OpenAIHttpProvider:
    """``openai:MODEL`` (or ``ollama:MODEL`` …) at one base URL, over a lean HTTP client.

    The arguments are those of :class:`~nexus.providers.openai_provider.OpenAIProvider`.
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
        self.max_tokens_field = max_tokens_field
        self._api_key = api_key
        self._api_key_env = api_key_env
        self._prices = prices
        self._client: Http11Client | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self._headers = {"content-type": _JSON, "accept": _JSON}
        if api_key:
            self._headers["authorization"] = f"Bearer {api_key}"

    @property
    def full_name(self) -> str:
        return f"{self.name}:{self.model}"

    def _http(self) -> Http11Client:
        """The HTTP client of the running event loop (connections belong to one loop)."""
        loop = asyncio.get_running_loop()
        if self._client is not None and self._client_loop is loop:
            return self._client
        if not self._api_key:
            raise ConfigError(
                f"model {self.full_name} needs an API key: set {self._api_key_env}",
                variable=self._api_key_env,
            )
        self._client = Http11Client(self.base_url, timeout_s=self.timeout_s)
        self._client_loop = loop
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _price(self, usage: Usage) -> Usage:
        table = self._prices or default_price_table()
        return usage.model_copy(update={"cost_usd": table.cost_of(self.full_name, usage)})

    def _transport(self, exc: HttpError) -> ProviderError:
        where = (self.name, self.base_url)
        if exc.timeout:
            return ProviderUnavailable.at(
                *where, f"no answer within {self.timeout_s:g}s (timeout)", reason="timeout"
            )
        return ProviderUnavailable.at(*where, f"connection failed: {exc}", reason="connect")

    def _interrupted(self, error: ProviderError, partial: str) -> ProviderError:
        if not partial:
            return error
        return StreamInterrupted.at(
            self.name,
            self.base_url,
            f"the stream broke after {len(partial)} characters of the answer ({error.message})",
            status=error.status,
            partial_text=partial,
            cause=error.code,
        )

    async def complete(self, request: ModelRequest) -> ModelResponse:
        client = self._http()
        kwargs = to_openai_request(
            request, self.model, stream=False, max_tokens_field=self.max_tokens_field
        )
        started = time.perf_counter()
        try:
            reply = await client.request(
                "POST", "/chat/completions", orjson.dumps(kwargs), self._headers
            )
        except HttpError as exc:
            raise self._transport(exc) from exc
        if reply.status >= 400 or reply.status < 200:
            raise error_from_status(
                self.name, self.base_url, reply.status, _body(reply.body), reply.headers
            )
        try:
            parsed = parse_completion(orjson.loads(reply.body))
        except (orjson.JSONDecodeError, WireFormatError, AttributeError, TypeError) as exc:
            raise BadResponse.at(
                self.name, self.base_url, f"unreadable response: {exc}", status=reply.status
            ) from exc
        return ModelResponse(
            model=self.full_name,
            message=parsed.message,
            stop_reason=parsed.stop_reason,
            usage=self._price(parsed.usage),
            latency_s=time.perf_counter() - started,
            provider_meta={**parsed.meta, "endpoint": self.base_url},
        )

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]:
        client = self._http()
        kwargs = to_openai_request(
            request, self.model, stream=True, max_tokens_field=self.max_tokens_field
        )
        assembler = OpenAIStreamAssembler()
        headers = {**self._headers, "accept": "text/event-stream"}
        try:
            async with client.stream(
                "POST", "/chat/completions", orjson.dumps(kwargs), headers
            ) as reply:
                if reply.status >= 400 or reply.status < 200:
                    body = _body(await reply.read())
                    raise error_from_status(
                        self.name, self.base_url, reply.status, body, reply.headers
                    )
                async for line in reply.lines():
                    if not line.startswith(b"data:"):
                        continue
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        break
                    event = orjson.loads(data)
                    if isinstance(event, dict) and event.get("error"):
                        raise error_from_status(self.name, self.base_url, 200, event)
                    for out in assembler.feed(event):
                        yield out
                stop, usage, meta = assembler.finish()
        except ProviderError as exc:
            raise self._interrupted(exc, assembler.partial_text) from exc
        except HttpError as exc:
            raise self._interrupted(self._transport(exc), assembler.partial_text) from exc
        except (orjson.JSONDecodeError, WireFormatError, AttributeError, TypeError) as exc:
            error = BadResponse.at(self.name, self.base_url, f"unreadable stream: {exc}")
            raise self._interrupted(error, assembler.partial_text) from exc
        yield StreamChunk.final(
            self._price(usage),
            stop,
            model=self.full_name,
            provider_meta={**meta, "endpoint": self.base_url},
        )
