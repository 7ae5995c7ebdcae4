"""The request context: a correlation id per request, HTTP latency metrics, and a last
line of defence that turns an unexpected exception into the standard 500 body.

The correlation id is taken from ``X-Correlation-ID`` (or ``X-Request-ID``) when it
is a short, plain token, else made up; it is bound for the request's log lines,
stored in ``request.state.correlation_id`` and returned in ``X-Correlation-ID``.
Latency is measured to the start of the response (so a long-lived stream counts
as the time to its first byte) and labelled with the route template.
"""

from __future__ import annotations

import json
import logging
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nexus.domain.runs import new_id
from nexus.observability.logging import bind_correlation_id
from nexus.observability.metrics import NexusMetrics

__all__ = ["CORRELATION_HEADER", "RequestContextMiddleware"]

log = logging.getLogger(__name__)

CORRELATION_HEADER = "x-correlation-id"
_GOOD_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name in (b"x-correlation-id", b"x-request-id"):
            text = bytes(value).decode("latin-1").strip()
            if _GOOD_ID.match(text):
                return text
    return None


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return str(path) if path else "unmatched"


class RequestContextMiddleware:
    """Pure ASGI middleware (streams pass through untouched)."""

    def __init__(self, app: ASGIApp, metrics: NexusMetrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        cid = _incoming_id(scope) or new_id("r-")
        scope.setdefault("state", {})["correlation_id"] = cid
        if scope["type"] == "websocket":
            with bind_correlation_id(cid):
                await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state: dict[str, Any] = {"started": False}

        async def send_with_context(message: Message) -> None:
            if message["type"] == "http.response.start" and not state["started"]:
                state["started"] = True
                headers = list(message.get("headers", []))
                headers.append((CORRELATION_HEADER.encode(), cid.encode()))
                message = {**message, "headers": headers}
                self._observe(scope, int(message["status"]), started)
            await send(message)

        with bind_correlation_id(cid):
            try:
                await self.app(scope, receive, send_with_context)
            except Exception:
                log.exception("unexpected error in %s %s", scope.get("method"), scope.get("path"))
                if state["started"]:
                    return  # the response is under way: nothing more can be said
                await self._internal_error(send_with_context, cid)

    def _observe(self, scope: Scope, status: int, started: float) -> None:
        if self.metrics is not None:
            elapsed = time.perf_counter() - started
            self.metrics.observe_http(str(scope.get("method", "")), _route(scope), status, elapsed)

    @staticmethod
    async def _internal_error(send: Send, cid: str) -> None:
        body = json.dumps(
            {
                "error": {
                    "code": "internal_error",
                    "message": "internal error; the server log has the details under "
                    f"correlation id {cid}",
                    "details": {"correlation_id": cid},
                }
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
