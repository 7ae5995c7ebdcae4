"""The Anthropic-compatible gateway (M6): ``POST /v1/messages`` and
``POST /v1/messages/count_tokens``, so the Anthropic SDK and the Claude Code CLI run
through Nexus::

    client = Anthropic(base_url="http://127.0.0.1:8000", api_key="nx_…")
    ANTHROPIC_BASE_URL=http://127.0.0.1:8000 ANTHROPIC_API_KEY=nx_… claude

The key may come as ``x-api-key`` or ``Authorization: Bearer``. Calls need the
``operator`` role (counting tokens too). A bare model name (what
Claude Code sends) goes to ``anthropic:`` unless ``NEXUS_GATEWAY_ALIASES`` maps
it elsewhere (``claude-*=auto`` routes it). Streams are the six Messages event
types in their order; an error after the stream began is an ``error`` event.
``count_tokens`` answers with the estimate budgets use (characters / 4), not the
model's tokenizer. Errors use the Anthropic error body.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from nexus.api.deps import Operator
from nexus.api.gateway_common import (
    AnthropicErrorBody,
    anthropic_route,
    cache_mode_of,
    caller_of,
    get_gateway,
    read_json,
    unique_suffix,
)
from nexus.domain.messages import ModelRequest
from nexus.gateway import Caller
from nexus.gateway.anthropic_wire import (
    EventEncoder,
    estimate_input_tokens,
    message_body,
    parse_messages_request,
)
from nexus.gateway.errors import describe_error
from nexus.providers.base import StreamChunk

__all__ = ["MESSAGES_REQUEST_SCHEMA", "router"]

log = logging.getLogger("nexus.api.gateway")

router = APIRouter(tags=["gateway (Anthropic)"], route_class=anthropic_route)

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": AnthropicErrorBody, "description": text}
    for status, text in (
        (400, "The request is not valid"),
        (401, "An API key is required"),
        (402, "A budget would be exceeded"),
        (403, "The key's role does not allow this"),
        (404, "Unknown model"),
        (429, "Rate limit or quota reached, here or upstream"),
        (500, "Internal error"),
        (502, "The model provider failed"),
        (503, "The model provider is unavailable or not set up"),
    )
}

#: the request body as documented (the handler checks it field by field)
MESSAGES_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["model", "messages", "max_tokens"],
    "properties": {
        "model": {"type": "string", "description": "provider:model, auto, or a Claude name"},
        "messages": {"type": "array", "items": {"type": "object"}},
        "system": {"oneOf": [{"type": "string"}, {"type": "array"}]},
        "tools": {"type": "array", "items": {"type": "object"}},
        "max_tokens": {"type": "integer", "minimum": 1},
        "temperature": {"type": "number", "minimum": 0, "maximum": 1},
        "stream": {"type": "boolean"},
    },
}
_JSON_OR_SSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A message, or with stream=true the Messages streaming events",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/event-stream": {"schema": {"type": "string"}},
        },
    },
    **_ERRORS,
}
_COUNT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {"schema": {"type": "object"}}}},
    **_ERRORS,
}
_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": MESSAGES_REQUEST_SCHEMA}},
    }
}
_COUNT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {**MESSAGES_REQUEST_SCHEMA, "required": ["model", "messages"]}
            }
        },
    }
}
_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def _message_id() -> str:
    return "msg_" + unique_suffix()


@router.post(
    "/v1/messages",
    summary="Create a message (Anthropic-compatible)",
    response_class=Response,
    responses=_JSON_OR_SSE,
    openapi_extra=_BODY,
)
async def create_message(request: Request, principal: Operator) -> Response:
    gateway = get_gateway(request)
    parsed = parse_messages_request(await read_json(request))
    caller = caller_of(request, principal)
    mode = cache_mode_of(request)
    if parsed.stream:
        return await _stream(request, parsed.request, caller)
    answer = await gateway.complete(
        "anthropic", parsed.request, caller, cache_mode=mode, params=parsed.params
    )
    response = answer.response
    body = message_body(response, message_id=_message_id(), model=response.model)
    cost = 0.0 if answer.cache == "hit" else response.usage.cost_usd
    headers = {
        "x-nexus-model": response.model,
        "x-nexus-cache": answer.cache,
        "x-nexus-cost-usd": f"{cost:.8f}",
    }
    if caller.correlation_id:
        headers["request-id"] = caller.correlation_id
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)


async def _stream(request: Request, message_request: ModelRequest, caller: Caller) -> Response:
    gateway = get_gateway(request)
    routed = gateway.resolve("anthropic", message_request, caller)
    chunks = gateway.stream("anthropic", routed, caller, message_request.model)
    first = await anext(chunks)  # errors before the answer begins are HTTP errors
    encoder = EventEncoder(_message_id(), routed.model)
    cid = caller.correlation_id

    async def events(first: StreamChunk) -> AsyncIterator[bytes]:
        try:
            yield encoder.start() + encoder.encode(first)
            async for chunk in chunks:
                yield encoder.encode(chunk)
        except Exception as exc:
            info = describe_error(exc, cid)
            if info.code == "internal_error":
                log.error("gateway stream failed", exc_info=exc)
            yield encoder.error(info)
        finally:
            await chunks.aclose()

    headers = {**_SSE_HEADERS, "x-nexus-cache": "off"}
    if cid:
        headers["request-id"] = cid
    return StreamingResponse(events(first), media_type="text/event-stream", headers=headers)


@router.post(
    "/v1/messages/count_tokens",
    summary="Count a message's input tokens (an estimate: characters / 4)",
    response_class=Response,
    responses=_COUNT_RESPONSES,
    openapi_extra=_COUNT_BODY,
)
async def count_tokens(request: Request, principal: Operator) -> Response:
    parsed = parse_messages_request(await read_json(request), need_max_tokens=False)
    get_gateway(request).resolve("anthropic", parsed.request, caller_of(request, principal))
    body = {"input_tokens": estimate_input_tokens(parsed.request)}
    return Response(orjson.dumps(body), media_type="application/json")
