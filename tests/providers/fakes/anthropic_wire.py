"""Bodies in the Anthropic Messages wire format, for the fake server."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tests.providers.fakes.server import Reply

__all__ = ["error_body", "message", "stream_reply", "tool_use", "usage"]


def usage(
    input_tokens: int = 10, output_tokens: int = 5, cache_write: int = 0, cache_read: int = 0
) -> dict[str, Any]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": cache_write,
        "cache_read_input_tokens": cache_read,
    }


def tool_use(block_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": block_id, "name": name, "input": arguments}


def message(
    text: str | None = "Hello!",
    *,
    tools: list[dict[str, Any]] | None = None,
    stop_reason: str | None = None,
    use: dict[str, Any] | None = None,
    model: str = "claude-sonnet-4-6-20260217",
) -> dict[str, Any]:
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    content += tools or []
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason or ("tool_use" if tools else "end_turn"),
        "stop_sequence": None,
        "usage": use or usage(),
    }


def stream_reply(
    texts: Sequence[str] = (),
    *,
    tools: Sequence[tuple[str, str, dict[str, Any]]] = (),
    use: dict[str, Any] | None = None,
    cut_after: int | None = None,
) -> Reply:
    """The six event types in order: message_start, content_block_start/delta/stop per
    block, message_delta with the stop reason and output usage, message_stop."""
    total = use or usage()
    start_usage = {**total, "output_tokens": 1}
    events: list[tuple[str | None, Any]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_s1",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-sonnet-4-6-20260217",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                },
            },
        ),
        ("ping", {"type": "ping"}),
    ]
    index = 0
    if texts:
        events.append(
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": 0,
                    "content_block": {"type": "text", "text": ""},
                },
            )
        )
        for text in texts:
            events.append(
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": 0,
                        "delta": {"type": "text_delta", "text": text},
                    },
                )
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": 0}))
        index = 1
    for block_id, name, arguments in tools:
        block = {"type": "tool_use", "id": block_id, "name": name, "input": {}}
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": block},
            )
        )
        encoded = json.dumps(arguments)
        half = len(encoded) // 2
        for piece in (encoded[:half], encoded[half:]):
            delta = {"type": "input_json_delta", "partial_json": piece}
            events.append(
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                )
            )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
        index += 1
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": "tool_use" if tools else "end_turn",
                    "stop_sequence": None,
                },
                "usage": {"output_tokens": total["output_tokens"]},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return Reply.sse(events, cut_after=cut_after)


def error_body(message: str, kind: str = "api_error") -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}
