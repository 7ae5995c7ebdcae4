"""Gateway errors, and how any error is told to an OpenAI or an Anthropic client.

:func:`describe_error` maps an exception to an :class:`ErrorInfo`: the HTTP
status, a stable code, the message (redacted), the error ``type`` each API
uses, and headers (``Retry-After``). The two wire modules render it as
``{"error": {"message", "type", "param", "code"}}`` (OpenAI) or
``{"type": "error", "error": {"type", "message", "code"}}`` (Anthropic, plus the
stable Nexus ``code``, e.g. ``budget_exceeded``, which the type alone does not tell).

==============================================  ======  ====================  ===============
error                                           status  OpenAI type           Anthropic type
==============================================  ======  ====================  ===============
:class:`InvalidRequest`, other user errors      400     invalid_request_error invalid_request_error
missing or wrong API key                        401     authentication_error  authentication_error
budget exceeded (refused before the call)       402     insufficient_quota    billing_error
the key's role is too low                       403     permission_error      permission_error
:class:`ModelNotFound`                          404     invalid_request_error not_found_error
rate limit or quota of the key; upstream 429    429     rate_limit_error      rate_limit_error
upstream rejected the request (its 4xx)         its     invalid_request_error invalid_request_error
upstream failed, every fallback failed          502     server_error          api_error
upstream unavailable, circuit open, no API key  503     server_error          api_error
anything unexpected                             500     server_error          api_error
==============================================  ======  ====================  ===============
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from nexus.budgets.ledger import BudgetExceeded
from nexus.errors import (
    ConfigError,
    InvalidStateError,
    ModelError,
    NexusError,
    NotFoundError,
    StepError,
    StoreError,
    UserError,
)
from nexus.observability.logging import redact
from nexus.providers.errors import (
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
)

__all__ = ["ErrorInfo", "InvalidRequest", "ModelNotFound", "describe_error"]


class InvalidRequest(UserError):
    """A request body the gateway cannot use; ``param`` names the field (``messages[2].role``)."""

    code = "invalid_request"
    status_code = 400

    def __init__(self, message: str, *, param: str | None = None, **details: Any) -> None:
        super().__init__(message, param=param, **details)
        self.param = param


class ModelNotFound(NotFoundError):
    """The model name names no provider the gateway knows, or a model it cannot make."""

    code = "model_not_found"
    status_code = 404


_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "invalid_request_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """An error as both APIs tell it."""

    status: int
    code: str
    message: str
    param: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def openai_type(self) -> str:
        return _OPENAI_TYPES.get(
            self.status, "server_error" if self.status >= 500 else "invalid_request_error"
        )

    @property
    def anthropic_type(self) -> str:
        return _ANTHROPIC_TYPES.get(
            self.status, "api_error" if self.status >= 500 else "invalid_request_error"
        )

    def openai_body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.openai_type,
                "param": self.param,
                "code": self.code,
            }
        }

    def anthropic_body(self) -> dict[str, Any]:
        error = {"type": self.anthropic_type, "message": self.message, "code": self.code}
        return {"type": "error", "error": error}


def _status_of(exc: NexusError) -> int:
    """The status a Nexus error sets for itself, else the one of its class (as the API's)."""
    explicit = getattr(exc, "status_code", None)
    if isinstance(explicit, int):
        return explicit
    for cls, status in (
        (NotFoundError, 404),
        (InvalidStateError, 409),
        (UserError, 400),
        (StepError, 502),
        (StoreError, 503),
    ):
        if isinstance(exc, cls):
            return status
    return 500


def _retry_headers(seconds: float | None) -> dict[str, str]:
    if seconds is None:
        return {}
    return {"Retry-After": str(max(1, int(seconds + 0.999)))}


def _provider_status(exc: ProviderError) -> int:
    if isinstance(exc, RateLimited):
        return 429
    if isinstance(exc, RequestRejected):
        status = exc.status or 400
        return status if 400 <= status < 500 and status not in (401, 402, 403) else 400
    if isinstance(exc, ProviderUnavailable):
        return 503
    return 502  # a bad response, an exhausted credit or a wrong key on the upstream side


def describe_error(exc: BaseException, correlation_id: str | None = None) -> ErrorInfo:
    """The status, code, message and headers to answer ``exc`` with."""
    if isinstance(exc, BudgetExceeded):
        return ErrorInfo(402, exc.code, redact(exc.message))
    if isinstance(exc, ProviderError):
        status = _provider_status(exc)
        headers = _retry_headers(exc.retry_after) if status == 429 else {}
        code = "model_not_found" if status == 404 else exc.code
        return ErrorInfo(status, code, redact(exc.message), headers=headers)
    if isinstance(exc, ConfigError) and not isinstance(exc, NotFoundError):
        # reached only while calling: a provider that is not set up (e.g. a missing key)
        return ErrorInfo(503, exc.code, redact(exc.message))
    if isinstance(exc, ModelError):
        return ErrorInfo(502, exc.code, redact(exc.message))
    if isinstance(exc, NexusError):
        status = _status_of(exc)
        raw_headers = getattr(exc, "headers", None)
        headers = dict(raw_headers) if isinstance(raw_headers, dict) else {}
        param = getattr(exc, "param", None)
        return ErrorInfo(
            status,
            exc.code,
            redact(exc.message),
            param=param if isinstance(param, str) else None,
            headers=headers,
        )
    where = f" under correlation id {correlation_id}" if correlation_id else ""
    return ErrorInfo(
        500, "internal_error", f"internal error; the server log has the details{where}"
    )
