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

import time
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from nexus.api.deps import Operator, Viewer
from nexus.api.gateway_common import (
    AnthropicErrorBody,
    OpenAIErrorBody,
    answer_response,
    cache_mode_of,
    caller_of,
    error_responses,
    get_gateway,
    json_body,
    json_or_sse,
    openai_route,
    read_json,
    stream_response,
    unique_suffix,
)
from nexus.gateway.models import ModelEntry
from nexus.gateway.openai_wire import ChunkEncoder, completion_body, parse_chat_request

__all__ = ["CHAT_REQUEST_SCHEMA", "router"]

router = APIRouter(tags=["gateway (OpenAI)"], route_class=openai_route)

_ERRORS = error_responses(OpenAIErrorBody)

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
    200: json_or_sse("A chat.completion, or with stream=true chat.completion.chunk events"),
    **_ERRORS,
}
_MODELS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {"schema": {"type": "object"}}}},
    **{k: v for k, v in _ERRORS.items() if k in (401, 403, 404, 429, 500)},
    "4XX": {"model": AnthropicErrorBody, "description": "With anthropic-version: its format"},
}


def _completion_id() -> str:
    return "chatcmpl-" + unique_suffix()


@router.post(
    "/v1/chat/completions",
    summary="Create a chat completion (OpenAI-compatible)",
    response_class=Response,
    responses=_CHAT_RESPONSES,
    openapi_extra=json_body(CHAT_REQUEST_SCHEMA),
)
async def chat_completions(request: Request, principal: Operator) -> Response:
    gateway = get_gateway(request)
    chat = parse_chat_request(await read_json(request))
    caller = caller_of(request, principal)
    mode = cache_mode_of(request)
    if chat.stream:
        return await stream_response(
            request,
            "openai",
            chat.request,
            caller,
            lambda model: ChunkEncoder(
                _completion_id(), int(time.time()), model, chat.include_usage
            ),
        )
    answer = await gateway.complete(
        "openai", chat.request, caller, cache_mode=mode, params=chat.params
    )
    response = answer.response
    body = completion_body(
        response, completion_id=_completion_id(), created=int(time.time()), model=response.model
    )
    return answer_response(body, answer, caller)


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
