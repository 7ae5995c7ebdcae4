"""What the OpenAI- and Anthropic-compatible routes share: errors in each API's own
format, the caller, the request body, the answer as JSON or as a stream of server-sent
events, the gateway's status route and its installation.

``install_gateway(app)`` (called by ``create_app``) adds the routes and wraps the
app's lifespan so that the gateway is opened after the facade (``app.state.gateway``,
``app.state.call_log``) and closed before it.

Errors: each gateway router uses a route class that turns any exception raised
while handling the request — the auth dependency's 401/403/429 included — into
the API's own error body (:mod:`nexus.gateway.errors`); a request that carries an
``anthropic-version`` header gets the Anthropic format on any gateway route.
"""

from __future__ import annotations

import itertools
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, Protocol

import orjson
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field

from nexus.api.auth import Principal
from nexus.api.deps import Viewer
from nexus.cache.keys import CacheMode, parse_cache_mode
from nexus.domain.messages import ModelRequest
from nexus.errors import ConfigError, UserError
from nexus.gateway import Answer, Caller, Gateway, GatewayMetrics, open_gateway
from nexus.gateway.errors import ErrorInfo, InvalidRequest, describe_error
from nexus.gateway.models import Api
from nexus.observability.metrics import NexusMetrics
from nexus.providers.base import StreamChunk
from nexus.routing.scoring import MODES

__all__ = [
    "AnthropicErrorBody",
    "OpenAIErrorBody",
    "StreamEncoder",
    "answer_response",
    "anthropic_route",
    "cache_mode_of",
    "caller_of",
    "error_response",
    "error_responses",
    "get_gateway",
    "install_gateway",
    "json_body",
    "json_or_sse",
    "openai_route",
    "read_json",
    "stream_response",
    "unique_suffix",
]

log = logging.getLogger("nexus.api.gateway")

Renderer = Callable[[Request, ErrorInfo], Response]

_PROCESS_ID = secrets.token_hex(6)
_SEQUENCE = itertools.count(1)


def unique_suffix() -> str:
    """A suffix for response ids, unique across processes: this process's random prefix and
    a counter (no random bytes to read per request)."""
    return f"{_PROCESS_ID}{next(_SEQUENCE):012x}"


class _OpenAIError(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorBody(BaseModel):
    """The OpenAI error body."""

    error: _OpenAIError


class _AnthropicError(BaseModel):
    type: str
    message: str
    code: str | None = Field(None, description="The stable Nexus error code.")


class AnthropicErrorBody(BaseModel):
    """The Anthropic error body."""

    type: str = Field(description="Always 'error'.")
    error: _AnthropicError


def error_response(request: Request, info: ErrorInfo, *, anthropic: bool) -> Response:
    """``info`` as a JSON response in the Anthropic or the OpenAI format."""
    body = info.anthropic_body() if anthropic else info.openai_body()
    cid = getattr(request.state, "correlation_id", None)
    headers = dict(info.headers)
    if cid:
        headers["request-id" if anthropic else "x-request-id"] = cid
    return Response(
        orjson.dumps(body), status_code=info.status, media_type="application/json", headers=headers
    )


def _route_class(anthropic_always: bool) -> type[APIRoute]:
    class GatewayRoute(APIRoute):
        """A route whose errors come back in the gateway API's own format."""

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def handle(request: Request) -> Response:
                try:
                    return await handler(request)
                except Exception as exc:
                    cid = getattr(request.state, "correlation_id", None)
                    info = describe_error(exc, cid)
                    if info.status >= 500 and info.code == "internal_error":
                        log.error("gateway %s failed", request.url.path, exc_info=exc)
                    anthropic = anthropic_always or "anthropic-version" in request.headers
                    return error_response(request, info, anthropic=anthropic)

            return handle

    return GatewayRoute


openai_route = _route_class(anthropic_always=False)
anthropic_route = _route_class(anthropic_always=True)


def get_gateway(request: Request) -> Gateway:
    gateway: Gateway | None = getattr(request.app.state, "gateway", None)
    if gateway is None:
        raise ConfigError("the model gateway is not open (the app has not started)")
    return gateway


def caller_of(request: Request, principal: Principal) -> Caller:
    """The caller of a gateway request: tenant and key from the principal, the correlation
    id, and the router priority from ``X-Nexus-Priority`` (speed, quality, cost, balance)."""
    priority = request.headers.get("x-nexus-priority")
    if priority is not None and priority not in MODES:
        raise InvalidRequest(
            f"X-Nexus-Priority must be one of {', '.join(MODES)}, not '{priority[:40]}'",
            param="header.x-nexus-priority",
        )
    return Caller(
        tenant_id=principal.tenant_id,
        key_id=principal.key_id,
        correlation_id=getattr(request.state, "correlation_id", None),
        priority=priority,
    )


def cache_mode_of(request: Request) -> CacheMode:
    """The cache mode the client asks for with ``X-Nexus-Cache`` (default ``auto``)."""
    try:
        return parse_cache_mode(request.headers.get("x-nexus-cache"))
    except UserError as exc:
        raise InvalidRequest(exc.message, param="header.x-nexus-cache") from None


async def read_json(request: Request) -> Any:
    """The request body as JSON (an InvalidRequest when it is not)."""
    raw = await request.body()
    if not raw:
        raise InvalidRequest("the request needs a JSON body")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None


# --- answers ---------------------------------------------------------------------------

_ERROR_STATUSES = (
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
_SSE_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


def error_responses(body: type[BaseModel]) -> dict[int | str, dict[str, Any]]:
    """The documented error statuses of a gateway route, each answered with ``body``."""
    return {status: {"model": body, "description": text} for status, text in _ERROR_STATUSES}


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """The ``openapi_extra`` of a route that takes a JSON body of ``schema`` (the handler
    reads the body itself)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def json_or_sse(description: str) -> dict[str, Any]:
    """The documented success of a route that answers with JSON, or with server-sent events
    when the request asks for a stream."""
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/event-stream": {"schema": {"type": "string"}},
        },
    }


def answer_response(
    body: dict[str, Any], answer: Answer, caller: Caller, *, id_header: str | None = None
) -> Response:
    """``body`` as JSON, with the model that answered, what the cache did and the cost (0
    for a cache hit) in ``X-Nexus-*`` headers, and the correlation id in ``id_header``."""
    response = answer.response
    cost = 0.0 if answer.cache == "hit" else response.usage.cost_usd
    headers = {
        "x-nexus-model": response.model,
        "x-nexus-cache": answer.cache,
        "x-nexus-cost-usd": f"{cost:.8f}",
    }
    if id_header and caller.correlation_id:
        headers[id_header] = caller.correlation_id
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)


class StreamEncoder(Protocol):
    """Turns canonical stream chunks into one API's server-sent events."""

    def start(self) -> bytes: ...

    def encode(self, chunk: StreamChunk) -> bytes: ...

    def error(self, info: ErrorInfo) -> bytes: ...


async def stream_response(
    request: Request,
    api: Api,
    model_request: ModelRequest,
    caller: Caller,
    encoder_for: Callable[[str], StreamEncoder],
    *,
    id_header: str | None = None,
) -> Response:
    """The answer to ``model_request`` as server-sent events, encoded by
    ``encoder_for(model)``. An error before the answer begins is an HTTP error; one after it
    is the encoder's error event. The correlation id goes in ``id_header``."""
    gateway = get_gateway(request)
    routed = gateway.resolve(api, model_request, caller)
    chunks = gateway.stream(api, routed, caller, model_request.model)
    first = await anext(chunks)  # errors before the answer begins are HTTP errors
    encoder = encoder_for(routed.model)
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
    if id_header and cid:
        headers[id_header] = cid
    return StreamingResponse(events(first), media_type="text/event-stream", headers=headers)


# --- the gateway's own status ------------------------------------------------------------

status_router = APIRouter(prefix="/api/gateway", tags=["gateway"])


class GatewayStatus(BaseModel):
    cache: dict[str, Any] | None = Field(
        description="Response cache counters and hit rate; null when the cache is off."
    )
    calls_recorded: int = Field(description="Calls this process wrote to the call log.")


@status_router.get("/status", response_model=GatewayStatus, summary="Gateway cache and calls")
async def gateway_status(request: Request, principal: Viewer) -> GatewayStatus:
    gateway = get_gateway(request)
    return GatewayStatus(
        cache=gateway.cache.snapshot() if gateway.cache is not None else None,
        calls_recorded=gateway.calls.written if gateway.calls is not None else 0,
    )


def install_gateway(app: FastAPI) -> None:
    """Add the gateway routes to ``app`` and open the gateway in its lifespan."""
    from nexus.api import gateway_anthropic, gateway_openai

    shared: NexusMetrics | None = getattr(app.state, "metrics", None)
    metrics = GatewayMetrics(shared)
    app.include_router(gateway_openai.router)
    app.include_router(gateway_anthropic.router)
    app.include_router(status_router)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI) -> AsyncIterator[Any]:
        async with inner(app_) as state:
            gateway = open_gateway(app_.state.nx, metrics)
            app_.state.gateway = gateway
            app_.state.call_log = gateway.calls
            try:
                yield state
            finally:
                app_.state.gateway = None
                app_.state.call_log = None
                gateway.close()

    app.router.lifespan_context = lifespan
