"""The peers of ``bench/gateway.py``, each run as its own process:

- ``upstream --port P``: a fake OpenAI-compatible upstream, an asyncio server with
  TCP_NODELAY that answers every request with a fixed ``chat.completion`` body (or, for
  ``stream: true``, a fixed SSE stream);
- ``floor --port P --upstream URL``: a bare ASGI proxy under uvicorn that forwards the body
  with one shared ``httpx.AsyncClient`` — what any Python gateway costs before it does
  anything;
- ``load --port P --path … --body-file F --token T``: keeps N keep-alive connections busy
  for some seconds and prints one JSON line (requests, errors, req/s, p50, p99).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

#: what the upstream answers (the gateway benchmark checks it came through)
ANSWER_TEXT = "Hello there, nice to meet you."

COMPLETION = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": ANSWER_TEXT},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 14, "completion_tokens": 8, "total_tokens": 22},
}


def _sse() -> bytes:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": w}) for w in ("Hello", " there", ", nice", " to meet", " you.")]
    events.append(chunk({}, "stop"))
    usage = {**chunk({}), "choices": [], "usage": COMPLETION["usage"]}
    events.append(usage)
    body = b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events)
    return body + b"data: [DONE]\n\n"


# --- the fake upstream -------------------------------------------------------------------


class _Upstream(asyncio.Protocol):
    json_reply = orjson.dumps(COMPLETION)
    sse_reply = _sse()

    def connection_made(self, transport: Any) -> None:  # uvloop's is no asyncio.Transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.transport = transport
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end]).lower()
            length = 0
            marker = head.find(b"content-length:")
            if marker >= 0:
                length = int(head[marker + 15 :].split(b"\r\n", 1)[0])
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            streamed = b'"stream":true' in body or b'"stream": true' in body
            payload, kind = (
                (self.sse_reply, b"text/event-stream")
                if streamed
                else (self.json_reply, b"application/json")
            )
            self.transport.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: " + kind + b"\r\ncontent-length: "
                + str(len(payload)).encode() + b"\r\n\r\n" + payload
            )  # fmt: skip


def serve_upstream(port: int) -> None:
    """Run the fake upstream on 127.0.0.1:``port`` until killed."""
    _use_uvloop()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_Upstream, "127.0.0.1", port, backlog=1024)
        print("ready", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


# --- the floor: a bare forwarding proxy ------------------------------------------------------


def serve_floor(port: int, upstream: str) -> None:
    """A bare ASGI proxy under uvicorn: read the body, forward it, return the bytes."""
    import uvicorn

    state: dict[str, httpx.AsyncClient] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    state["client"] = httpx.AsyncClient(base_url=upstream, timeout=30)
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await state["client"].aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        reply = await state["client"].post(
            "/chat/completions", content=body, headers={"content-type": "application/json"}
        )
        await send(
            {
                "type": "http.response.start",
                "status": reply.status_code,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": reply.content})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")


# --- the load process --------------------------------------------------------------------------


def run_load(
    port: int, path: str, body: bytes, token: str, seconds: float, concurrency: int
) -> None:
    """Keep ``concurrency`` keep-alive connections busy for ``seconds``; print one JSON line."""
    _use_uvloop()
    request = (
        f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\n"
        f"authorization: Bearer {token}\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    errors = 0

    async def worker(deadline: float) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            lowered = head.lower()
            marker = lowered.find(b"content-length:")
            length = int(lowered[marker + 15 :].split(b"\r\n", 1)[0]) if marker >= 0 else 0
            await reader.readexactly(length)
            if not head.startswith(b"HTTP/1.1 200"):
                errors += 1
            latencies.append(time.perf_counter() - started)
        writer.close()

    async def main() -> float:
        started = time.perf_counter()
        deadline = started + seconds
        await asyncio.gather(*(worker(deadline) for _ in range(concurrency)))
        return time.perf_counter() - started

    elapsed = asyncio.run(main())
    latencies.sort()
    print(
        json.dumps(
            {
                "requests": len(latencies),
                "errors": errors,
                "seconds": round(elapsed, 3),
                "rps": round(len(latencies) / elapsed, 1),
                "p50_ms": round(percentile(latencies, 50) * 1e3, 3),
                "p99_ms": round(percentile(latencies, 99) * 1e3, 3),
            }
        ),
        flush=True,
    )


# --- helpers ------------------------------------------------------------------------------------


def _use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile of sorted ``values`` (nearest rank)."""
    if not values:
        return float("nan")
    rank = max(0, min(len(values) - 1, round(q / 100 * len(values) + 0.5) - 1))
    return values[rank]


def main() -> None:
    parser = argparse.ArgumentParser(description="peers of bench/gateway.py")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("upstream", help="serve the fake upstream")
    up.add_argument("--port", type=int, required=True)
    fl = sub.add_parser("floor", help="serve the bare forwarding proxy")
    fl.add_argument("--port", type=int, required=True)
    fl.add_argument("--upstream", required=True)
    ld = sub.add_parser("load", help="generate load")
    ld.add_argument("--port", type=int, required=True)
    ld.add_argument("--path", required=True)
    ld.add_argument("--body-file", required=True)
    ld.add_argument("--token", required=True)
    ld.add_argument("--seconds", type=float, default=8.0)
    ld.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    if args.command == "upstream":
        serve_upstream(args.port)
    elif args.command == "floor":
        serve_floor(args.port, args.upstream)
    else:
        body = Path(args.body_file).read_bytes()
        run_load(args.port, args.path, body, args.token, args.seconds, args.concurrency)


if __name__ == "__main__":
    main()
