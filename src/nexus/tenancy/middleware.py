"""ASGI middleware: the request size limit and the audit of every mutating call.

- :class:`BodyLimit` answers 413 to a request whose body is larger than
  ``max_bytes``: at once when ``Content-Length`` says so, otherwise as soon
  as the bytes received pass the limit (chunked uploads), before the app
  answers.
- :class:`AuditMiddleware` appends one audit entry for every POST, PUT, PATCH
  and DELETE (whatever its outcome) and for every request refused with 401 or
  403 (whatever its method), and for WebSockets closed with 4401 or 4403: who
  (key id and tenant), what (method and route), which resource (the path),
  from where (the client's address as the server sees it; behind a proxy,
  start uvicorn with ``--proxy-headers`` and ``--forwarded-allow-ips``), and
  the outcome (status, and the error code or the reason a key was refused).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nexus.api.errors import error_response
from nexus.tenancy.audit import AuditWriter
from nexus.tenancy.errors import RequestTooLarge
from nexus.tenancy.models import AuditEntry, outcome_for_status
from nexus.tenancy.service import MAX_BODY_BYTES

__all__ = ["MAX_BODY_BYTES", "AuditMiddleware", "BodyLimit"]

log = logging.getLogger(__name__)

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_ERROR_BODY_CAP = 4096


#: model gateway calls carry whole conversations (Anthropic accepts 32 MB per request)
GATEWAY_MAX_BODY_BYTES = 32 << 20
_GATEWAY_PREFIX = "/v1/"


class BodyLimit:
    """Refuses request bodies larger than ``max_bytes`` with 413 (``gateway_max_bytes`` for
    the model gateway's ``/v1/…`` routes, whose conversations grow long)."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = MAX_BODY_BYTES,
        gateway_max_bytes: int = GATEWAY_MAX_BODY_BYTES,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.gateway_max_bytes = gateway_max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if str(scope.get("path", "")).startswith(_GATEWAY_PREFIX):
            limit = self.gateway_max_bytes
        else:
            limit = self.max_bytes
        await self._limited(scope, receive, send, limit)

    async def _limited(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            await self._refuse(scope, receive, send, int(length), limit)
            return
        received = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise RequestTooLarge(self._message(received, limit, more=True))
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the app's own answer to the cut-off body is replaced by the 413
            started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except RequestTooLarge:
            pass
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await self._refuse(scope, receive, send, received, limit, more=True)

    @staticmethod
    def _message(size: int, limit: int, *, more: bool = False) -> str:
        got = f"more than {size}" if more else str(size)
        return f"request body too large: {got} bytes; the limit is {limit} bytes"

    async def _refuse(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        size: int,
        limit: int,
        *,
        more: bool = False,
    ) -> None:
        response = error_response(
            413,
            RequestTooLarge.code,
            self._message(size, limit, more=more),
            {"limit_bytes": limit},
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


class AuditMiddleware:
    """Appends an audit entry for mutating calls and refused credentials."""

    def __init__(self, app: ASGIApp, writer: AuditWriter) -> None:
        self.app = app
        self.writer = writer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        scope.setdefault("state", {})
        status = 0
        accepted = False
        error_body = bytearray()

        async def watching_send(message: Message) -> None:
            nonlocal status, accepted
            mtype = message["type"]
            if mtype == "http.response.start":
                status = int(message["status"])
            elif mtype == "http.response.body" and status >= 400:
                if len(error_body) < _ERROR_BODY_CAP:
                    error_body.extend(message.get("body", b"")[:_ERROR_BODY_CAP])
            elif mtype == "websocket.accept":
                accepted = True
            elif mtype == "websocket.close" and not accepted:
                status = int(message.get("code", 1000))
            await send(message)

        try:
            await self.app(scope, receive, watching_send)
        except Exception:
            await self._record(scope, status or 500, error_body)
            raise
        await self._record(scope, status, error_body)

    async def _record(self, scope: Scope, status: int, error_body: bytearray) -> None:
        websocket = scope["type"] == "websocket"
        method = "WS" if websocket else scope.get("method", "GET")
        if websocket:
            if status not in (4401, 4403):
                return
            http_status = 401 if status == 4401 else 403
        else:
            if method not in MUTATING and status not in (401, 403):
                return
            http_status = status
        state: dict[str, Any] = scope.get("state", {})
        principal = state.get("principal") or state.get("authenticated")
        key_id = getattr(principal, "key_id", None) or state.get("auth_key_id")
        tenant = getattr(principal, "tenant_id", None) or state.get("auth_tenant")
        route = scope.get("route")
        template = getattr(route, "path", None) or scope.get("path", "")
        client = scope.get("client")
        detail = state.get("auth_failure") or _error_code(error_body)
        entry = AuditEntry(
            ts=time.time(),
            tenant_id=tenant,
            actor=key_id or "anonymous",
            action=f"{method} {template}",
            resource=scope.get("path", ""),
            outcome=outcome_for_status(http_status),
            client_ip=client[0] if client else None,
            status=http_status,
            detail=detail,
        )
        try:
            await self.writer.append(entry)
        except Exception as exc:  # the response is gone already; the failure must be seen
            log.error("could not write the audit entry for %s: %s", entry.action, exc)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _error_code(body: bytearray) -> str | None:
    if not body:
        return None
    try:
        data = json.loads(bytes(body))
    except ValueError:
        return None
    error = data.get("error") if isinstance(data, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None
