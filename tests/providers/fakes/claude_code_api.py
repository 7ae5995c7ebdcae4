"""A fake Anthropic Messages API on 127.0.0.1 for driving the real Claude Code CLI in tests.

The CLI is pointed at it with ``ANTHROPIC_BASE_URL``. It answers what the CLI asks
for: ``HEAD /api/hello`` (its connectivity probe), ``POST /v1/messages`` streamed
as server-sent events in the order the real API uses (``message_start``,
``content_block_start``, ``content_block_delta``, ``content_block_stop``,
``message_delta``, ``message_stop``) or as one JSON message, and
``POST /v1/messages/count_tokens``. Any other path is answered 404 in the API's
error format and listed in ``unknown`` so a test can see what a new CLI version asks.

Each message request takes the next scripted :class:`Turn` (text, a tool call,
an error status, or a hang) or, when the script is used up, a default text turn.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeAnthropicAPI", "SeenRequest", "Turn"]


@dataclass(frozen=True)
class Turn:
    """One scripted answer of the fake model.

    ``tool``: ``(name, input)`` adds a ``tool_use`` block after the text and ends the
    message with ``stop_reason: tool_use``. ``status`` other than 200 answers with the
    API's error body of ``error_type``. ``hang`` accepts the request and never answers.
    """

    text: str = ""
    tool: tuple[str, dict[str, Any]] | None = None
    input_tokens: int = 20
    output_tokens: int = 8
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    status: int = 200
    error_type: str = "api_error"
    hang: bool = False


@dataclass(frozen=True)
class SeenRequest:
    """A request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any = None


@dataclass
class _State:
    turns: deque[Turn]
    default_text: str
    seen: list[SeenRequest] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    served: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    closing: threading.Event = field(default_factory=threading.Event)

    def next_turn(self) -> tuple[int, Turn]:
        with self.lock:
            self.served += 1
            if self.turns:
                return self.served, self.turns.popleft()
            return self.served, Turn(text=f"{self.default_text} {self.served}")


def _message_body(turn: Turn, number: int, model: str) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if turn.text:
        content.append({"type": "text", "text": turn.text})
    if turn.tool is not None:
        name, arguments = turn.tool
        content.append(
            {"type": "tool_use", "id": f"toolu_fake_{number}", "name": name, "input": arguments}
        )
    return {
        "id": f"msg_fake_{number}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "tool_use" if turn.tool is not None else "end_turn",
        "stop_sequence": None,
        "usage": _usage(turn),
    }


def _usage(turn: Turn) -> dict[str, int]:
    return {
        "input_tokens": turn.input_tokens,
        "output_tokens": turn.output_tokens,
        "cache_read_input_tokens": turn.cache_read_tokens,
        "cache_creation_input_tokens": turn.cache_write_tokens,
    }


def _stream_events(turn: Turn, number: int, model: str) -> list[tuple[str, dict[str, Any]]]:
    """The six SSE event types of a streamed message, in the API's order."""
    start = _message_body(turn, number, model)
    start["content"] = []
    start["stop_reason"] = None
    start["usage"] = {**_usage(turn), "output_tokens": 1}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start})
    ]
    index = 0
    if turn.text:
        events += [
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "text", "text": ""},
                },
            ),
            *[
                (
                    "content_block_delta",
                    {
                        "type": "content_block_delta",
                        "index": index,
                        "delta": {"type": "text_delta", "text": piece},
                    },
                )
                for piece in _pieces(turn.text)
            ],
            ("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]
        index += 1
    if turn.tool is not None:
        name, arguments = turn.tool
        events += [
            (
                "content_block_start",
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {
                        "type": "tool_use",
                        "id": f"toolu_fake_{number}",
                        "name": name,
                        "input": {},
                    },
                },
            ),
            (
                "content_block_delta",
                {
                    "type": "content_block_delta",
                    "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": json.dumps(arguments)},
                },
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]
    events += [
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {
                    "stop_reason": "tool_use" if turn.tool is not None else "end_turn",
                    "stop_sequence": None,
                },
                "usage": {"output_tokens": turn.output_tokens},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    return events


def _pieces(text: str, size: int = 8) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _record(self, body: Any = None) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        headers.pop("x-api-key", None)
        headers.pop("authorization", None)
        self.server.state.seen.append(SeenRequest(self.command, self.path, headers, body))

    def _send(self, status: int, payload: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(payload)))
        self.send_header("request-id", "req_fake")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _error(self, status: int, kind: str, message: str) -> None:
        body = {"type": "error", "error": {"type": kind, "message": message}}
        self._send(status, json.dumps(body).encode())

    def do_HEAD(self) -> None:
        self._record()
        if self.path.split("?")[0] == "/api/hello":
            self._send(200, b"")
        else:
            self.server.state.unknown.append(f"HEAD {self.path}")
            self._send(404, b"")

    def do_GET(self) -> None:
        self._record()
        if self.path.split("?")[0] == "/api/hello":
            self._send(200, b'{"message":"hello"}')
            return
        self.server.state.unknown.append(f"GET {self.path}")
        self._error(404, "not_found_error", f"the fake has no GET {self.path}")

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self._record(body)
        path = self.path.split("?")[0]
        if path == "/v1/messages/count_tokens":
            words = len(json.dumps(body.get("messages", []) if isinstance(body, dict) else []))
            self._send(200, json.dumps({"input_tokens": max(1, words // 4)}).encode())
        elif path == "/v1/messages" and isinstance(body, dict):
            self._messages(body)
        else:
            self.server.state.unknown.append(f"POST {self.path}")
            self._error(404, "not_found_error", f"the fake has no POST {self.path}")

    def _messages(self, body: dict[str, Any]) -> None:
        number, turn = self.server.state.next_turn()
        model = str(body.get("model") or "claude-fake")
        if turn.hang:
            self.server.state.closing.wait(timeout=120)
            return
        if turn.status != 200:
            self._error(turn.status, turn.error_type, f"scripted {turn.status} from the fake")
            return
        if not body.get("stream"):
            self._send(200, json.dumps(_message_body(turn, number, model)).encode())
            return
        stream = "".join(
            f"event: {name}\ndata: {json.dumps(data)}\n\n"
            for name, data in _stream_events(turn, number, model)
        ).encode()
        self._send(200, stream, content_type="text/event-stream")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State


class FakeAnthropicAPI:
    """The fake API server; use as a context manager or call ``start()`` / ``stop()``."""

    def __init__(self, turns: Iterable[Turn] = (), default_text: str = "fake reply") -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = _State(turns=deque(turns), default_text=default_text)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[SeenRequest]:
        """Every request received, in order (API keys left out)."""
        return list(self._server.state.seen)

    @property
    def message_requests(self) -> list[SeenRequest]:
        """The ``POST /v1/messages`` requests."""
        return [
            r
            for r in self.requests
            if r.method == "POST" and r.path.split("?")[0] == "/v1/messages"
        ]

    @property
    def unknown(self) -> list[str]:
        """Requests for paths the fake does not know, as ``"METHOD /path"``."""
        return list(self._server.state.unknown)

    def script(self, *turns: Turn) -> None:
        """Queue more scripted turns."""
        with self._server.state.lock:
            self._server.state.turns.extend(turns)

    def start(self) -> FakeAnthropicAPI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.state.closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeAnthropicAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
