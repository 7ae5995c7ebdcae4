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

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from nexus.api.deps import Operator
from nexus.api.gateway_common import (
    AnthropicErrorBody,
    answer_response,
    anthropic_route,
    cache_mode_of,
    caller_of,
    error_responses,
    get_gateway,
    json_body,
    json_or_sse,
    read_json,
    stream_response,
    unique_suffix,
)
from nexus.gateway.anthropic_wire import (
    EventEncoder,
    estimate_input_tokens,
    message_body,
    parse_messages_request,
)

__all__ = ["MESSAGES_REQUEST_SCHEMA", "router"]

router = APIRouter(tags=["gateway (Anthropic)"], route_class=anthropic_route)

_ERRORS = error_responses(AnthropicErrorBody)

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
    200: json_or_sse("A message, or with stream=true the Messages streaming events"),
    **_ERRORS,
}
_COUNT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {"schema": {"type": "object"}}}},
    **_ERRORS,
}
_BODY = json_body(MESSAGES_REQUEST_SCHEMA)
_COUNT_BODY = json_body({**MESSAGES_REQUEST_SCHEMA, "required": ["model", "messages"]})


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
        return await stream_response(
            request,
            "anthropic",
            parsed.request,
            caller,
            lambda model: EventEncoder(_message_id(), model),
            id_header="request-id",
        )
    answer = await gateway.complete(
        "anthropic", parsed.request, caller, cache_mode=mode, params=parsed.params
    )
    body = message_body(answer.response, message_id=_message_id(), model=answer.response.model)
    return answer_response(body, answer, caller, id_header="request-id")


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
