"""The ``http`` handler: one HTTP request with httpx, its answer as the step's output."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from nexus.errors import StepTimeout, ToolError
from nexus.handlers.base import BaseHandler, StepContext, StepResult
from nexus.handlers.common import check_params, effective_timeout, fatal

__all__ = ["DEFAULT_HTTP_TIMEOUT", "HttpHandler"]

DEFAULT_HTTP_TIMEOUT = 30.0
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
_SNIPPET = 200


class HttpHandler(BaseHandler):
    """Send a request; output ``{"status", "headers", "json" | "text", "url"}``.

    The body is ``json`` when the response says it is JSON and parses, else
    ``text`` (at most ``max_bytes`` are read; ``truncated`` says so). A status
    outside ``expect_status`` (default: any 2xx) is a :class:`ToolError` naming
    the status and the URL; client errors other than 408 and 429 are not
    retried. A timeout is a :class:`StepTimeout`.
    """

    name = "http"
    description = "Make an HTTP request; the response status, headers and body are the output."
    params_schema: dict[str, Any] = {  # noqa: RUF012
        "type": "object",
        "properties": {
            "method": {"enum": _METHODS + [m.lower() for m in _METHODS], "default": "GET"},
            "url": {"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "query": {
                "type": "object",
                "additionalProperties": {"type": ["string", "number", "boolean"]},
            },
            "json": {"description": "A JSON request body."},
            "body": {"type": "string", "description": "A raw request body."},
            "timeout": {"type": "number", "exclusiveMinimum": 0, "default": DEFAULT_HTTP_TIMEOUT},
            "expect_status": {
                "type": "array",
                "items": {"type": "integer", "minimum": 100, "maximum": 599},
                "minItems": 1,
            },
            "follow_redirects": {"type": "boolean", "default": False},
            "max_bytes": {"type": "integer", "minimum": 1, "default": DEFAULT_MAX_BYTES},
        },
        "required": ["url"],
        "additionalProperties": False,
        "not": {"required": ["json", "body"]},
    }

    async def run(self, ctx: StepContext) -> StepResult:
        params = check_params(self.name, self.params_schema, ctx.params)
        method = str(params.get("method", "GET")).upper()
        url = params["url"]
        timeout = effective_timeout(float(params.get("timeout", DEFAULT_HTTP_TIMEOUT)), ctx)
        max_bytes = int(params.get("max_bytes", DEFAULT_MAX_BYTES))
        request: dict[str, Any] = {"headers": params.get("headers") or {}}
        if params.get("query"):
            request["params"] = {k: _query_value(v) for k, v in params["query"].items()}
        if "json" in params:
            request["json"] = params["json"]
        elif "body" in params:
            request["content"] = params["body"].encode("utf-8")

        started = time.monotonic()
        try:
            async with (
                httpx.AsyncClient(
                    timeout=httpx.Timeout(timeout),
                    follow_redirects=bool(params.get("follow_redirects", False)),
                ) as client,
                client.stream(method, url, **request) as response,
            ):
                data, truncated = await _read_limited(response, max_bytes)
        except httpx.TimeoutException as exc:
            raise StepTimeout(
                f"http {method} {url} timed out after {timeout:g}s ({type(exc).__name__})", url=url
            ) from exc
        except httpx.InvalidURL as exc:
            raise fatal(ToolError(f"http {method} {url}: invalid URL: {exc}", url=url)) from exc
        except httpx.HTTPError as exc:
            raise ToolError(f"http {method} {url} failed: {exc or type(exc).__name__}") from exc

        output: dict[str, Any] = {
            "status": response.status_code,
            "headers": {k: ", ".join(response.headers.get_list(k)) for k in response.headers},
            "url": str(response.url),
        }
        output.update(_body(response, data, truncated))
        expected = params.get("expect_status")
        if expected is None and not 200 <= response.status_code < 300:
            expected = ["2xx"]
        if expected is not None and response.status_code not in expected:
            error = ToolError(
                f"http {method} {url} returned status {response.status_code}, expected "
                f"{' or '.join(str(s) for s in expected)}{_snippet(data)}",
                status=response.status_code,
                url=url,
                output=output,
            )
            client_error = 400 <= response.status_code < 500
            raise fatal(error) if client_error and response.status_code not in (408, 429) else error
        meta = {"elapsed_s": round(time.monotonic() - started, 3), "bytes": len(data)}
        return StepResult(output=output, meta=meta)


async def _read_limited(response: httpx.Response, max_bytes: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            return b"".join(chunks)[:max_bytes], True
    return b"".join(chunks), False


def _body(response: httpx.Response, data: bytes, truncated: bool) -> dict[str, Any]:
    encoding = response.charset_encoding or "utf-8"
    try:
        text = data.decode(encoding, "replace")
    except LookupError:
        text = data.decode("utf-8", "replace")
    content_type = response.headers.get("content-type", "").lower()
    if not truncated and data and "json" in content_type:
        try:
            return {"json": json.loads(text)}
        except ValueError:
            pass
    body: dict[str, Any] = {"text": text}
    if truncated:
        body["truncated"] = True
    return body


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _snippet(data: bytes) -> str:
    text = " ".join(data[: _SNIPPET * 4].decode("utf-8", "replace").split())
    if not text:
        return ""
    return ": " + (text if len(text) <= _SNIPPET else text[: _SNIPPET - 1] + "…")
