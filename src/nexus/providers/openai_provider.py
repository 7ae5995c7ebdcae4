"""The OpenAI chat completions adapter (M1, M2), through the official ``openai`` SDK.

One instance serves one model at one endpoint (base URL): OpenAI itself, or any
OpenAI-compatible server (Ollama, vLLM, LM Studio). Every call has a timeout and
the SDK's own retries are off — :mod:`nexus.providers.reliability` retries.
Streams ask for usage (``stream_options.include_usage``) so streamed calls are
counted. SDK and transport errors become :mod:`nexus.providers.errors` values
that name the provider, the endpoint and the status.
"""

from __future__ import annotations

from typing import Any

import openai

from nexus.domain.messages import ModelRequest
from nexus.providers._sdk_adapter import SdkAdapter, SdkErrors, StreamAssembler
from nexus.providers.pricing import PriceTable
from nexus.providers.translate_openai import (
    OpenAIStreamAssembler,
    ParsedResponse,
    parse_completion,
    to_openai_request,
)

__all__ = ["OpenAIProvider"]


class OpenAIProvider(SdkAdapter[openai.AsyncOpenAI]):
    """``openai:MODEL`` (or ``ollama:MODEL``) at one base URL.

    ``api_key`` None means the key is missing: the first call raises a ConfigError
    naming ``api_key_env``. ``name`` is the provider prefix used in model names,
    prices and error messages. ``max_tokens_field`` is where the request's
    ``max_tokens`` goes (``max_tokens`` for servers that lack ``max_completion_tokens``).
    """

    _sdk_errors = SdkErrors(
        base=openai.OpenAIError,
        status=openai.APIStatusError,
        timeout=openai.APITimeoutError,
        connection=openai.APIConnectionError,
        validation=openai.APIResponseValidationError,
        stream_event=openai.APIError,
    )

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

    def _new_client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            api_key=self._api_key,
            base_url=self.base_url,
            timeout=self.timeout_s,
            max_retries=0,
        )

    def _request(self, request: ModelRequest, *, stream: bool) -> dict[str, Any]:
        return to_openai_request(
            request, self.model, stream=stream, max_tokens_field=self.max_tokens_field
        )

    async def _create(self, client: openai.AsyncOpenAI, kwargs: dict[str, Any]) -> Any:
        return await client.chat.completions.create(**kwargs, timeout=self.timeout_s)

    def _parse(self, body: dict[str, Any]) -> ParsedResponse:
        return parse_completion(body)

    def _assembler(self) -> StreamAssembler:
        return OpenAIStreamAssembler()
