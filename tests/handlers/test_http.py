"""The http handler against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from nexus.errors import StepTimeout, ToolError
from nexus.handlers.http import HttpHandler

from .conftest import MakeCtx


class _Handler(BaseHTTPRequestHandler):
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Served-By", "test")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/json":
            self._send(200, b'{"items": [1, 2], "ok": true}', "application/json")
        elif url.path == "/text":
            self._send(200, "héllo".encode(), "text/plain; charset=utf-8")
        elif url.path.startswith("/status/"):
            status = int(url.path.rsplit("/", 1)[1])
            self._send(status, b"something went wrong here", "text/plain")
        elif url.path == "/slow":
            time.sleep(3)
            self._send(200, b"late", "text/plain")
        elif url.path == "/big":
            self._send(200, b"x" * 10_000, "application/json")
        else:
            self._send(404, b"no such page", "text/plain")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length).decode()
        echo = {
            "path": urlsplit(self.path).path,
            "query": parse_qs(urlsplit(self.path).query),
            "body": body,
            "content_type": self.headers.get("Content-Type"),
            "x_test": self.headers.get("X-Test"),
        }
        self._send(201, json.dumps(echo).encode(), "application/json")


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


async def test_get_json(make_ctx: MakeCtx, server: str) -> None:
    result = await HttpHandler().run(make_ctx({"url": f"{server}/json"}))
    out = result.output
    assert out["status"] == 200
    assert out["json"] == {"items": [1, 2], "ok": True}
    assert "text" not in out
    assert out["headers"]["x-served-by"] == "test"
    assert out["url"] == f"{server}/json"
    assert result.meta["bytes"] == 29


async def test_get_text(make_ctx: MakeCtx, server: str) -> None:
    out = (await HttpHandler().run(make_ctx({"url": f"{server}/text", "method": "get"}))).output
    assert out == {
        "status": 200,
        "headers": out["headers"],
        "url": f"{server}/text",
        "text": "héllo",
    }


async def test_post_json_with_headers_and_query(make_ctx: MakeCtx, server: str) -> None:
    params = {
        "method": "POST",
        "url": f"{server}/items",
        "headers": {"X-Test": "yes"},
        "query": {"page": 2, "full": True},
        "json": {"name": "widget"},
        "expect_status": [201],
    }
    out = (await HttpHandler().run(make_ctx(params))).output
    assert out["status"] == 201
    assert out["json"] == {
        "path": "/items",
        "query": {"page": ["2"], "full": ["true"]},
        "body": '{"name":"widget"}',
        "content_type": "application/json",
        "x_test": "yes",
    }


async def test_raw_body(make_ctx: MakeCtx, server: str) -> None:
    params = {"method": "POST", "url": f"{server}/raw", "body": "a=1&b=2", "expect_status": [201]}
    out = (await HttpHandler().run(make_ctx(params))).output
    assert out["json"]["body"] == "a=1&b=2"


async def test_unexpected_status_names_status_and_url(make_ctx: MakeCtx, server: str) -> None:
    url = f"{server}/status/404"
    with pytest.raises(ToolError, match=r"returned status 404, expected 2xx") as info:
        await HttpHandler().run(make_ctx({"url": url}))
    assert url in str(info.value)
    assert "something went wrong here" in str(info.value)
    assert info.value.details["status"] == 404
    assert info.value.retryable is False

    with pytest.raises(ToolError, match=r"returned status 503, expected 2xx") as info:
        await HttpHandler().run(make_ctx({"url": f"{server}/status/503"}))
    assert info.value.retryable is True


async def test_expect_status_accepts_listed_codes(make_ctx: MakeCtx, server: str) -> None:
    params = {"url": f"{server}/status/404", "expect_status": [200, 404]}
    out = (await HttpHandler().run(make_ctx(params))).output
    assert (out["status"], out["text"]) == (404, "something went wrong here")
    with pytest.raises(ToolError, match=r"returned status 200, expected 201 or 202"):
        await HttpHandler().run(make_ctx({"url": f"{server}/json", "expect_status": [201, 202]}))


async def test_timeout(make_ctx: MakeCtx, server: str) -> None:
    with pytest.raises(StepTimeout, match=r"http GET .*/slow timed out after 0\.3s"):
        await HttpHandler().run(make_ctx({"url": f"{server}/slow", "timeout": 0.3}))


async def test_connection_refused(make_ctx: MakeCtx) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ToolError, match=rf"http GET http://127\.0\.0\.1:{port}/ failed"):
        await HttpHandler().run(make_ctx({"url": f"http://127.0.0.1:{port}/", "timeout": 2}))


async def test_body_is_capped(make_ctx: MakeCtx, server: str) -> None:
    out = (await HttpHandler().run(make_ctx({"url": f"{server}/big", "max_bytes": 100}))).output
    assert out["text"] == "x" * 100
    assert out["truncated"] is True
    assert "json" not in out


async def test_invalid_parameters(make_ctx: MakeCtx, server: str) -> None:
    with pytest.raises(ToolError, match="invalid parameters") as info:
        await HttpHandler().run(make_ctx({"url": f"{server}/x", "json": {}, "body": "b"}))
    assert info.value.retryable is False
    with pytest.raises(ToolError, match="does not match"):
        await HttpHandler().run(make_ctx({"url": "ftp://example.invalid/file"}))
