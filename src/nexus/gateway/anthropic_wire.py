"""The Anthropic Messages wire format at the gateway: client request → canonical request,
canonical answer → ``message`` body or the Messages streaming events.

Requests: ``system`` (a string or text blocks), ``user`` / ``assistant`` turns with
``text``, ``image`` (base64 or URL), ``tool_use`` and ``tool_result`` blocks
(``thinking`` blocks from earlier turns are dropped), client ``tools`` with an
``input_schema``, ``max_tokens`` (required, as in the API), ``temperature``,
``stream``. Every other option (``top_p``, ``top_k``, ``stop_sequences``,
``tool_choice``, ``thinking`` …) is kept in ``params`` for the cache key.
Server tools (web search, code execution …) and document blocks are refused with
:class:`~nexus.gateway.errors.InvalidRequest` naming the field.

A stream is the six event types in their order: ``message_start``, then per
content block ``content_block_start``, ``content_block_delta`` …,
``content_block_stop``, then ``message_delta`` (stop reason and the final usage,
input tokens included) and ``message_stop``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from nexus.budgets.estimate import IMAGE_TOKENS, input_chars
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
    "EventEncoder",
    "MessagesRequest",
    "estimate_input_tokens",
    "message_body",
    "parse_messages_request",
    "usage_body",
]

STOP = {
    "end_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "error": "refusal",
}
_CONSUMED = frozenset(
    {"model", "messages", "system", "tools", "max_tokens", "temperature", "stream", "metadata",
     "service_tier"}
)  # fmt: skip
_DROPPED_BLOCKS = frozenset({"thinking", "redacted_thinking"})


@dataclass(frozen=True, slots=True)
class MessagesRequest:
    """A parsed ``POST /v1/messages`` body."""

    model: str
    request: ModelRequest
    stream: bool = False
    params: dict[str, Any] = field(default_factory=dict)


def _system(raw: Any) -> str:
    if raw is None or isinstance(raw, str):
        return raw or ""
    texts: list[str] = []
    for j, block in enumerate(need_list(raw, "system")):
        if not isinstance(block, Mapping) or block.get("type") != "text":
            fail("system blocks must be text blocks", f"system[{j}]")
        texts.append(need_str(block.get("text"), f"system[{j}].text"))
    return "\n\n".join(texts)


def _image(block: Mapping[str, Any], where: str) -> ImagePart:
    source = block.get("source")
    if not isinstance(source, Mapping):
        fail("an image block needs a 'source' object", f"{where}.source")
    kind = source.get("type")
    if kind == "base64":
        return ImagePart(
            media_type=need_str(source.get("media_type"), f"{where}.source.media_type"),
            data=need_str(source.get("data"), f"{where}.source.data"),
        )
    if kind == "url":
        return ImagePart(data=need_str(source.get("url"), f"{where}.source.url"))
    fail("image sources must be of type base64 or url", f"{where}.source.type")


def _result_text(content: Any, where: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts: list[str] = []
    for j, block in enumerate(need_list(content, where)):
        kind = block.get("type") if isinstance(block, Mapping) else None
        if kind == "text":
            texts.append(need_str(block.get("text"), f"{where}[{j}].text"))
        elif kind == "image":
            texts.append("[image]")
        else:
            fail(f"tool results may hold text and image blocks, not '{kind}'", f"{where}[{j}]")
    return "\n".join(texts)


def _block(block: Any, where: str, role: str) -> Part | None:
    if not isinstance(block, Mapping):
        fail("a content block must be an object with a 'type'", where)
    kind = block.get("type")
    if kind == "text":
        text = block.get("text")
        if not isinstance(text, str):
            fail("a text block needs a string 'text'", f"{where}.text")
        return TextPart(text=text)
    if kind == "image":
        return _image(block, where)
    if kind == "tool_use" and role == "assistant":
        return ToolCall(
            id=need_str(block.get("id"), f"{where}.id"),
            name=need_str(block.get("name"), f"{where}.name"),
            arguments=json_object(block.get("input"), f"{where}.input"),
        )
    if kind == "tool_result" and role == "user":
        return ToolResult(
            tool_call_id=need_str(block.get("tool_use_id"), f"{where}.tool_use_id"),
            content=_result_text(block.get("content"), f"{where}.content"),
            is_error=block.get("is_error") is True,
        )
    if kind in _DROPPED_BLOCKS:
        return None
    fail(f"content blocks of type '{kind}' are not supported in a {role} turn", f"{where}.type")


def _message(raw: Any, where: str) -> Message:
    if not isinstance(raw, Mapping):
        fail("each message must be an object with a 'role'", where)
    role = raw.get("role")
    if role not in ("user", "assistant"):
        fail(f"unknown role {role!r}; use user or assistant", f"{where}.role")
    content = raw.get("content")
    if isinstance(content, str):
        return Message(role=role, parts=(TextPart(text=content),))
    parts = [
        part
        for j, block in enumerate(need_list(content, f"{where}.content"))
        if (part := _block(block, f"{where}.content[{j}]", role)) is not None
    ]
    if parts and all(isinstance(p, ToolResult) for p in parts):
        return Message(role="tool", parts=tuple(parts))
    return Message(role=role, parts=tuple(parts))


def _tools(raw: Any) -> tuple[ToolSpec, ...]:
    if raw is None:
        return ()
    specs: list[ToolSpec] = []
    for j, tool in enumerate(need_list(raw, "tools")):
        where = f"tools[{j}]"
        if not isinstance(tool, Mapping):
            fail("a tool must be an object", where)
        kind = tool.get("type")
        if kind not in (None, "custom") or "input_schema" not in tool:
            fail(
                f"server tools ({kind or 'without input_schema'}) are not supported through"
                " the gateway; send client tools with an input_schema",
                f"{where}.type",
            )
        schema = tool.get("input_schema")
        if not isinstance(schema, Mapping):
            fail("'input_schema' must be a JSON Schema object", f"{where}.input_schema")
        description = tool.get("description")
        specs.append(
            ToolSpec(
                name=need_str(tool.get("name"), f"{where}.name"),
                description=description if isinstance(description, str) else "",
                parameters=dict(schema),
            )
        )
    return tuple(specs)


def parse_messages_request(body: Any, *, need_max_tokens: bool = True) -> MessagesRequest:
    """The canonical form of a Messages API request body (see the module docstring)."""
    model, raw_messages = model_and_messages(body)
    max_tokens = int_field(body, ("max_tokens",), minimum=1)
    if max_tokens is None and need_max_tokens:
        fail("'max_tokens' is required", "max_tokens")
    messages = [_message(m, f"messages[{i}]") for i, m in enumerate(raw_messages)]
    system = _system(body.get("system"))
    if system:
        messages.insert(0, Message(role="system", parts=(TextPart(text=system),)))
    stream = bool_field(body, "stream")
    request = ModelRequest(
        model=model,
        messages=tuple(messages),
        tools=_tools(body.get("tools")),
        max_tokens=max_tokens,
        temperature=temperature_field(body, "temperature", 1.0),
    )
    params = {k: v for k, v in body.items() if k not in _CONSUMED}
    return MessagesRequest(model, request, stream, params)


def estimate_input_tokens(request: ModelRequest) -> int:
    """Input tokens of ``request`` estimated the way budgets estimate them (chars / 4)."""
    chars, images = input_chars(request)
    return math.ceil(chars / 4) + 4 * len(request.messages) + images * IMAGE_TOKENS


# --- answers ---------------------------------------------------------------------------


def usage_body(usage: Usage) -> dict[str, Any]:
    """An Anthropic ``usage`` block (reasoning tokens count as output)."""
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens + usage.reasoning_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
    }


def _tool_block(call: ToolCall) -> dict[str, Any]:
    return {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}


def message_body(response: ModelResponse, *, message_id: str, model: str) -> dict[str, Any]:
    """A ``message`` body for a canonical response."""
    content: list[dict[str, Any]] = []
    text = response.message.text_content
    if text:
        content.append({"type": "text", "text": text})
    content.extend(_tool_block(c) for c in response.message.tool_calls)
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": STOP.get(response.stop_reason, "end_turn"),
        "stop_sequence": None,
        "usage": usage_body(response.usage),
    }


def _event(name: bytes, body: dict[str, Any]) -> bytes:
    return b"event: " + name + b"\ndata: " + orjson.dumps(body) + b"\n\n"


class EventEncoder:
    """Turns canonical stream chunks into Messages API SSE events."""

    def __init__(self, message_id: str, model: str) -> None:
        self.message_id = message_id
        self.model = model
        self.index = -1
        self.text_open = False

    def start(self) -> bytes:
        """``message_start`` (input tokens follow in ``message_delta``)."""
        message: dict[str, Any] = {
            "id": self.message_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        return _event(b"message_start", {"type": "message_start", "message": message})

    def _close_text(self) -> bytes:
        if not self.text_open:
            return b""
        self.text_open = False
        return _event(b"content_block_stop", {"type": "content_block_stop", "index": self.index})

    def encode(self, chunk: StreamChunk) -> bytes:
        """The SSE events for one canonical chunk (the last one ends with ``message_stop``)."""
        if chunk.type == "text":
            out = b""
            if not self.text_open:
                self.index += 1
                self.text_open = True
                out = _event(
                    b"content_block_start",
                    {
                        "type": "content_block_start",
                        "index": self.index,
                        "content_block": {"type": "text", "text": ""},
                    },
                )
            delta = {"type": "text_delta", "text": chunk.text}
            return out + _event(
                b"content_block_delta",
                {"type": "content_block_delta", "index": self.index, "delta": delta},
            )
        if chunk.type == "tool_call" and chunk.tool_call is not None:
            call = chunk.tool_call
            out = self._close_text()
            self.index += 1
            block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
            delta = {
                "type": "input_json_delta",
                "partial_json": orjson.dumps(call.arguments).decode(),
            }
            return (
                out
                + _event(
                    b"content_block_start",
                    {"type": "content_block_start", "index": self.index, "content_block": block},
                )
                + _event(
                    b"content_block_delta",
                    {"type": "content_block_delta", "index": self.index, "delta": delta},
                )
                + _event(b"content_block_stop", {"type": "content_block_stop", "index": self.index})
            )
        if chunk.type != "done":
            return b""
        stop = STOP.get(chunk.stop_reason or "end_turn", "end_turn")
        final = {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": usage_body(chunk.usage or Usage()),
        }
        return (
            self._close_text()
            + _event(b"message_delta", final)
            + _event(b"message_stop", {"type": "message_stop"})
        )

    @staticmethod
    def error(info: ErrorInfo) -> bytes:
        """An ``error`` event inside a stream that has begun."""
        return _event(b"error", info.anthropic_body())
