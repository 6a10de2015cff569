"""Hostile clients at the connection level: big and slow heads, stalled bodies, many connections.

Each test holds a handful of raw sockets against the gateway served as ``vallum serve``
serves it (``uvicorn_options``: the guarded protocol), with short timeouts and small caps.
"""

from __future__ import annotations

import contextlib
import select
import socket
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import gateway_config
from tests.support.raw_http import (
    closed_by_peer,
    connect,
    error_code,
    get,
    read_response,
)
from tests.support.servers import ServerThread
from vallum.cli.serve import uvicorn_options
from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.proxy.app import GatewayApp

HEAD_TIMEOUT = 1.0
BODY_IDLE = 1.0
PER_CLIENT = 6
MAX_CONNECTIONS = 24
TRUSTED_PROXY = "127.0.0.9"


def _serve(upstream: ServerThread, head_timeout: float, body_idle: float) -> ServerThread:
    config = build_config(
        gateway_config(
            upstream.url,
            server={"trusted_proxies": [f"{TRUSTED_PROXY}/32"]},
            limits={
                "max_header_bytes": 32 * 1024,
                "max_connections": MAX_CONNECTIONS,
                "max_connections_per_client": PER_CLIENT,
            },
            timeouts={"client_head": head_timeout, "client_body_idle": body_idle},
        )
    )
    return ServerThread(GatewayApp(Gateway(config)), http=uvicorn_options(config)["http"])


@pytest.fixture(scope="module")
def gateway(upstream: ServerThread) -> Iterator[ServerThread]:
    """Short read timeouts: the timeout tests wait for them."""
    with _serve(upstream, HEAD_TIMEOUT, BODY_IDLE) as server:
        yield server


@pytest.fixture(scope="module")
def capped(upstream: ServerThread) -> Iterator[ServerThread]:
    """Long read timeouts: held connections stay held however slowly the test runs."""
    with _serve(upstream, 60.0, 60.0) as server:
        yield server


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def _open(gateway: ServerThread, opened: list[socket.socket], source: str) -> socket.socket:
    sock = connect(gateway.port, source)
    opened.append(sock)
    return sock


def _healthz(gateway: ServerThread, source: str = "127.0.0.1") -> int:
    with contextlib.closing(connect(gateway.port, source)) as sock:
        sock.sendall(get("/healthz"))
        return read_response(sock)[0]


def test_a_streamed_head_is_refused_as_soon_as_it_passes_the_limit(
    gateway: ServerThread, sockets: list[socket.socket]
) -> None:
    sock = _open(gateway, sockets, "127.0.0.1")
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nX-Big: ")
    piece, sent, cap = b"a" * 65536, 0, 4 * 1024 * 1024
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        while sent < cap and not select.select([sock], [], [], 0)[0]:
            sock.sendall(piece)
            sent += len(piece)
    status, _, body = read_response(sock)
    assert status == 431
    assert error_code(body) == "headers_too_large"
    assert sent < cap  # answered while the head was still arriving, not after it ended
    assert closed_by_peer(sock, 2.0)


def test_a_head_just_under_the_limit_is_served(gateway: ServerThread) -> None:
    with contextlib.closing(connect(gateway.port)) as sock:
        filler = "a" * (30 * 1024)
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Big: {filler}\r\n\r\n".encode())
        assert read_response(sock)[0] == 200


def test_a_head_trickled_byte_by_byte_is_cut_at_the_head_deadline(
    gateway: ServerThread, sockets: list[socket.socket]
) -> None:
    sock = _open(gateway, sockets, "127.0.0.1")
    started = time.monotonic()
    status = 0
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        for byte in b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Slow: " + b"a" * 200:
            sock.sendall(bytes([byte]))
            if select.select([sock], [], [], 0.1)[0]:
                break
    status, _, body = read_response(sock, timeout=HEAD_TIMEOUT + 3)
    assert status == 408
    assert error_code(body) == "head_timeout"
    assert time.monotonic() - started < HEAD_TIMEOUT + 3


def test_a_connection_that_sends_nothing_is_closed(
    gateway: ServerThread, sockets: list[socket.socket]
) -> None:
    sock = _open(gateway, sockets, "127.0.0.1")
    assert closed_by_peer(sock, HEAD_TIMEOUT + 3)


def test_a_stalled_body_is_cut_and_a_steady_one_is_not(
    gateway: ServerThread, sockets: list[socket.socket]
) -> None:
    body = b'{"model":"inproc-echo","messages":[{"role":"user","content":"hello"}]}'
    head = (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    stalled = _open(gateway, sockets, "127.0.0.1")
    stalled.sendall(head + body[:10])
    steady = _open(gateway, sockets, "127.0.0.1")
    steady.sendall(head)
    for start in range(0, len(body), 12):  # every piece well inside the idle limit
        time.sleep(BODY_IDLE / 10)
        steady.sendall(body[start : start + 12])
    assert read_response(steady)[0] == 200
    status, _, reply = read_response(stalled, timeout=BODY_IDLE + 3)
    assert status == 408
    assert error_code(reply) == "body_timeout"
    assert closed_by_peer(stalled, 2.0)


def test_one_address_holds_at_most_its_share_and_others_keep_service(
    capped: ServerThread, sockets: list[socket.socket]
) -> None:
    for _ in range(PER_CLIENT):  # half-sent heads, held open
        _open(capped, sockets, "127.0.0.2").sendall(b"GET /healthz HTTP/1.1\r\n")
    extra = _open(capped, sockets, "127.0.0.2")
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        extra.sendall(get("/healthz"))
    status, _, body = read_response(extra)
    assert status == 503
    assert error_code(body) == "too_many_client_connections"
    assert _healthz(capped, "127.0.0.3") == 200


def test_the_process_cap_refuses_new_connections_until_attackers_let_go(
    capped: ServerThread, sockets: list[socket.socket]
) -> None:
    attackers = [
        _open(capped, sockets, f"127.0.0.{10 + n // PER_CLIENT}") for n in range(MAX_CONNECTIONS)
    ]
    for sock in attackers:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
    time.sleep(0.2)
    assert _healthz(capped, "127.0.0.30") == 503
    for sock in attackers:
        sock.close()
    deadline = time.monotonic() + 3
    while _healthz(capped, "127.0.0.30") != 200:
        assert time.monotonic() < deadline, "the freed connections were not released"
        time.sleep(0.05)


def test_a_trusted_proxy_is_not_capped_per_address(
    capped: ServerThread, sockets: list[socket.socket]
) -> None:
    held = [_open(capped, sockets, TRUSTED_PROXY) for _ in range(PER_CLIENT + 2)]
    for sock in held:
        sock.sendall(get("/healthz"))
    assert [read_response(sock)[0] for sock in held] == [200] * len(held)
