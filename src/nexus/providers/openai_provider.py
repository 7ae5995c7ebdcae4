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

from nexus.providers._adapter import OpenAIChatAdapter
from nexus.providers._sdk_adapter import SdkAdapter, SdkErrors, StreamAssembler
from nexus.providers.translate_openai import (
    OpenAIStreamAssembler,
    ParsedResponse,
    parse_completion,
)

__all__ = ["OpenAIProvider"]


class OpenAIProvider(OpenAIChatAdapter[openai.AsyncOpenAI], SdkAdapter[openai.AsyncOpenAI]):
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

    def _new_client(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            api_key=self._api_key,
            base_url=self.base_url,
            timeout=self.timeout_s,
            max_retries=0,
        )

    async def _create(self, client: openai.AsyncOpenAI, kwargs: dict[str, Any]) -> Any:
        return await client.chat.completions.create(**kwargs, timeout=self.timeout_s)

    def _parse(self, body: dict[str, Any]) -> ParsedResponse:
        return parse_completion(body)

    def _assembler(self) -> StreamAssembler:
        return OpenAIStreamAssembler()
