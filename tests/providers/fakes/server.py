"""A small scripted HTTP server on 127.0.0.1 for provider tests.

Each test queues :class:`Reply` values; every request takes the next one (or the
``default`` reply when the queue is empty) and is recorded with its arrival time,
path, headers and JSON body. Replies can be JSON, an SSE stream (chunked, with an
optional cut in the middle), raw bytes (malformed bodies), a delay before answering
(read timeouts) or a dropped connection.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeServer", "RecordedRequest", "Reply"]


@dataclass(frozen=True)
class Reply:
    """What the server answers to one request.

    ``body``: a JSON value, or ``bytes`` sent as they are. ``events``: SSE events
    ``(event name or None, data)`` sent chunked instead of a body; ``cut_after``
    closes the connection after that many events without ending the chunked body.
    ``delay_s`` waits before answering; ``drop`` closes the connection without a reply.
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    events: list[tuple[str | None, Any]] | None = None
    cut_after: int | None = None
    delay_s: float = 0.0
    drop: bool = False

    @classmethod
    def json(cls, body: Any, status: int = 200, **headers: str) -> Reply:
        return cls(status=status, body=body, headers=dict(headers))

    @classmethod
    def sse(cls, events: list[tuple[str | None, Any]], cut_after: int | None = None) -> Reply:
        return cls(events=events, cut_after=cut_after)


@dataclass(frozen=True)
class RecordedRequest:
    """One request the server received."""

    at: float
    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def json(self) -> dict[str, Any]:
        assert isinstance(self.body, dict), f"request body is not a JSON object: {self.body!r}"
        return self.body


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        fake = self.server.fake
        reply = fake._record_and_next(
            RecordedRequest(
                at=time.monotonic(),
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
        )
        if reply.delay_s and fake._stopping.wait(reply.delay_s):
            self.close_connection = True
            return
        if reply.drop:
            self.close_connection = True
            return
        if reply.events is not None:
            self._stream(reply)
            return
        payload = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _stream(self, reply: Reply) -> None:
        self.send_response(reply.status)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        assert reply.events is not None
        for index, (event, data) in enumerate(reply.events):
            if reply.cut_after is not None and index >= reply.cut_after:
                self.wfile.flush()
                self.close_connection = True
                return
            text = data if isinstance(data, str) else json.dumps(data)
            frame = (f"event: {event}\n" if event else "") + f"data: {text}\n\n"
            encoded = frame.encode()
            self.wfile.write(f"{len(encoded):x}\r\n".encode() + encoded + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    fake: FakeServer


class FakeServer:
    """A scripted loopback server; use as a context manager or call start/stop."""

    def __init__(self, default: Reply | None = None) -> None:
        self.default = default
        self.requests: list[RecordedRequest] = []
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def queue(self, *replies: Reply) -> FakeServer:
        with self._lock:
            self._replies.extend(replies)
        return self

    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._replies)

    def _record_and_next(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._replies:
                return self._replies.popleft()
        if self.default is not None:
            return self.default
        return Reply.json({"error": {"message": "no scripted reply left"}}, status=500)
