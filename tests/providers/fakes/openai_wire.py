"""Bodies in the OpenAI chat completions wire format, for the fake server."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from tests.providers.fakes.server import Reply

__all__ = [
    "chat_completion",
    "chunk",
    "error_body",
    "stream_reply",
    "tool_call",
    "usage",
]


def usage(
    prompt: int = 10, completion: int = 5, cached: int = 0, reasoning: int = 0
) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def tool_call(call_id: str, name: str, **arguments: Any) -> dict[str, Any]:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(arguments)},
    }


def chat_completion(
    text: str | None = "Hello!",
    *,
    tool_calls: list[dict[str, Any]] | None = None,
    finish_reason: str | None = None,
    model: str = "gpt-4o-mini-2024-07-18",
    use: dict[str, Any] | None = None,
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = tool_calls
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": finish_reason or ("tool_calls" if tool_calls else "stop"),
            }
        ],
        "usage": use or usage(),
    }


def chunk(
    delta: dict[str, Any] | None = None,
    finish_reason: str | None = None,
    *,
    use: dict[str, Any] | None = None,
    no_choices: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-s1",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": []
        if no_choices
        else [{"index": 0, "delta": delta or {}, "finish_reason": finish_reason}],
    }
    if use is not None:
        body["usage"] = use
    return body


def stream_reply(
    texts: Sequence[str] = (),
    *,
    tool_calls: Sequence[tuple[str, str, str]] = (),
    use: dict[str, Any] | None = None,
    cut_after: int | None = None,
) -> Reply:
    """An SSE stream: role, text deltas, tool calls (id, name, JSON arguments split in two),
    the finish, a usage chunk and ``[DONE]``."""
    events: list[tuple[str | None, Any]] = [(None, chunk({"role": "assistant", "content": ""}))]
    events += [(None, chunk({"content": t})) for t in texts]
    for index, (call_id, name, arguments) in enumerate(tool_calls):
        half = len(arguments) // 2
        first = {"index": index, "id": call_id, "type": "function"}
        first["function"] = {"name": name, "arguments": arguments[:half]}
        events.append((None, chunk({"tool_calls": [first]})))
        rest = {"index": index, "function": {"arguments": arguments[half:]}}
        events.append((None, chunk({"tool_calls": [rest]})))
    events.append((None, chunk({}, "tool_calls" if tool_calls else "stop")))
    events.append((None, chunk(no_choices=True, use=use or usage())))
    events.append((None, "[DONE]"))
    return Reply.sse(events, cut_after=cut_after)


def error_body(message: str, kind: str = "server_error", code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}
