"""The Anthropic Messages adapter (M1, M2), through the official ``anthropic`` SDK.

One instance serves one model at one endpoint (base URL, ``ANTHROPIC_BASE_URL``).
Every call has a timeout and the SDK's own retries are off — the reliability
layer retries. Usage, including cache writes and reads, comes from the
response (``message_start`` and ``message_delta`` when streaming) and is priced
from the price table. SDK and transport errors become
:mod:`nexus.providers.errors` values that name the provider, endpoint and status;
529 ``overloaded_error`` is :class:`~nexus.providers.errors.ProviderUnavailable`,
"credit balance is too low" is :class:`~nexus.providers.errors.CreditExhausted`.
"""

from __future__ import annotations

from typing import Any

import anthropic

from nexus.domain.messages import ModelRequest
from nexus.providers._sdk_adapter import SdkAdapter, SdkErrors, StreamAssembler
from nexus.providers.pricing import PriceTable
from nexus.providers.translate_anthropic import (
    AnthropicStreamAssembler,
    parse_message,
    to_anthropic_request,
)
from nexus.providers.translate_openai import ParsedResponse

__all__ = ["AnthropicProvider"]


class AnthropicProvider(SdkAdapter[anthropic.AsyncAnthropic]):
    """``anthropic:MODEL`` at one base URL. ``api_key`` None: the first call raises ConfigError."""

    _sdk_errors = SdkErrors(
        base=anthropic.AnthropicError,
        status=anthropic.APIStatusError,
        timeout=anthropic.APITimeoutError,
        connection=anthropic.APIConnectionError,
        validation=anthropic.APIResponseValidationError,
    )

    def __init__(
        self,
        model: str,
        *,
        base_url: str,
        api_key: str | None,
        api_key_env: str = "ANTHROPIC_API_KEY",
        name: str = "anthropic",
        timeout_s: float = 120.0,
        prices: PriceTable | None = None,
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

    def _new_client(self) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(
            api_key=self._api_key,
            base_url=self.base_url,
            timeout=self.timeout_s,
            max_retries=0,
        )

    def _request(self, request: ModelRequest, *, stream: bool) -> dict[str, Any]:
        return to_anthropic_request(request, self.model, stream=stream)

    async def _create(self, client: anthropic.AsyncAnthropic, kwargs: dict[str, Any]) -> Any:
        return await client.messages.create(**kwargs, timeout=self.timeout_s)

    def _parse(self, body: dict[str, Any]) -> ParsedResponse:
        return parse_message(body)

    def _assembler(self) -> StreamAssembler:
        return AnthropicStreamAssembler()
