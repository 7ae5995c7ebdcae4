"""Canonical messages ↔ the Anthropic Messages wire format.

Requests: system messages become the top-level ``system`` text; user and
assistant messages become content blocks (``text``, ``image`` with a base64 or
URL source, ``tool_use``); tool results become ``tool_result`` blocks in a
user turn. Consecutive turns of the same role are merged and empty text blocks
dropped, as the API requires. ``max_tokens`` is required by the API: the
request's value, else :data:`DEFAULT_MAX_TOKENS`.

Usage: ``input_tokens`` already excludes cached tokens; cache writes and reads
come from ``cache_creation_input_tokens`` and ``cache_read_input_tokens``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from nexus.domain.messages import (
    ImagePart,
    Message,
    ModelRequest,
    Part,
    TextPart,
    ToolCall,
    ToolSpec,
    Usage,
)
from nexus.providers.base import StopReason, StreamChunk
from nexus.providers.translate_openai import (
    ParsedResponse,
    WireFormatError,
    parse_arguments,
    parsed_answer,
    streamed_call,
)

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "AnthropicStreamAssembler",
    "parse_message",
    "to_anthropic_messages",
    "to_anthropic_request",
    "to_anthropic_tools",
    "usage_from_anthropic",
]

DEFAULT_MAX_TOKENS = 4096

_STOP: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "stop_sequence": "end_turn",
    "pause_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "model_context_window_exceeded": "max_tokens",
    "refusal": "error",
}


def _image_block(part: ImagePart) -> dict[str, Any]:
    if part.data.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": part.data}}
    data, media_type = part.data, part.media_type
    if data.startswith("data:"):
        header, _, data = data.partition(",")
        media_type = header[5:].split(";")[0] or media_type
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _blocks(parts: Iterable[Part]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart):
            if part.text:
                blocks.append({"type": "text", "text": part.text})
        elif isinstance(part, ImagePart):
            blocks.append(_image_block(part))
        elif isinstance(part, ToolCall):
            blocks.append(
                {"type": "tool_use", "id": part.id, "name": part.name, "input": part.arguments}
            )
        else:
            block: dict[str, Any] = {
                "type": "tool_result",
                "tool_use_id": part.tool_call_id,
                "content": part.content,
            }
            if part.is_error:
                block["is_error"] = True
            blocks.append(block)
    return blocks


def to_anthropic_messages(messages: Iterable[Message]) -> tuple[str, list[dict[str, Any]]]:
    """``(system text, messages)`` for a Messages API request."""
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            if message.text_content:
                system.append(message.text_content)
            continue
        role = "assistant" if message.role == "assistant" else "user"
        blocks = _blocks(message.parts)
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    return "\n\n".join(system), out


def to_anthropic_tools(tools: Iterable[ToolSpec]) -> list[dict[str, Any]]:
    """The ``tools`` array: name, description and ``input_schema``."""
    return [
        {"name": tool.name, "description": tool.description, "input_schema": tool.parameters}
        for tool in tools
    ]


def to_anthropic_request(request: ModelRequest, model: str, *, stream: bool) -> dict[str, Any]:
    """Keyword arguments for ``messages.create`` (without timeout and headers)."""
    system, messages = to_anthropic_messages(request.messages)
    kwargs: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
    }
    if system:
        kwargs["system"] = system
    if request.tools:
        kwargs["tools"] = to_anthropic_tools(request.tools)
    if request.temperature is not None:
        kwargs["temperature"] = request.temperature
    if stream:
        kwargs["stream"] = True
    return kwargs


def usage_from_anthropic(raw: Mapping[str, Any] | None, base: Usage | None = None) -> Usage:
    """Canonical usage from an Anthropic ``usage`` block; fields it lacks keep ``base``'s."""
    start = base or Usage()
    if not raw:
        return start

    def pick(key: str, default: int) -> int:
        value = raw.get(key)
        return default if value is None else int(value)

    return Usage(
        input_tokens=pick("input_tokens", start.input_tokens),
        output_tokens=pick("output_tokens", start.output_tokens),
        cache_write_tokens=pick("cache_creation_input_tokens", start.cache_write_tokens),
        cache_read_tokens=pick("cache_read_input_tokens", start.cache_read_tokens),
    )


def parse_message(data: Mapping[str, Any]) -> ParsedResponse:
    """A ``message`` body → canonical message, stop reason, usage and metadata."""
    content = data.get("content")
    if data.get("type") not in (None, "message") or not isinstance(content, list):
        raise WireFormatError(f"not a Messages API message: {str(data)[:200]}")
    parts: list[Part] = []
    for block in content:
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            parts.append(TextPart(text=str(block["text"])))
        elif kind == "tool_use":
            name = str(block.get("name") or "")
            if not name:
                raise WireFormatError(f"tool_use block without a name: {str(block)[:200]}")
            arguments = block.get("input")
            parts.append(
                ToolCall(
                    id=str(block.get("id") or f"toolu_{len(parts) + 1}"),
                    name=name,
                    arguments=parse_arguments(arguments if arguments is not None else {}, name),
                )
            )
    calls = [p for p in parts if isinstance(p, ToolCall)]
    raw_stop = str(data.get("stop_reason") or "")
    stop = _STOP.get(raw_stop, "tool_use" if calls else "end_turn")
    usage = usage_from_anthropic(data.get("usage"))
    return parsed_answer(data, parts, stop, usage, stop_reason=raw_stop)


@dataclass(slots=True)
class _Block:
    kind: str
    id: str = ""
    name: str = ""
    pieces: list[str] = field(default_factory=list)


@dataclass(slots=True)
class AnthropicStreamAssembler:
    """Turns Messages API stream events into canonical stream chunks.

    The events come in the order ``message_start``, then per content block
    ``content_block_start`` / ``content_block_delta``… / ``content_block_stop``,
    then ``message_delta`` (stop reason, output usage) and ``message_stop``.
    A tool call is handed out when its block stops. :meth:`finish` raises
    WireFormatError when ``message_stop`` never came.
    """

    text: list[str] = field(default_factory=list)
    blocks: dict[int, _Block] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    stop_reason: str | None = None
    stopped: bool = False
    started: bool = False
    emitted_calls: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    def feed(self, event: Mapping[str, Any]) -> list[StreamChunk]:
        kind = event.get("type")
        if kind == "message_start":
            message = event.get("message") or {}
            self.started = True
            self.meta = {"id": message.get("id"), "served_model": message.get("model")}
            self.usage = usage_from_anthropic(message.get("usage"), self.usage)
            return []
        if not self.started and kind != "ping":
            raise WireFormatError(f"stream event '{kind}' came before message_start")
        if kind == "content_block_start":
            block = event.get("content_block") or {}
            self.blocks[int(event.get("index", 0))] = _Block(
                kind=str(block.get("type")),
                id=str(block.get("id") or ""),
                name=str(block.get("name") or ""),
            )
            text = block.get("text")
            if block.get("type") == "text" and text:
                self.text.append(str(text))
                return [StreamChunk.delta(str(text))]
            return []
        if kind == "content_block_delta":
            return self._delta(event)
        if kind == "content_block_stop":
            return self._stop_block(int(event.get("index", 0)))
        if kind == "message_delta":
            delta = event.get("delta") or {}
            if delta.get("stop_reason"):
                self.stop_reason = str(delta["stop_reason"])
            self.usage = usage_from_anthropic(event.get("usage"), self.usage)
        elif kind == "message_stop":
            self.stopped = True
        return []

    def _delta(self, event: Mapping[str, Any]) -> list[StreamChunk]:
        index = int(event.get("index", 0))
        block = self.blocks.get(index)
        if block is None:
            raise WireFormatError(f"content_block_delta for block {index} that never started")
        delta = event.get("delta") or {}
        if delta.get("type") == "text_delta" and delta.get("text"):
            text = str(delta["text"])
            self.text.append(text)
            return [StreamChunk.delta(text)]
        if delta.get("type") == "input_json_delta":
            block.pieces.append(str(delta.get("partial_json") or ""))
        return []

    def _stop_block(self, index: int) -> list[StreamChunk]:
        block = self.blocks.pop(index, None)
        if block is None or block.kind != "tool_use":
            return []
        chunk = streamed_call(
            block.id or f"toolu_{index + 1}",
            block.name,
            block.pieces,
            f"streamed tool_use block {index} has no name",
        )
        self.emitted_calls += 1
        return [chunk]

    @property
    def partial_text(self) -> str:
        return "".join(self.text)

    def finish(self) -> tuple[StopReason, Usage, dict[str, Any]]:
        if not self.stopped:
            raise WireFormatError("the stream ended before message_stop")
        raw = self.stop_reason or ""
        stop = _STOP.get(raw, "tool_use" if self.emitted_calls else "end_turn")
        return stop, self.usage, {**self.meta, "stop_reason": raw}
