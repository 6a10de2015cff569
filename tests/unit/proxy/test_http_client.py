"""The pooled upstream client against real loopback sockets with scripted HTTP answers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from tests.support.servers import free_port
from vallum.errors import UpstreamError, UpstreamTimeout
from vallum.providers.base import UpstreamRequest
from vallum.proxy.http_client import HttpClient

SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "Upstream"], Awaitable[None]]


@dataclass
class Upstream:
    port: int = 0
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    closed_by_client: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + (await reader.readexactly(length) if length else b"")


def reply(body: bytes, *, status: str = "200 OK", extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


@asynccontextmanager
async def serving(handler: Handler) -> AsyncIterator[Upstream]:
    state = Upstream()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        try:
            await handler(reader, writer, state)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()


async def keep_alive_json(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: Upstream
) -> None:
    while True:
        state.requests.append(await read_request(reader))
        writer.write(reply(b'{"ok": true}'))
        await writer.drain()


def post(url: str, body: bytes = b"{}", *, stream: bool = False) -> UpstreamRequest:
    return UpstreamRequest(
        "POST", f"{url}/v1/chat/completions", [("authorization", "Bearer k")], body, stream
    )


async def test_request_and_keep_alive_reuse() -> None:
    client = HttpClient()
    async with serving(keep_alive_json) as upstream:
        for _ in range(3):
            response = await client.request(post(upstream.url, b'{"a": 1}'))
            assert (response.status, response.body) == (200, b'{"ok": true}')
            assert response.header("Content-Type") == "application/json"
        assert upstream.connections == 1
        first = upstream.requests[0]
        assert first.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
        assert f"host: 127.0.0.1:{upstream.port}\r\n".encode() in first
        assert b"authorization: Bearer k\r\n" in first
        assert b"content-length: 8\r\n" in first
        assert first.endswith(b'\r\n\r\n{"a": 1}')
    await client.close()


async def test_large_request_bodies_are_sent_whole() -> None:
    client = HttpClient()
    body = b'{"t": "' + b"x" * 200_000 + b'"}'
    async with serving(keep_alive_json) as upstream:
        response = await client.request(post(upstream.url, body))
        assert response.status == 200
        assert upstream.requests[0].endswith(body)
    await client.close()


async def test_connection_close_is_not_pooled() -> None:
    async def closing(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: Upstream
    ) -> None:
        await read_request(reader)
        writer.write(reply(b"{}", extra="connection: close\r\n"))
        await writer.drain()

    client = HttpClient()
    async with serving(closing) as upstream:
        for _ in range(2):
            assert (await client.request(post(upstream.url))).status == 200
        assert upstream.connections == 2
    await client.close()


async def test_stale_idle_connection_is_retried_once() -> None:
    async def one_answer_then_hang_up(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: Upstream
    ) -> None:
        await read_request(reader)
        writer.write(reply(b"{}"))  # keep-alive promised...
        await writer.drain()
        # ...but the server drops the idle connection.

    client = HttpClient()
    async with serving(one_answer_then_hang_up) as upstream:
        assert (await client.request(post(upstream.url))).status == 200
        await asyncio.sleep(0.05)
        assert (await client.request(post(upstream.url))).status == 200
        assert upstream.connections == 2
    await client.close()


async def test_streamed_response_yields_chunks_and_releases_the_connection() -> None:
    async def sse(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: Upstream
    ) -> None:
        while True:
            await read_request(reader)
            writer.write(SSE_HEAD)
            for event in (b"data: 1\n\n", b"data: 2\n\n", b"data: [DONE]\n\n"):
                writer.write(f"{len(event):x}\r\n".encode() + event + b"\r\n")
                await writer.drain()
                await asyncio.sleep(0.01)
            writer.write(b"0\r\n\r\n")
            await writer.drain()

    client = HttpClient()
    async with serving(sse) as upstream:
        for _ in range(2):
            response = await client.request(post(upstream.url, stream=True))
            assert response.status == 200 and response.stream is not None
            data = b"".join([chunk async for chunk in response.stream])
            assert data == b"data: 1\n\ndata: 2\n\ndata: [DONE]\n\n"
        assert upstream.connections == 1
    await client.close()


async def test_error_status_on_a_stream_request_is_read_whole() -> None:
    async def refuse(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: Upstream
    ) -> None:
        await read_request(reader)
        writer.write(
            reply(b'{"error": {}}', status="429 Too Many Requests", extra="retry-after: 3\r\n")
        )
        await writer.drain()

    client = HttpClient()
    async with serving(refuse) as upstream:
        response = await client.request(post(upstream.url, stream=True))
        assert response.stream is None
        assert (response.status, response.body, response.header("retry-after")) == (
            429,
            b'{"error": {}}',
            "3",
        )
    await client.close()


async def test_response_size_cap() -> None:
    async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: Upstream) -> None:
        await read_request(reader)
        writer.write(reply(b"x" * 100_000))
        await writer.drain()

    client = HttpClient(max_response_bytes=10_000)
    async with serving(huge) as upstream:
        with pytest.raises(UpstreamError, match="too large"):
            await client.request(post(upstream.url))
    await client.close()


@pytest.mark.parametrize(
    "answer",
    [b"NOT HTTP AT ALL\r\n\r\n", b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort", b""],
)
async def test_malformed_or_truncated_answers_are_upstream_errors(answer: bytes) -> None:
    async def broken(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: Upstream
    ) -> None:
        await read_request(reader)
        writer.write(answer)
        await writer.drain()

    client = HttpClient(read_timeout=5)
    async with serving(broken) as upstream:
        with pytest.raises(UpstreamError) as caught:
            await client.request(post(upstream.url))
        assert caught.value.status == 502
    await client.close()


async def test_closed_port_is_an_upstream_error() -> None:
    client = HttpClient(connect_timeout=2)
    with pytest.raises(UpstreamError) as caught:
        await client.request(post(f"http://127.0.0.1:{free_port()}"))
    assert caught.value.status == 502
    assert "connect" in caught.value.public_message.lower()
    await client.close()


async def test_invalid_upstream_url() -> None:
    client = HttpClient()
    with pytest.raises(UpstreamError):
        await client.request(UpstreamRequest("POST", "ftp://x/y", [], b"{}"))


async def _silent(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: Upstream
) -> None:
    await read_request(reader)
    if await reader.read(1) == b"":  # never answers; waits for the client to hang up
        state.closed_by_client.set()


async def test_read_timeout() -> None:
    client = HttpClient(read_timeout=0.2)
    async with serving(_silent) as upstream:
        with pytest.raises(UpstreamTimeout) as caught:
            await client.request(post(upstream.url))
        assert caught.value.status == 504
    await client.close()


async def test_a_timed_out_call_closes_its_upstream_connection() -> None:
    """An abandoned call must not hold its socket until the upstream gives up."""
    client = HttpClient(read_timeout=0.2)
    async with serving(_silent) as upstream:
        with pytest.raises(UpstreamTimeout):
            await client.request(post(upstream.url))
        await asyncio.wait_for(upstream.closed_by_client.wait(), timeout=2)
    await client.close()


async def test_a_cancelled_stream_closes_its_upstream_connection() -> None:
    async def endless(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, state: Upstream
    ) -> None:
        await read_request(reader)
        writer.write(SSE_HEAD)
        try:
            while True:
                writer.write(b"9\r\ndata: x\n\n\r\n")
                await writer.drain()
                await asyncio.sleep(0.02)
        except ConnectionError:
            state.closed_by_client.set()

    client = HttpClient()
    async with serving(endless) as upstream:
        response = await client.request(post(upstream.url, stream=True))
        assert response.stream is not None
        stream = response.stream
        assert (await anext(stream)).startswith(b"data: x")
        await stream.aclose()  # type: ignore[attr-defined]
        await asyncio.wait_for(upstream.closed_by_client.wait(), timeout=5)
    await client.close()
