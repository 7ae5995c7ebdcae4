"""The lean HTTP/1.1 transport and the OpenAI adapter over it, against scripted servers on
loopback: answers, streams, keep-alive reuse, a connection the server dropped while idle,
timeouts, cut streams, and every error status mapped like the SDK adapter maps it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from nexus.domain.messages import Message, ModelRequest, ToolCall, ToolSpec
from nexus.errors import ConfigError
from nexus.providers.errors import (
    AuthFailed,
    BadResponse,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
    StreamInterrupted,
)
from nexus.providers.http11 import Http11Client, HttpError
from nexus.providers.openai_http import OpenAIHttpProvider
from nexus.providers.remote import REMOTE_SPECS, make_remote_provider
from tests.providers.fakes.openai_wire import (
    chat_completion,
    error_body,
    stream_reply,
    tool_call,
    usage,
)
from tests.providers.fakes.server import FakeServer, Reply


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


def provider(server: FakeServer, **kwargs: object) -> OpenAIHttpProvider:
    options: dict[str, object] = {"base_url": server.url + "/v1", "api_key": "sk-test-000000"}
    options.update(kwargs)
    return OpenAIHttpProvider("gpt-4o-mini", **options)  # type: ignore[arg-type]


def ask(text: str = "hi", **changes: object) -> ModelRequest:
    request = ModelRequest(model="openai:gpt-4o-mini", messages=(Message.text("user", text),))
    return request.model_copy(update=changes)


async def test_complete_sends_the_openai_body_and_reuses_the_connection(
    server: FakeServer,
) -> None:
    server.queue(
        Reply.json(chat_completion("Hello!", use=usage(prompt=10, completion=5, cached=4))),
        Reply.json(
            chat_completion(None, tool_calls=[tool_call("c1", "lookup", q="x")], use=usage())
        ),
    )
    adapter = provider(server)
    first = await adapter.complete(ask(max_tokens=20, temperature=0.0))
    assert first.message.text_content == "Hello!"
    assert first.model == "openai:gpt-4o-mini"
    assert (first.usage.input_tokens, first.usage.cache_read_tokens) == (6, 4)
    assert first.usage.cost_usd > 0
    tool = ToolSpec(name="lookup", description="d", parameters={"type": "object"})
    second = await adapter.complete(ask(tools=(tool,)))
    assert second.message.tool_calls == [ToolCall(id="c1", name="lookup", arguments={"q": "x"})]
    assert second.stop_reason == "tool_use"
    sent = server.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == "Bearer sk-test-000000"
    assert sent.json == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "max_completion_tokens": 20,
        "temperature": 0.0,
    }
    assert server.requests[1].json["tools"][0]["function"]["name"] == "lookup"
    assert adapter._http().connections_opened == 1
    await adapter.aclose()


async def test_stream_of_text_and_tool_calls(server: FakeServer) -> None:
    server.queue(
        stream_reply(
            ["Hel", "lo"],
            tool_calls=[("c9", "lookup", json.dumps({"q": "weather"}))],
            use=usage(prompt=7, completion=3),
        )
    )
    chunks = [c async for c in provider(server).stream(ask())]
    assert [c.text for c in chunks if c.type == "text"] == ["Hel", "lo"]
    calls = [c.tool_call for c in chunks if c.type == "tool_call"]
    assert calls == [ToolCall(id="c9", name="lookup", arguments={"q": "weather"})]
    final = chunks[-1]
    assert final.type == "done" and final.stop_reason == "tool_use"
    assert final.usage is not None and final.usage.output_tokens == 3
    body = server.requests[0].json
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    ("reply", "error", "status"),
    [
        (Reply.json(error_body("slow", "rate_limit_error"), 429, **{"retry-after": "7"}),
         RateLimited, 429),
        (Reply.json(error_body("bad key", "invalid_request_error"), 401), AuthFailed, 401),
        (Reply.json(error_body("too long", "invalid_request_error"), 400), RequestRejected, 400),
        (Reply.json(error_body("boom"), 500), ProviderUnavailable, 500),
        (Reply(status=200, body=b"{not json"), BadResponse, 200),
    ],
)  # fmt: skip
async def test_error_statuses(
    server: FakeServer, reply: Reply, error: type[Exception], status: int
) -> None:
    server.queue(reply, reply)
    with pytest.raises(error) as caught:
        await provider(server).complete(ask())
    assert getattr(caught.value, "status", None) == status
    assert server.url in str(caught.value)
    if status == 429:
        assert getattr(caught.value, "retry_after", None) == 7
    with pytest.raises(error):
        async for _ in provider(server).stream(ask()):
            pass


async def test_transport_failures(server: FakeServer) -> None:
    server.queue(Reply(drop=True))
    with pytest.raises(ProviderUnavailable, match="connection failed") as dropped:
        await provider(server).complete(ask())
    assert dropped.value.details["reason"] == "connect"
    server.queue(Reply(delay_s=2.0, body=chat_completion()))
    with pytest.raises(ProviderUnavailable, match=r"no answer within 0\.3s") as slow:
        await provider(server, timeout_s=0.3).complete(ask())
    assert slow.value.details["reason"] == "timeout"
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        await provider(server, api_key=None).complete(ask())


async def test_a_stream_cut_after_part_of_the_answer(server: FakeServer) -> None:
    server.queue(stream_reply(["one ", "two ", "three"], cut_after=3))
    got: list[str] = []
    with pytest.raises(StreamInterrupted) as cut:
        async for chunk in provider(server).stream(ask()):
            got.append(chunk.text)
    assert "".join(got) == "one two "
    assert cut.value.details["partial_text"] == "one two "


class OneShotServer:
    """Answers one request per connection, then closes it without saying so (as a server
    whose keep-alive timeout passed does)."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        await reader.readexactly(length)
        body = json.dumps(chat_completion("fresh")).encode()
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        writer.close()

    async def __aenter__(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1"

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


async def test_a_connection_closed_while_idle_is_replaced() -> None:
    one_shot = OneShotServer()
    async with one_shot as url:
        adapter = OpenAIHttpProvider("m", base_url=url, api_key="k")
        for _ in range(3):
            assert (await adapter.complete(ask())).message.text_content == "fresh"
            await asyncio.sleep(0.05)  # the server's close arrives
        assert one_shot.connections == 3


async def test_chunked_and_until_close_bodies() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        writer.write(b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.0 200 OK\r\n\r\nuntil the end")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = Http11Client(f"http://127.0.0.1:{port}", timeout_s=5)
    try:
        first = await client.request("GET", "/a")
        assert (first.status, first.body) == (200, b"hello world")
        second = await client.request("GET", "/b")
        assert second.body == b"until the end"
        assert client.connections_opened == 1  # the chunked answer left it reusable
    finally:
        await client.aclose()
        server.close()
    with pytest.raises(HttpError):
        await Http11Client(f"http://127.0.0.1:{port}", timeout_s=2).request("GET", "/")
    with pytest.raises(ValueError, match="not an http"):
        Http11Client("ftp://example.invalid")


def test_the_remote_registry_picks_the_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {"OPENAI_API_KEY": "sk-x", "NEXUS_OPENAI_TRANSPORT": "http"}
    lean = make_remote_provider(REMOTE_SPECS["openai"], "gpt-4o-mini", env=env)
    assert isinstance(lean.endpoints[0].provider, OpenAIHttpProvider)  # type: ignore[attr-defined]
    ollama = make_remote_provider(REMOTE_SPECS["ollama"], "llama3", env={**env})
    adapter = ollama.endpoints[0].provider  # type: ignore[attr-defined]
    assert isinstance(adapter, OpenAIHttpProvider) and adapter.max_tokens_field == "max_tokens"
    default = make_remote_provider(
        REMOTE_SPECS["openai"], "gpt-4o-mini", env={"OPENAI_API_KEY": "k"}
    )
    assert isinstance(default.endpoints[0].provider, OpenAIHttpProvider)  # type: ignore[attr-defined]
    proxied = make_remote_provider(
        REMOTE_SPECS["openai"],
        "gpt-4o-mini",
        env={"OPENAI_API_KEY": "k", "HTTPS_PROXY": "http://127.0.0.1:3128"},
    )
    assert not isinstance(proxied.endpoints[0].provider, OpenAIHttpProvider)  # type: ignore[attr-defined]
    sdk = make_remote_provider(
        REMOTE_SPECS["openai"],
        "gpt-4o-mini",
        env={"OPENAI_API_KEY": "k", "NEXUS_OPENAI_TRANSPORT": "sdk"},
    )
    assert not isinstance(sdk.endpoints[0].provider, OpenAIHttpProvider)  # type: ignore[attr-defined]
