"""Errors of remote model providers, mapped from SDK and transport errors at the boundary.

::

    ModelError                      (nexus.errors)
    ├── ProviderError               a call to one provider endpoint failed
    │   ├── RateLimited             429: retried after Retry-After
    │   ├── ProviderUnavailable     5xx, 529 overloaded, refused connection, timeout: retried
    │   │   └── CircuitOpen         every endpoint of the model is cooling down
    │   ├── BadResponse             malformed JSON, an unexpected shape, a stream cut: retried
    │   │   └── StreamInterrupted   a stream failed after part of the answer was delivered
    │   ├── CreditExhausted         402 / "credit balance is too low" / insufficient_quota
    │   ├── AuthFailed              401 / 403
    │   └── RequestRejected         another 4xx: the request itself is wrong
    └── AllProvidersFailed          every model of a fallback chain failed

``retryable`` says whether trying the same endpoint again may help; a fallback
chain moves on to its next model after any of them. Every message names the
provider, the endpoint and the HTTP status (when there is one).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

from nexus.errors import ModelError

__all__ = [
    "AllProvidersFailed",
    "AuthFailed",
    "BadResponse",
    "CircuitOpen",
    "CreditExhausted",
    "ProviderError",
    "ProviderUnavailable",
    "RateLimited",
    "RequestRejected",
    "StreamInterrupted",
    "body_message",
    "error_from_status",
    "parse_retry_after",
]

_CREDIT_MARKERS = ("credit balance is too low", "insufficient_quota", "exceeded your current quota")


class ProviderError(ModelError):
    """A call to one endpoint of a provider failed.

    ``provider`` is the prefix (``openai``), ``endpoint`` the base URL, ``status``
    the HTTP status or None, ``retry_after`` the seconds the server asked to wait.
    """

    code = "provider_error"

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        endpoint: str,
        status: int | None = None,
        retry_after: float | None = None,
        **details: Any,
    ) -> None:
        super().__init__(
            message,
            provider=provider,
            endpoint=endpoint,
            status=status,
            retry_after=retry_after,
            **details,
        )
        self.provider = provider
        self.endpoint = endpoint
        self.status = status
        self.retry_after = retry_after

    @classmethod
    def at(
        cls,
        provider: str,
        endpoint: str,
        what: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        **details: Any,
    ) -> ProviderError:
        """An error whose message reads ``provider at endpoint: HTTP status: what``."""
        where = f"{provider} at {endpoint}"
        if status is not None:
            where += f": HTTP {status}"
        return cls(
            f"{where}: {what}",
            provider=provider,
            endpoint=endpoint,
            status=status,
            retry_after=retry_after,
            **details,
        )

    def with_prefix(self, prefix: str, **details: Any) -> ProviderError:
        """A copy of this error (same class and fields) whose message starts with ``prefix``."""
        extra = {
            k: v
            for k, v in self.details.items()
            if k not in ("provider", "endpoint", "status", "retry_after")
        }
        extra.update(details)
        copy = type(self)(
            f"{prefix}: {self.message}",
            provider=self.provider,
            endpoint=self.endpoint,
            status=self.status,
            retry_after=self.retry_after,
            **extra,
        )
        copy.retryable = self.retryable
        return copy


class RateLimited(ProviderError):
    code = "rate_limited"


class ProviderUnavailable(ProviderError):
    code = "provider_unavailable"


class CircuitOpen(ProviderUnavailable):
    code = "circuit_open"


class BadResponse(ProviderError):
    code = "bad_response"


class StreamInterrupted(BadResponse):
    """A stream broke after some of the answer was already handed on (``partial_text``)."""

    code = "stream_interrupted"


class CreditExhausted(ProviderError):
    code = "credit_exhausted"
    retryable = False


class AuthFailed(ProviderError):
    code = "auth_failed"
    retryable = False


class RequestRejected(ProviderError):
    code = "request_rejected"
    retryable = False


class AllProvidersFailed(ModelError):
    """Every model of a fallback chain failed; ``failures`` lists ``{model, code, message}``."""

    code = "all_providers_failed"

    def __init__(self, message: str, failures: list[dict[str, Any]]) -> None:
        super().__init__(message, failures=failures)
        self.failures = failures


def parse_retry_after(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date)."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000.0)
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def body_message(body: Any) -> str:
    """The human message in an error body of either API (``{"error": {"message"}}`` or flat)."""
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping):
            message = inner.get("message")
            kind = inner.get("type") or inner.get("code")
            if message and kind:
                return f"{message} ({kind})"
            if message:
                return str(message)
        elif isinstance(inner, str):
            return inner
    if isinstance(body, (bytes, str)):
        text = body.decode(errors="replace") if isinstance(body, bytes) else body
        return text.strip()[:300] or "empty body"
    return "no details"


def _error_kind(body: Any) -> str:
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping):
            return str(inner.get("type") or inner.get("code") or "")
    return ""


def error_from_status(
    provider: str,
    endpoint: str,
    status: int,
    body: Any,
    headers: Mapping[str, str] | None = None,
) -> ProviderError:
    """The error for an HTTP error status (or an error event inside a 200 stream)."""
    what = body_message(body)
    kind = _error_kind(body)
    retry_after = parse_retry_after(headers)
    text = f"{what} {kind}".lower()
    cls: type[ProviderError]
    if status == 402 or any(marker in text for marker in _CREDIT_MARKERS):
        cls = CreditExhausted
    elif status == 429 or kind == "rate_limit_error":
        cls = RateLimited
    elif status in (401, 403) or kind in ("authentication_error", "permission_error"):
        cls = AuthFailed
    elif status in (408, 409) or status >= 500 or kind in ("overloaded_error", "api_error"):
        cls = ProviderUnavailable
    elif 400 <= status < 500:
        cls = RequestRejected
    else:
        cls = BadResponse
    return cls.at(provider, endpoint, what, status=status, retry_after=retry_after)
