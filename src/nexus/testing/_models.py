"""Fake model providers for tests: scripted replies, or replies computed by a function."""

from __future__ import annotations

import inspect
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

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
from nexus.providers.base import ModelProvider, StreamChunk, stream_via_complete
from nexus.providers.cassette import response_from_record
from nexus.providers.registry import ModelRegistry

__all__ = [
    "FunctionModel",
    "ScriptExhausted",
    "ScriptedModel",
    "registry_with",
    "response",
    "text",
    "tool_call",
]

Reply = ModelResponse | str | dict[str, Any]
ReplyFn = Callable[[ModelRequest], Reply | Awaitable[Reply]]

_call_ids = itertools.count(1)


class ScriptExhausted(ModelError):
    """A :class:`ScriptedModel` was asked once more than it has replies."""

    code = "script_exhausted"
    retryable = False


def response(
    text: str = "",
    tool_calls: Iterable[tuple[str, dict[str, Any]]] = (),
    *,
    usage: Usage | dict[str, int] | None = None,
    model: str = "scripted:model",
) -> ModelResponse:
    """A response with optional text, tool calls given as ``(name, arguments)``, and usage."""
    parts: list[Part] = []
    if text:
        parts.append(TextPart(text=text))
    for name, arguments in tool_calls:
        parts.append(ToolCall(id=f"call_{next(_call_ids)}", name=name, arguments=dict(arguments)))
    has_calls = len(parts) > (1 if text else 0)
    return ModelResponse(
        model=model,
        message=Message(role="assistant", parts=tuple(parts)),
        stop_reason="tool_use" if has_calls else "end_turn",
        usage=usage if isinstance(usage, Usage) else Usage(**(usage or {})),
    )


def text(content: str, *, usage: Usage | dict[str, int] | None = None) -> ModelResponse:
    """A final reply (no tool calls)."""
    return response(content, usage=usage)


def tool_call(
    name: str, /, *, _text: str = "", _usage: Usage | dict[str, int] | None = None, **arguments: Any
) -> ModelResponse:
    """A reply that calls one tool: ``tool_call("read_file", path="a.py")``."""
    return response(_text, [(name, arguments)], usage=_usage)


def _coerce(reply: Reply, request: ModelRequest) -> ModelResponse:
    if isinstance(reply, ModelResponse):
        result = reply
    elif isinstance(reply, str):
        result = text(reply)
    elif isinstance(reply, dict):
        if "message" in reply:
            result = ModelResponse.model_validate(reply)
        else:
            turn = int(request.metadata.get("turn") or 1)
            result = response_from_record(reply, request.model, turn=turn)
    else:
        raise TypeError(f"a scripted reply must be a ModelResponse, str or dict, not {reply!r}")
    return result.model_copy(update={"model": request.model})


class ScriptedModel:
    """Returns the given replies in order and records every request in ``requests``.

    A reply is a :class:`ModelResponse`, a string (a final text reply) or a dict
    (a ``ModelResponse`` dump, or the cassette form ``{text, tool_calls, usage}``).
    """

    name = "scripted"

    def __init__(self, responses: Iterable[Reply]) -> None:
        self.responses: list[Reply] = list(responses)
        self.requests: list[ModelRequest] = []

    @property
    def remaining(self) -> int:
        return len(self.responses) - len(self.requests)

    async def complete(self, request: ModelRequest) -> ModelResponse:
        index = len(self.requests)
        self.requests.append(request)
        if index >= len(self.responses):
            raise ScriptExhausted(
                f"ScriptedModel has {len(self.responses)} scripted replies and was asked for"
                f" reply {index + 1} (agent {request.agent_id}, step {request.step_key})"
            )
        return _coerce(self.responses[index], request)

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]:
        return stream_via_complete(self, request)


class FunctionModel:
    """Answers each request with ``fn(request)`` (sync or async); records the requests."""

    name = "function"

    def __init__(self, fn: ReplyFn) -> None:
        self.fn = fn
        self.requests: list[ModelRequest] = []

    async def complete(self, request: ModelRequest) -> ModelResponse:
        self.requests.append(request)
        reply = self.fn(request)
        if inspect.isawaitable(reply):
            reply = await reply
        return _coerce(reply, request)

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamChunk]:
        return stream_via_complete(self, request)


def registry_with(provider: ModelProvider, prefix: str | None = None) -> ModelRegistry:
    """A model registry where every ``<prefix>:<anything>`` is ``provider``.

    ``prefix`` defaults to the provider's ``name`` (``scripted``, ``function``).
    """
    registry = ModelRegistry()
    registry.register(prefix or provider.name, lambda _model: provider)
    return registry
