"""Errors of quotas and limits (authentication errors are the API's ``Unauthorized`` and
``Forbidden``).

::

    UserError
    ├── QuotaExceeded           a limit of the tenant's plan is reached            (429)
    │   └── RateLimited         the key sends faster than its plan allows          (429)
    └── RequestTooLarge         the request body is larger than the server takes   (413)

Each sets ``status_code`` (the HTTP status the API answers with); quota
errors carry ``retry_after`` in whole seconds and the matching
``Retry-After`` header.
"""

from __future__ import annotations

from typing import Any

from nexus.errors import UserError


class QuotaExceeded(UserError):
    """A plan limit is reached; ``retry_after`` says when to try again (seconds)."""

    code = "quota_exceeded"
    status_code = 429

    def __init__(self, message: str, *, retry_after: int, **details: Any) -> None:
        retry_after = max(1, int(retry_after))
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after
        self.headers = {"Retry-After": str(retry_after)}


class RateLimited(QuotaExceeded):
    """The key's token bucket is empty."""

    code = "rate_limited"


class RequestTooLarge(UserError):
    """The request body exceeds the size limit."""

    code = "request_too_large"
    status_code = 413
