"""The write-coalescing uvicorn protocol: same bytes on the wire, fewer write() calls."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import Any

import pytest

from tests.support.servers import ServerThread
from vallum.proxy.server_protocol import FLUSH_BYTES, CoalescingTransport, VallumHttpProtocol


class _Recorder:
    """Stands in for an asyncio transport and records what reaches it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False
        self.reading = True

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = self.closed = True

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1) if name == "peername" else default

    def set_write_buffer_limits(self, high: int) -> None:
        self.high = high


def _wrap(recorder: _Recorder) -> CoalescingTransport:
    return CoalescingTransport(recorder, asyncio.get_running_loop())  # type: ignore[arg-type]


async def test_writes_of_one_step_leave_as_one() -> None:
    recorder = _Recorder()
    transport = _wrap(recorder)
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b"")
    transport.write(bytearray(b"body"))
    assert recorder.writes == []
    await asyncio.sleep(0)
    assert recorder.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    transport.write(b"next")
    await asyncio.sleep(0)
    assert recorder.writes[1:] == [b"next"]


async def test_large_output_is_not_held() -> None:
    recorder = _Recorder()
    transport = _wrap(recorder)
    transport.write(b"h")
    transport.write(b"x" * FLUSH_BYTES)
    assert recorder.writes == [b"h" + b"x" * FLUSH_BYTES]
    await asyncio.sleep(0)
    assert len(recorder.writes) == 1


async def test_close_flushes_first_and_abort_drops() -> None:
    recorder = _Recorder()
    transport = _wrap(recorder)
    transport.writelines([b"a", b"b"])
    transport.close()
    assert recorder.writes == [b"ab"]
    assert recorder.closed
    await asyncio.sleep(0)
    assert recorder.writes == [b"ab"]

    other = _Recorder()
    transport = _wrap(other)
    transport.write(b"lost")
    transport.abort()
    await asyncio.sleep(0)
    assert other.writes == []
    assert other.aborted


async def test_nothing_is_written_to_a_closing_transport() -> None:
    recorder = _Recorder()
    transport = _wrap(recorder)
    transport.write(b"late")
    recorder.closed = True
    await asyncio.sleep(0)
    assert recorder.writes == []
    assert transport.is_closing()


async def test_everything_else_passes_through() -> None:
    recorder = _Recorder()
    transport = _wrap(recorder)
    transport.pause_reading()
    assert not recorder.reading
    transport.resume_reading()
    assert recorder.reading
    assert transport.get_extra_info("peername") == ("127.0.0.1", 1)
    assert transport.get_extra_info("sockname", "none") == "none"
    transport.set_write_buffer_limits(high=10)
    assert recorder.high == 10


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            kind = message["type"].rsplit(".", 1)[-1]
            await send({"type": f"{message['type']}.complete"})
            if kind == "shutdown":
                return
    while (await receive()).get("more_body"):
        pass
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"data: 1\n\n", b"data: 2\n\n"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
            await asyncio.sleep(0.01)
        await send({"type": "http.response.body", "body": b""})
        return
    body = b'{"ok":true}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"11")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    if scope["path"] == "/slow-after":
        # Bookkeeping after the response, in the same event-loop step: the client must
        # already have the whole response (flushed when uvicorn completed it).
        _SEEN.append(_RELEASED.wait(5))


_RELEASED = threading.Event()
_SEEN: list[bool] = []


def _read_response(sock: socket.socket, end: bytes) -> bytes:
    data = b""
    while not data.endswith(end):
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    return data


@pytest.fixture(scope="module")
def server() -> Any:
    running = ServerThread(_app)
    running.server.config.http = VallumHttpProtocol  # read when the server loads its config
    with running:
        yield running


def test_json_and_stream_over_one_keep_alive_connection(server: Any) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        for _ in range(2):
            sock.sendall(b"POST /json HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}")
            reply = _read_response(sock, b'{"ok":true}')
            assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
            assert b"content-length: 11\r\n" in reply
        connections = server.server.server_state.connections
        assert connections
        assert all(isinstance(conn, VallumHttpProtocol) for conn in connections)
        sock.sendall(b"GET /stream HTTP/1.1\r\nhost: x\r\n\r\n")
        reply = _read_response(sock, b"0\r\n\r\n")
        head, _, body = reply.partition(b"\r\n\r\n")
        assert b"transfer-encoding: chunked" in head
        assert body == b"9\r\ndata: 1\n\n\r\n9\r\ndata: 2\n\n\r\n0\r\n\r\n"


def test_a_complete_response_leaves_before_the_apps_bookkeeping(server: Any) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /slow-after HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}")
        reply = _read_response(sock, b'{"ok":true}')
        _RELEASED.set()
    assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
    for _ in range(500):
        if _SEEN:
            break
        threading.Event().wait(0.01)
    assert _SEEN == [True]
