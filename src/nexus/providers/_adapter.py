"""What every remote model adapter shares: one model at one endpoint, its API key, the
client of the running event loop, prices, and the provider errors for a timeout, a failed
connection and a stream that broke after part of the answer.

:class:`RemoteAdapter` holds these; an adapter adds its transport (the official SDK, or
:class:`~nexus.providers.http11.Http11Client`) and its wire format.
:class:`OpenAIChatAdapter` is the OpenAI chat completions side that both OpenAI transports
share: their arguments and the request body. Nothing here imports an SDK: they take a
second or more to import.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

from nexus.domain.messages import ModelRequest, ModelResponse, Usage
from nexus.errors import ConfigError
from nexus.providers.base import StopReason, StreamChunk
from nexus.providers.errors import ProviderError, ProviderUnavailable, StreamInterrupted
from nexus.providers.pricing import PriceTable, default_price_table
from nexus.providers.translate_openai import ParsedResponse, to_openai_request

__all__ = ["OpenAIChatAdapter", "RemoteAdapter"]

ClientT = TypeVar("ClientT")


class RemoteAdapter(ABC, Generic[ClientT]):
    """``NAME:MODEL`` at one base URL, over a client of type ``ClientT``.

    ``api_key`` None (or empty) means the key is missing: the first call raises a
    ConfigError naming ``api_key_env``. ``name`` is the provider prefix used in model
    names, prices and error messages. Subclasses make and close the client
    (:meth:`_new_client`, :meth:`_close_client`).
    """

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key: str | None,
        api_key_env: str,
        name: str,
        timeout_s: float,
        prices: PriceTable | None,
    ) -> None:
        self.name = name
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._api_key = api_key
        self._api_key_env = api_key_env
        self._prices = prices
        self._client: ClientT | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    @property
    def full_name(self) -> str:
        return f"{self.name}:{self.model}"

    @abstractmethod
    def _new_client(self) -> ClientT:
        """A new client for this endpoint (called once the key is known to be set)."""

    @abstractmethod
    async def _close_client(self, client: ClientT) -> None:
        """Close the connections of ``client``."""

    def _loop_client(self) -> ClientT:
        """The client of the running event loop (its connections belong to one loop)."""
        loop = asyncio.get_running_loop()
        if self._client is not None and self._client_loop is loop:
            return self._client
        if not self._api_key:
            raise ConfigError(
                f"model {self.full_name} needs an API key: set {self._api_key_env}",
                variable=self._api_key_env,
            )
        self._client = self._new_client()
        self._client_loop = loop
        return self._client

    async def aclose(self) -> None:
        """Close the HTTP connections of the client, if one was made."""
        if self._client is not None:
            await self._close_client(self._client)
            self._client = None

    def _price(self, usage: Usage) -> Usage:
        table = self._prices or default_price_table()
        return usage.model_copy(update={"cost_usd": table.cost_of(self.full_name, usage)})

    def _response(self, parsed: ParsedResponse, started: float) -> ModelResponse:
        """The priced response for ``parsed``, timed from ``started`` (``perf_counter``)."""
        return ModelResponse(
            model=self.full_name,
            message=parsed.message,
            stop_reason=parsed.stop_reason,
            usage=self._price(parsed.usage),
            latency_s=time.perf_counter() - started,
            provider_meta={**parsed.meta, "endpoint": self.base_url},
        )

    def _final(self, stop: StopReason, usage: Usage, meta: dict[str, Any]) -> StreamChunk:
        """The last chunk of a stream: priced usage, stop reason, model and metadata."""
        return StreamChunk.final(
            self._price(usage),
            stop,
            model=self.full_name,
            provider_meta={**meta, "endpoint": self.base_url},
        )

    def _timed_out(self) -> ProviderError:
        return ProviderUnavailable.at(
            self.name,
            self.base_url,
            f"no answer within {self.timeout_s:g}s (timeout)",
            reason="timeout",
        )

    def _connect_failed(self, detail: str) -> ProviderError:
        return ProviderUnavailable.at(
            self.name, self.base_url, f"connection failed: {detail}", reason="connect"
        )

    def _interrupted(self, error: ProviderError, partial: str) -> ProviderError:
        """``error`` as it stands, or a StreamInterrupted when ``partial`` text was handed on."""
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


class OpenAIChatAdapter(RemoteAdapter[ClientT]):
    """``openai:MODEL`` (or ``ollama:MODEL`` …) at one base URL: the arguments and request
    body of the OpenAI chat completions adapters, whichever client carries them.

    ``max_tokens_field`` is where the request's ``max_tokens`` goes (``max_tokens`` for
    servers that lack ``max_completion_tokens``).
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
        super().__init__(
            model,
            base_url=base_url,
            api_key=api_key,
            api_key_env=api_key_env,
            name=name,
            timeout_s=timeout_s,
            prices=prices,
        )
        self.max_tokens_field = max_tokens_field

    def _request(self, request: ModelRequest, *, stream: bool) -> dict[str, Any]:
        """The chat completion request body for ``request``."""
        return to_openai_request(
            request, self.model, stream=stream, max_tokens_field=self.max_tokens_field
        )
