"""The OpenAI-compatible gateway (M6): ``POST /v1/chat/completions`` and ``GET /v1/models``.

Point any OpenAI client at ``http://HOST:PORT/v1`` with a Nexus API key::

    client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="nx_…")
    client.chat.completions.create(model="auto", messages=[…])

Calls need the ``operator`` role, listing models the ``viewer`` role. Answers carry
``X-Nexus-Model`` (the model that answered), ``X-Nexus-Cache`` (hit, miss, off)
and ``X-Nexus-Cost-USD``. A stream is ``chat.completion.chunk`` events ending with
``data: [DONE]``, with a usage chunk before it when ``stream_options.include_usage``
is set; an error before the first chunk is an HTTP error, one after it an ``error``
event. ``GET /v1/models`` answers in the Anthropic format when the request has an
``anthropic-version`` header (the Anthropic SDK sends one).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from nexus.api.deps import Operator, Viewer
from nexus.api.gateway_common import (
    AnthropicErrorBody,
    OpenAIErrorBody,
    cache_mode_of,
    caller_of,
    get_gateway,
    openai_route,
    read_json,
    unique_suffix,
)
from nexus.domain.messages import ModelRequest
from nexus.gateway import Caller
from nexus.gateway.errors import describe_error
from nexus.gateway.models import ModelEntry
from nexus.gateway.openai_wire import ChunkEncoder, completion_body, parse_chat_request
from nexus.providers.base import StreamChunk

__all__ = ["CHAT_REQUEST_SCHEMA", "router"]

log = logging.getLogger("nexus.api.gateway")

router = APIRouter(tags=["gateway (OpenAI)"], route_class=openai_route)

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": OpenAIErrorBody, "description": text}
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
CHAT_REQUEST_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["model", "messages"],
    "properties": {
        "model": {"type": "string", "description": "provider:model, or auto"},
        "messages": {"type": "array", "items": {"type": "object"}},
        "tools": {"type": "array", "items": {"type": "object"}},
        "max_tokens": {"type": "integer", "minimum": 1},
        "max_completion_tokens": {"type": "integer", "minimum": 1},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "stream": {"type": "boolean"},
        "stream_options": {"type": "object"},
    },
}
_CHAT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "A chat.completion, or with stream=true chat.completion.chunk events",
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/event-stream": {"schema": {"type": "string"}},
        },
    },
    **_ERRORS,
}
_MODELS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {"schema": {"type": "object"}}}},
    **{k: v for k, v in _ERRORS.items() if k in (401, 403, 404, 429, 500)},
    "4XX": {"model": AnthropicErrorBody, "description": "With anthropic-version: its format"},
}
_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def _completion_id() -> str:
    return "chatcmpl-" + unique_suffix()


@router.post(
    "/v1/chat/completions",
    summary="Create a chat completion (OpenAI-compatible)",
    response_class=Response,
    responses=_CHAT_RESPONSES,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": CHAT_REQUEST_SCHEMA}},
        }
    },
)
async def chat_completions(request: Request, principal: Operator) -> Response:
    gateway = get_gateway(request)
    chat = parse_chat_request(await read_json(request))
    caller = caller_of(request, principal)
    mode = cache_mode_of(request)
    if chat.stream:
        return await _stream(request, chat.request, chat.include_usage, caller)
    answer = await gateway.complete(
        "openai", chat.request, caller, cache_mode=mode, params=chat.params
    )
    response = answer.response
    body = completion_body(
        response, completion_id=_completion_id(), created=int(time.time()), model=response.model
    )
    cost = 0.0 if answer.cache == "hit" else response.usage.cost_usd
    return Response(
        orjson.dumps(body),
        media_type="application/json",
        headers={
            "x-nexus-model": response.model,
            "x-nexus-cache": answer.cache,
            "x-nexus-cost-usd": f"{cost:.8f}",
        },
    )


async def _stream(
    request: Request, chat_request: ModelRequest, include_usage: bool, caller: Caller
) -> Response:
    gateway = get_gateway(request)
    routed = gateway.resolve("openai", chat_request, caller)
    chunks = gateway.stream("openai", routed, caller, chat_request.model)
    first = await anext(chunks)  # errors before the answer begins are HTTP errors
    encoder = ChunkEncoder(_completion_id(), int(time.time()), routed.model, include_usage)
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
    return StreamingResponse(events(first), media_type="text/event-stream", headers=headers)


def _openai_model(entry: ModelEntry) -> dict[str, Any]:
    return {"id": entry.id, "object": "model", "created": 0, "owned_by": entry.owned_by}


def _anthropic_model(entry: ModelEntry) -> dict[str, Any]:
    return {
        "type": "model",
        "id": entry.id,
        "display_name": entry.id,
        "created_at": "1970-01-01T00:00:00Z",
    }


@router.get(
    "/v1/models",
    summary="List the models (OpenAI-compatible; Anthropic format with anthropic-version)",
    response_class=Response,
    responses=_MODELS_RESPONSES,
)
async def list_models(request: Request, principal: Viewer) -> Response:
    entries = get_gateway(request).names.listed()
    if "anthropic-version" in request.headers:
        data = [_anthropic_model(e) for e in entries]
        body: dict[str, Any] = {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
    else:
        body = {"object": "list", "data": [_openai_model(e) for e in entries]}
    return Response(orjson.dumps(body), media_type="application/json")


@router.get(
    "/v1/models/{model_id:path}",
    summary="One model (OpenAI-compatible; Anthropic format with anthropic-version)",
    response_class=Response,
    include_in_schema=False,  # a client convenience; GET /v1/models documents the list
)
async def get_model(model_id: str, request: Request, principal: Viewer) -> Response:
    entry = get_gateway(request).names.find(model_id)
    anthropic = "anthropic-version" in request.headers
    body = _anthropic_model(entry) if anthropic else _openai_model(entry)
    return Response(orjson.dumps(body), media_type="application/json")
