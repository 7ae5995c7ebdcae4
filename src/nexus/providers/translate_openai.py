"""Canonical messages ↔ the OpenAI chat completions wire format (also Ollama, vLLM, LM Studio).

Requests: system, user, assistant and tool messages; text and image parts
(base64 data becomes a ``data:`` URL, a URL is passed as it is); tool calls as
``tool_calls`` with JSON-encoded arguments; each tool result as its own ``tool``
message. Responses and streamed chunks come back as canonical messages.

Usage: OpenAI counts cached prompt tokens inside ``prompt_tokens`` and reasoning
tokens inside ``completion_tokens``; canonical usage keeps them apart (input =
prompt − cached, output = completion − reasoning) so that each token is priced once.

The functions here raise :class:`WireFormatError` for a body they cannot read;
the provider turns it into a ``BadResponse`` naming the endpoint.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nexus.domain.messages import (
    ImagePart,
    Message,
    ModelRequest,
    Part,
    TextPart,
    ToolCall,
    ToolResult,
    ToolSpec,
    Usage,
)
from nexus.providers.base import StopReason, StreamChunk

__all__ = [
    "OpenAIStreamAssembler",
    "ParsedResponse",
    "WireFormatError",
    "image_url",
    "parse_arguments",
    "parse_completion",
    "parsed_answer",
    "streamed_call",
    "to_openai_messages",
    "to_openai_request",
    "to_openai_tools",
    "usage_from_openai",
]

_FINISH: dict[str, StopReason] = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "error",
}


class WireFormatError(ValueError):
    """A provider body that does not have the expected shape."""


@dataclass(frozen=True, slots=True)
class ParsedResponse:
    """A provider response in canonical form, before pricing."""

    message: Message
    stop_reason: StopReason
    usage: Usage
    meta: dict[str, Any]


def parsed_answer(
    data: Mapping[str, Any],
    parts: Sequence[Part],
    stop: StopReason,
    usage: Usage,
    **meta: Any,
) -> ParsedResponse:
    """The assistant's answer of ``parts``; its metadata holds the response's ``id``, the
    model that served it and ``meta``."""
    return ParsedResponse(
        message=Message(role="assistant", parts=tuple(parts)),
        stop_reason=stop,
        usage=usage,
        meta={"id": data.get("id"), "served_model": data.get("model"), **meta},
    )


def streamed_call(call_id: str, name: str, pieces: Iterable[str], nameless: str) -> StreamChunk:
    """The chunk of a streamed tool call whose arguments came in ``pieces`` of JSON; a
    call without a name raises WireFormatError with the message ``nameless``."""
    if not name:
        raise WireFormatError(nameless)
    call = ToolCall(id=call_id, name=name, arguments=parse_arguments("".join(pieces), name))
    return StreamChunk.call(call)


def image_url(part: ImagePart) -> str:
    """A URL for the image: the URL itself, or a ``data:`` URL of the base64 bytes."""
    if part.data.startswith(("http://", "https://", "data:")):
        return part.data
    return f"data:{part.media_type};base64,{part.data}"


def _user_content(parts: Iterable[Part]) -> str | list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for part in parts:
        if isinstance(part, TextPart):
            items.append({"type": "text", "text": part.text})
        elif isinstance(part, ImagePart):
            items.append({"type": "image_url", "image_url": {"url": image_url(part)}})
    if all(item["type"] == "text" for item in items):
        return "".join(item["text"] for item in items)
    return items


def to_openai_messages(messages: Iterable[Message]) -> list[dict[str, Any]]:
    """The ``messages`` array for a chat completion request."""
    out: list[dict[str, Any]] = []
    for message in messages:
        results = [p for p in message.parts if isinstance(p, ToolResult)]
        for result in results:
            out.append(
                {"role": "tool", "tool_call_id": result.tool_call_id, "content": result.content}
            )
        others = [p for p in message.parts if not isinstance(p, ToolResult)]
        if message.role == "tool" or (results and not others):
            continue
        if message.role == "system":
            out.append({"role": "system", "content": message.text_content})
        elif message.role == "assistant":
            entry: dict[str, Any] = {"role": "assistant", "content": message.text_content or None}
            calls = message.tool_calls
            if calls:
                entry["tool_calls"] = [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                    }
                    for call in calls
                ]
            out.append(entry)
        else:
            out.append({"role": "user", "content": _user_content(others)})
    return out


def to_openai_tools(tools: Iterable[ToolSpec]) -> list[dict[str, Any]]:
    """The ``tools`` array: each tool as a function with a JSON Schema."""
    return [
        {
            "type": "function",
            "function": {
                "name": tool.name,
                "description": tool.description,
                "parameters": tool.parameters,
            },
        }
        for tool in tools
    ]


def to_openai_request(
    request: ModelRequest,
    model: str,
    *,
    stream: bool,
    max_tokens_field: str = "max_completion_tokens",
) -> dict[str, Any]:
    """Keyword arguments for ``chat.completions.create`` (without timeout and headers).

    ``max_tokens_field``: OpenAI wants ``max_completion_tokens`` (its reasoning models
    refuse ``max_tokens``); some compatible servers (Ollama) know only ``max_tokens``.
    """
    kwargs: dict[str, Any] = {"model": model, "messages": to_openai_messages(request.messages)}
    if request.tools:
        kwargs["tools"] = to_openai_tools(request.tools)
    if request.max_tokens is not None:
        kwargs[max_tokens_field] = request.max_tokens
    if request.temperature is not None:
        kwargs["temperature"] = request.temperature
    if stream:
        kwargs["stream"] = True
        kwargs["stream_options"] = {"include_usage": True}
    return kwargs


def parse_arguments(raw: Any, tool: str) -> dict[str, Any]:
    """Tool call arguments: a JSON object string (empty means no arguments)."""
    if isinstance(raw, dict):
        return raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    try:
        value = json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise WireFormatError(
            f"tool call '{tool}' has arguments that are not JSON: {raw!r:.200}"
        ) from exc
    if not isinstance(value, dict):
        raise WireFormatError(
            f"tool call '{tool}' has arguments that are not a JSON object: {raw!r:.200}"
        )
    return value


def usage_from_openai(raw: Mapping[str, Any] | None) -> Usage:
    """Canonical usage from an OpenAI ``usage`` block (cached and reasoning tokens split out)."""
    if not raw:
        return Usage()
    prompt = int(raw.get("prompt_tokens") or 0)
    completion = int(raw.get("completion_tokens") or 0)
    prompt_details = raw.get("prompt_tokens_details") or {}
    completion_details = raw.get("completion_tokens_details") or {}
    cached = int(prompt_details.get("cached_tokens") or 0)
    reasoning = int(completion_details.get("reasoning_tokens") or 0)
    return Usage(
        input_tokens=max(0, prompt - cached),
        output_tokens=max(0, completion - reasoning),
        cache_read_tokens=cached,
        reasoning_tokens=reasoning,
    )


def _tool_calls(raw: Any) -> list[ToolCall]:
    calls: list[ToolCall] = []
    for item in raw or ():
        function = item.get("function") or {}
        name = function.get("name")
        if not name:
            raise WireFormatError(f"tool call without a function name: {item!r:.200}")
        calls.append(
            ToolCall(
                id=str(item.get("id") or f"call_{len(calls) + 1}"),
                name=str(name),
                arguments=parse_arguments(function.get("arguments"), str(name)),
            )
        )
    return calls


def parse_completion(data: Mapping[str, Any]) -> ParsedResponse:
    """A ``chat.completion`` body → canonical message, stop reason, usage and metadata."""
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise WireFormatError(f"chat completion without choices: {str(data)[:200]}")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, Mapping):
        raise WireFormatError(f"chat completion choice without a message: {str(choice)[:200]}")
    parts: list[Part] = []
    content = message.get("content")
    if isinstance(content, str) and content:
        parts.append(TextPart(text=content))
    calls = _tool_calls(message.get("tool_calls"))
    parts.extend(calls)
    finish = str(choice.get("finish_reason") or "")
    stop = _FINISH.get(finish, "tool_use" if calls else "end_turn")
    if calls and stop == "end_turn":
        stop = "tool_use"
    usage = usage_from_openai(data.get("usage"))
    return parsed_answer(data, parts, stop, usage, finish_reason=finish)


@dataclass(slots=True)
class _PendingCall:
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass(slots=True)
class OpenAIStreamAssembler:
    """Turns ``chat.completion.chunk`` bodies into canonical stream chunks.

    Text deltas pass through at once; tool calls are gathered by index and handed
    out whole when the choice finishes. :meth:`finish` returns the stop reason,
    usage and metadata, or raises WireFormatError when the stream ended early.
    """

    text: list[str] = field(default_factory=list)
    calls: dict[int, _PendingCall] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: Usage | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    emitted_calls: int = 0

    def feed(self, chunk: Mapping[str, Any]) -> list[StreamChunk]:
        out: list[StreamChunk] = []
        if chunk.get("id") and "id" not in self.meta:
            self.meta["id"] = chunk.get("id")
            self.meta["served_model"] = chunk.get("model")
        if chunk.get("usage"):
            self.usage = usage_from_openai(chunk["usage"])
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if isinstance(content, str) and content:
                self.text.append(content)
                out.append(StreamChunk.delta(content))
            for item in delta.get("tool_calls") or ():
                pending = self.calls.setdefault(int(item.get("index", 0)), _PendingCall())
                if item.get("id"):
                    pending.id = str(item["id"])
                function = item.get("function") or {}
                if function.get("name"):
                    pending.name += str(function["name"])
                if function.get("arguments"):
                    pending.arguments.append(str(function["arguments"]))
            if choice.get("finish_reason"):
                self.finish_reason = str(choice["finish_reason"])
                out.extend(self._flush_calls())
        return out

    def _flush_calls(self) -> list[StreamChunk]:
        out: list[StreamChunk] = []
        for index in sorted(self.calls):
            pending = self.calls[index]
            out.append(
                streamed_call(
                    pending.id or f"call_{index + 1}",
                    pending.name,
                    pending.arguments,
                    f"streamed tool call {index} has no function name",
                )
            )
            self.emitted_calls += 1
        self.calls.clear()
        return out

    @property
    def partial_text(self) -> str:
        return "".join(self.text)

    def finish(self) -> tuple[StopReason, Usage, dict[str, Any]]:
        if self.finish_reason is None:
            raise WireFormatError("the stream ended before the model finished its answer")
        stop = _FINISH.get(self.finish_reason, "end_turn")
        if self.emitted_calls and stop == "end_turn":
            stop = "tool_use"
        meta = {**self.meta, "finish_reason": self.finish_reason}
        return stop, self.usage or Usage(), meta
