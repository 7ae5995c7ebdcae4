"""One error body for every API error: ``{"error": {"code", "message", "details"}}``.

Nexus errors map to HTTP statuses by class (:func:`status_for`); a class may set
``status_code`` (and ``headers``, e.g. ``Retry-After``) to choose its own. Request
validation errors name each field (``body.inputs``, ``query.limit``) and never
echo the value that was sent. Unexpected exceptions give a 500 that names the
request's correlation id and nothing else: no traceback, no exception text.
Every body goes through the redactor, so a secret can never come back out.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from nexus.errors import (
    ConfigError,
    ExpressionError,
    InvalidStateError,
    NexusError,
    NotFoundError,
    PlanError,
    StepError,
    StoreError,
    UserError,
)
from nexus.observability.logging import current_correlation_id, redact

__all__ = [
    "ErrorBody",
    "ErrorInfo",
    "Forbidden",
    "Unauthorized",
    "error_response",
    "install_error_handlers",
    "status_for",
]

log = logging.getLogger(__name__)


class Unauthorized(UserError):
    """No valid credentials (HTTP 401)."""

    code = "unauthorized"
    status_code = 401
    headers = {"WWW-Authenticate": "Bearer"}  # noqa: RUF012


class Forbidden(UserError):
    """Valid credentials without the role an action needs (HTTP 403)."""

    code = "forbidden"
    status_code = 403


class ErrorInfo(BaseModel):
    code: str = Field(description="Stable, machine-readable error code.")
    message: str = Field(description="What is wrong, and where.")
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorInfo


_BY_CLASS: tuple[tuple[type[NexusError], int], ...] = (
    (NotFoundError, 404),
    (InvalidStateError, 409),
    (PlanError, 422),
    (ExpressionError, 422),
    (ConfigError, 400),
    (UserError, 400),
    (StepError, 502),
    (StoreError, 503),
)

#: The error responses every route may give, for the OpenAPI document.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "Bad request"},
    401: {"model": ErrorBody, "description": "An API key is required"},
    403: {"model": ErrorBody, "description": "The key's role does not allow this"},
    404: {"model": ErrorBody, "description": "Not found"},
    409: {"model": ErrorBody, "description": "The resource's state does not allow this"},
    413: {"model": ErrorBody, "description": "The request body is too large"},
    422: {"model": ErrorBody, "description": "Invalid request or plan"},
    429: {"model": ErrorBody, "description": "Too many requests"},
    500: {"model": ErrorBody, "description": "Internal error"},
    503: {"model": ErrorBody, "description": "The store is unavailable"},
}


def status_for(exc: NexusError) -> int:
    explicit = getattr(exc, "status_code", None)
    if isinstance(explicit, int):
        return explicit
    for cls, status in _BY_CLASS:
        if isinstance(exc, cls):
            return status
    return 500


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorBody(
        error=ErrorInfo(code=code, message=redact(message), details=redact(details or {}))
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def _details(exc: NexusError) -> dict[str, Any]:
    if isinstance(exc, PlanError):
        return {"problems": [p.to_dict() for p in exc.problems]}
    return {k: v for k, v in exc.details.items() if _jsonable(v)}


def _jsonable(value: Any) -> bool:
    if value is None or isinstance(value, (str, int, float, bool)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_jsonable(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _jsonable(v) for k, v in value.items())
    return False


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


async def _nexus_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NexusError)
    status = status_for(exc)
    if status >= 500:
        log.warning("%s %s failed: %s", request.method, request.url.path, exc.message)
    headers = getattr(exc, "headers", None)
    return error_response(
        status,
        exc.code,
        exc.message,
        _details(exc),
        headers if isinstance(headers, dict) else None,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields = [
        {"field": _field(tuple(e.get("loc", ()))), "message": e.get("msg", ""), "type": e["type"]}
        for e in exc.errors()
    ]
    names = ", ".join(f["field"] for f in fields) or "the request"
    first = fields[0]["message"] if fields else "invalid"
    message = (
        f"invalid request: {names}: {first}"
        if len(fields) == 1
        else (f"invalid request: {len(fields)} problems ({names})")
    )
    return error_response(422, "invalid_request", message, {"fields": fields})


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large", 401: "unauthorized"}
    code = codes.get(exc.status_code, f"http_{exc.status_code}")
    message = str(exc.detail) if exc.detail else code
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route {request.method} {request.url.path}"
    elif exc.status_code == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, code, message, headers=headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    cid = current_correlation_id() or getattr(request.state, "correlation_id", None)
    log.error("unexpected error in %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(
        500,
        "internal_error",
        f"internal error; the server log has the details under correlation id {cid}",
        {"correlation_id": cid},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(NexusError, _nexus_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
