"""The model provider contract (M1): one interface over canonical messages.

A provider answers a :class:`~nexus.domain.messages.ModelRequest` with a
:class:`~nexus.domain.messages.ModelResponse` (``complete``) or with a stream of
:class:`StreamChunk` values (``stream``). A provider that can only do one of the
two implements the other with :func:`complete_via_stream` or
:func:`stream_via_complete`::

    class MyProvider:
        name = "mine"

        async def complete(self, request: ModelRequest) -> ModelResponse: ...

        def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]:
            return stream_via_complete(self, request)

Routers, fallback chains and recorders wrap providers behind the same interface.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from nexus.domain.messages import (
    Message,
    ModelRequest,
    ModelResponse,
    Part,
    TextPart,
    ToolCall,
    Usage,
)
from nexus.errors import ModelError

__all__ = [
    "ModelProvider",
    "StreamChunk",
    "complete_via_stream",
    "split_model_name",
    "stream_via_complete",
]

StopReason = Literal["end_turn", "tool_use", "max_tokens", "error"]


class StreamChunk(BaseModel):
    """One piece of a streamed response.

    ``text``: a text delta. ``tool_call``: a complete tool call. ``done``: the
    last chunk, carrying the usage, the stop reason and the model that answered.
    """

    model_config = ConfigDict(frozen=True)

    type: Literal["text", "tool_call", "done"]
    text: str = ""
    tool_call: ToolCall | None = None
    usage: Usage | None = None
    stop_reason: StopReason | None = None
    model: str | None = None
    provider_meta: dict[str, Any] | None = None

    @classmethod
    def delta(cls, text: str) -> StreamChunk:
        return cls(type="text", text=text)

    @classmethod
    def call(cls, tool_call: ToolCall) -> StreamChunk:
        return cls(type="tool_call", tool_call=tool_call)

    @classmethod
    def final(
        cls,
        usage: Usage,
        stop_reason: StopReason = "end_turn",
        model: str | None = None,
        provider_meta: dict[str, Any] | None = None,
    ) -> StreamChunk:
        return cls(
            type="done",
            usage=usage,
            stop_reason=stop_reason,
            model=model,
            provider_meta=provider_meta,
        )


@runtime_checkable
class ModelProvider(Protocol):
    """Anything that answers model requests. ``name`` is the provider prefix (``offline``)."""

    name: str

    async def complete(self, request: ModelRequest) -> ModelResponse: ...

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]: ...


def split_model_name(model: str) -> tuple[str, str]:
    """``"openai:gpt-4o"`` → ``("openai", "gpt-4o")``. Raises ModelError without a prefix."""
    provider, sep, name = model.partition(":")
    if not sep or not provider:
        raise ModelError(
            f"model name '{model}' has no provider prefix; write it as provider:model,"
            " e.g. offline:replay or openai:gpt-4o-mini",
            model=model,
        )
    return provider, name


async def complete_via_stream(provider: ModelProvider, request: ModelRequest) -> ModelResponse:
    """Collect ``provider.stream(request)`` into one response (for stream-only providers)."""
    started = time.perf_counter()
    texts: list[str] = []
    calls: list[ToolCall] = []
    final: StreamChunk | None = None
    async for chunk in provider.stream(request):
        if chunk.type == "text":
            texts.append(chunk.text)
        elif chunk.type == "tool_call" and chunk.tool_call is not None:
            calls.append(chunk.tool_call)
        elif chunk.type == "done":
            final = chunk
    parts: list[Part] = []
    if texts:
        parts.append(TextPart(text="".join(texts)))
    parts.extend(calls)
    stop: StopReason = "tool_use" if calls else "end_turn"
    usage = Usage()
    meta: dict[str, Any] = {}
    model = request.model
    if final is not None:
        stop = final.stop_reason or stop
        usage = final.usage or usage
        meta = dict(final.provider_meta or {})
        model = final.model or model
    return ModelResponse(
        model=model,
        message=Message(role="assistant", parts=tuple(parts)),
        stop_reason=stop,
        usage=usage,
        latency_s=time.perf_counter() - started,
        provider_meta=meta,
    )


async def stream_via_complete(
    provider: ModelProvider, request: ModelRequest
) -> AsyncIterator[StreamChunk]:
    """Stream ``provider.complete(request)`` as chunks (for providers without streaming)."""
    response = await provider.complete(request)
    text = response.message.text_content
    if text:
        yield StreamChunk.delta(text)
    for call in response.message.tool_calls:
        yield StreamChunk.call(call)
    yield StreamChunk.final(
        response.usage,
        response.stop_reason,
        model=response.model,
        provider_meta=response.provider_meta,
    )
