"""The OpenAI chat completions wire format at the gateway: client request → canonical
request, canonical answer → ``chat.completion`` body or ``chat.completion.chunk`` events.

Requests: ``system`` / ``developer``, ``user``, ``assistant`` (text, ``tool_calls``,
the legacy ``function_call``), ``tool`` and legacy ``function`` messages; text and
``image_url`` content parts; ``tools`` (and legacy ``functions``); ``max_tokens`` or
``max_completion_tokens``; ``temperature``; ``stream`` with
``stream_options.include_usage``. ``n`` must be 1. Every other option (``top_p``,
``stop``, ``seed``, ``tool_choice``, ``response_format`` …) is kept in ``params``,
which the response cache keys on; the canonical request does not carry them to
the model. Problems raise :class:`~nexus.gateway.errors.InvalidRequest` naming the
field (``messages[2].tool_calls[0].function.arguments``).

Usage goes back the OpenAI way: cached prompt tokens inside ``prompt_tokens``
(and in ``prompt_tokens_details.cached_tokens``), reasoning tokens inside
``completion_tokens``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from nexus.domain.messages import (
    ImagePart,
    Message,
    ModelRequest,
    ModelResponse,
    Part,
    TextPart,
    ToolCall,
    ToolResult,
    ToolSpec,
    Usage,
)
from nexus.gateway.errors import ErrorInfo
from nexus.gateway.wire_common import (
    bool_field,
    fail,
    int_field,
    json_object,
    model_and_messages,
    need_list,
    need_str,
    temperature_field,
)
from nexus.providers.base import StreamChunk

__all__ = [
    "ChatRequest",
    "ChunkEncoder",
    "completion_body",
    "parse_chat_request",
    "usage_body",
]

FINISH = {
    "end_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "error": "content_filter",
}
#: request fields the gateway reads itself, or that do not change the answer
_CONSUMED = frozenset(
    {
        "model", "messages", "tools", "functions", "max_tokens", "max_completion_tokens",
        "temperature", "n", "stream", "stream_options", "user", "metadata", "store",
    }
)  # fmt: skip
_EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A parsed ``POST /v1/chat/completions`` body."""

    model: str
    request: ModelRequest
    stream: bool = False
    include_usage: bool = False
    params: dict[str, Any] = field(default_factory=dict)


def _text(content: Any, where: str) -> str:
    """Text of a string or a list of text parts (None is empty)."""
    if content is None or isinstance(content, str):
        return content or ""
    texts: list[str] = []
    for j, item in enumerate(need_list(content, where)):
        if isinstance(item, Mapping) and item.get("type") in ("text", "input_text", "output_text"):
            texts.append(need_str(item.get("text"), f"{where}[{j}].text"))
        elif isinstance(item, Mapping) and item.get("type") == "refusal":
            texts.append(str(item.get("refusal") or ""))
        else:
            kind = item.get("type") if isinstance(item, Mapping) else type(item).__name__
            fail(f"a content part of type '{kind}' is not allowed here; only text", f"{where}[{j}]")
    return "".join(texts)


def _image(item: Mapping[str, Any], where: str) -> ImagePart:
    raw = item.get("image_url")
    url = raw.get("url") if isinstance(raw, Mapping) else raw
    url = need_str(url, f"{where}.image_url.url")
    media_type = "image/png"
    if url.startswith("data:"):
        media_type = url[5:].split(";", 1)[0].split(",", 1)[0] or media_type
    return ImagePart(media_type=media_type, data=url)


def _user_parts(content: Any, where: str) -> tuple[Part, ...]:
    if isinstance(content, str):
        return (TextPart(text=content),)
    parts: list[Part] = []
    for j, item in enumerate(need_list(content, where)):
        kind = item.get("type") if isinstance(item, Mapping) else None
        if kind in ("text", "input_text"):
            parts.append(TextPart(text=need_str(item.get("text"), f"{where}[{j}].text")))
        elif kind == "image_url":
            parts.append(_image(item, f"{where}[{j}]"))
        else:
            shown = kind or type(item).__name__
            fail(
                f"content parts of type '{shown}' are not supported; send text or image_url",
                f"{where}[{j}]",
            )
    return tuple(parts)


def _tool_call(item: Any, where: str) -> ToolCall:
    if not isinstance(item, Mapping):
        fail("a tool call must be an object", where)
    function = item.get("function")
    if not isinstance(function, Mapping):
        fail("a tool call needs a 'function' object", f"{where}.function")
    name = need_str(function.get("name"), f"{where}.function.name")
    arguments = json_object(function.get("arguments"), f"{where}.function.arguments")
    call_id = item.get("id")
    return ToolCall(
        id=call_id if isinstance(call_id, str) and call_id else f"call_{name}",
        name=name,
        arguments=arguments,
    )


def _message(raw: Any, where: str) -> Message:
    if not isinstance(raw, Mapping):
        fail("each message must be an object with a 'role'", where)
    role = raw.get("role")
    content = raw.get("content")
    if role in ("system", "developer"):
        return Message(role="system", parts=(TextPart(text=_text(content, f"{where}.content")),))
    if role == "user":
        return Message(role="user", parts=_user_parts(content, f"{where}.content"))
    if role == "assistant":
        parts: list[Part] = []
        text = _text(content, f"{where}.content")
        if text:
            parts.append(TextPart(text=text))
        calls = raw.get("tool_calls")
        if calls is not None:
            parts.extend(
                _tool_call(c, f"{where}.tool_calls[{k}]")
                for k, c in enumerate(need_list(calls, f"{where}.tool_calls"))
            )
        legacy = raw.get("function_call")
        if isinstance(legacy, Mapping):
            parts.append(_tool_call({"function": legacy}, f"{where}.function_call"))
        return Message(role="assistant", parts=tuple(parts))
    if role == "tool":
        call_id = need_str(raw.get("tool_call_id"), f"{where}.tool_call_id")
        result = ToolResult(tool_call_id=call_id, content=_text(content, f"{where}.content"))
        return Message(role="tool", parts=(result,))
    if role == "function":
        name = need_str(raw.get("name"), f"{where}.name")
        result = ToolResult(tool_call_id=name, content=_text(content, f"{where}.content"))
        return Message(role="tool", parts=(result,))
    fail(
        f"unknown role {role!r}; use system, developer, user, assistant or tool",
        f"{where}.role",
    )


def _tools(body: Mapping[str, Any]) -> tuple[ToolSpec, ...]:
    specs: list[ToolSpec] = []
    raw_tools = body.get("tools")
    if raw_tools is not None:
        for j, tool in enumerate(need_list(raw_tools, "tools")):
            where = f"tools[{j}]"
            if not isinstance(tool, Mapping) or tool.get("type", "function") != "function":
                fail("only tools of type 'function' are supported", f"{where}.type")
            function = tool.get("function")
            if not isinstance(function, Mapping):
                fail("a tool needs a 'function' object", f"{where}.function")
            specs.append(_spec(function, f"{where}.function"))
    legacy = body.get("functions")
    if legacy is not None:
        specs.extend(
            _spec(f, f"functions[{j}]") for j, f in enumerate(need_list(legacy, "functions"))
        )
    return tuple(specs)


def _spec(function: Any, where: str) -> ToolSpec:
    if not isinstance(function, Mapping):
        fail("a function must be an object", where)
    parameters = function.get("parameters")
    if parameters is not None and not isinstance(parameters, Mapping):
        fail("'parameters' must be a JSON Schema object", f"{where}.parameters")
    description = function.get("description")
    return ToolSpec(
        name=need_str(function.get("name"), f"{where}.name"),
        description=description if isinstance(description, str) else "",
        parameters=dict(parameters) if parameters is not None else _EMPTY_SCHEMA,
    )


def parse_chat_request(body: Any) -> ChatRequest:
    """The canonical form of a chat completions request body (see the module docstring)."""
    model, raw_messages = model_and_messages(body)
    messages = tuple(_message(m, f"messages[{i}]") for i, m in enumerate(raw_messages))
    n = body.get("n")
    if n is not None and n != 1:
        fail("only n=1 is supported (one choice per request)", "n")
    stream = bool_field(body, "stream")
    options = body.get("stream_options")
    include_usage = False
    if options is not None:
        if not isinstance(options, Mapping):
            fail("'stream_options' must be an object", "stream_options")
        include_usage = options.get("include_usage") is True
    max_tokens = int_field(body, ("max_completion_tokens", "max_tokens"), minimum=1)
    request = ModelRequest(
        model=model,
        messages=messages,
        tools=_tools(body),
        max_tokens=max_tokens,
        temperature=temperature_field(body, "temperature", 2.0),
    )
    params = {k: v for k, v in body.items() if k not in _CONSUMED}
    return ChatRequest(model, request, stream, include_usage, params)


# --- answers ---------------------------------------------------------------------------


def usage_body(usage: Usage) -> dict[str, Any]:
    """An OpenAI ``usage`` block (cached inside prompt, reasoning inside completion)."""
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    completion = usage.output_tokens + usage.reasoning_tokens
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    }


def _call_body(call: ToolCall) -> dict[str, Any]:
    return {
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": orjson.dumps(call.arguments).decode()},
    }


def completion_body(
    response: ModelResponse, *, completion_id: str, created: int, model: str
) -> dict[str, Any]:
    """A ``chat.completion`` body for a canonical response."""
    text = response.message.text_content
    calls = response.message.tool_calls
    message: dict[str, Any] = {"role": "assistant", "content": text or (None if calls else "")}
    if calls:
        message["tool_calls"] = [_call_body(c) for c in calls]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": FINISH.get(response.stop_reason, "stop"),
                "logprobs": None,
            }
        ],
        "usage": usage_body(response.usage),
    }


class ChunkEncoder:
    """Turns canonical stream chunks into ``data: {chat.completion.chunk}`` SSE lines."""

    def __init__(self, completion_id: str, created: int, model: str, include_usage: bool) -> None:
        self.completion_id = completion_id
        self.created = created
        self.model = model
        self.include_usage = include_usage
        self.calls = 0

    def _event(self, choices: list[dict[str, Any]], **extra: Any) -> bytes:
        body = {
            "id": self.completion_id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            **extra,
        }
        return b"data: " + orjson.dumps(body) + b"\n\n"

    def _delta(self, delta: dict[str, Any], finish: str | None = None) -> bytes:
        return self._event([{"index": 0, "delta": delta, "finish_reason": finish}])

    def start(self) -> bytes:
        """The first event: the assistant role with empty content."""
        return self._delta({"role": "assistant", "content": ""})

    def encode(self, chunk: StreamChunk) -> bytes:
        """The SSE bytes for one canonical chunk (the last one ends with ``[DONE]``)."""
        if chunk.type == "text":
            return self._delta({"content": chunk.text})
        if chunk.type == "tool_call" and chunk.tool_call is not None:
            body = {"index": self.calls, **_call_body(chunk.tool_call)}
            self.calls += 1
            return self._delta({"tool_calls": [body]})
        if chunk.type != "done":
            return b""
        if chunk.model:
            self.model = chunk.model
        finish = FINISH.get(chunk.stop_reason or "end_turn", "stop")
        if self.calls and finish == "stop":
            finish = "tool_calls"
        out = self._delta({}, finish)
        if self.include_usage:
            out += self._event([], usage=usage_body(chunk.usage or Usage()))
        return out + b"data: [DONE]\n\n"

    @staticmethod
    def error(info: ErrorInfo) -> bytes:
        """An error inside a stream that has begun (the OpenAI SDK raises it as APIError)."""
        return b"data: " + orjson.dumps(info.openai_body()) + b"\n\n"
