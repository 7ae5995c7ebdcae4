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

import functools
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson

from nexus.domain.messages import ModelRequest, ModelResponse
from nexus.providers._adapter import OpenAIChatAdapter
from nexus.providers.base import StreamChunk
from nexus.providers.errors import BadResponse, ProviderError, error_from_status
from nexus.providers.http11 import Http11Client, HttpError
from nexus.providers.translate_openai import (
    OpenAIStreamAssembler,
    WireFormatError,
    parse_completion,
)

__all__ = ["OpenAIHttpProvider"]

_JSON = "application/json"


def _body(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw


class OpenAIHttpProvider(OpenAIChatAdapter[Http11Client]):
    """``openai:MODEL`` (or ``ollama:MODEL`` …) at one base URL, over a lean HTTP client.

    The arguments are those of :class:`~nexus.providers.openai_provider.OpenAIProvider`.
    """

    @functools.cached_property
    def _headers(self) -> dict[str, str]:
        """The headers of every call: JSON both ways, and the key as a bearer token."""
        headers = {"content-type": _JSON, "accept": _JSON}
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        return headers

    def _new_client(self) -> Http11Client:
        return Http11Client(self.base_url, timeout_s=self.timeout_s)

    async def _close_client(self, client: Http11Client) -> None:
        await client.aclose()

    def _http(self) -> Http11Client:
        """The HTTP client of the running event loop (connections belong to one loop)."""
        return self._loop_client()

    def _transport(self, exc: HttpError) -> ProviderError:
        return self._timed_out() if exc.timeout else self._connect_failed(str(exc))

    async def complete(self, request: ModelRequest) -> ModelResponse:
        client = self._http()
        kwargs = self._request(request, stream=False)
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
        return self._response(parsed, started)

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]:
        client = self._http()
        kwargs = self._request(request, stream=True)
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
        yield self._final(stop, usage, meta)
