"""Chunked trailers never act as headers, whatever the packet split; a smuggling table.

The gateway trusts its loopback peer as a proxy (``server.trusted_proxies``), so an
``X-Forwarded-For`` or ``X-Request-Id`` *header* from it is believed: if a trailer field
were taken as a header, the request would come from a blocked address (403) or carry the
client's request id. Every split of the request into two packets is tried.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import gateway_config
from tests.support.raw_http import closed_by_peer, connect, error_code, read_all, read_response
from tests.support.servers import ServerThread
from vallum.cli.serve import uvicorn_options
from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.proxy.app import GatewayApp

BLOCKED = "203.0.113.7"
BODY = b'{"model":"inproc-echo","messages":[{"role":"user","content":"hi"}]}'


@pytest.fixture(scope="module")
def gateway(upstream: ServerThread) -> Iterator[ServerThread]:
    config = build_config(
        gateway_config(
            upstream.url,
            server={"trusted_proxies": ["127.0.0.1/32"]},
            layers=[{"type": "ipblock", "static": [f"{BLOCKED}/32"]}, {"type": "validate"}],
            limits={"max_header_bytes": 8 * 1024},
        )
    )
    http = uvicorn_options(config)["http"]
    with ServerThread(GatewayApp(Gateway(config)), http=http) as server:
        yield server


def _chunked(trailer: bytes, headers: bytes = b"") -> bytes:
    return (
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        + headers
        + b"\r\n%x\r\n" % len(BODY)
        + BODY
        + b"\r\n0\r\n"
        + trailer
        + b"\r\n"
    )


def _send_split(port: int, request: bytes, split: int) -> tuple[int, dict[str, str]]:
    with contextlib.closing(connect(port)) as sock:
        sock.sendall(request[:split])
        time.sleep(0.001)
        sock.sendall(request[split:])
        status, headers, _ = read_response(sock)
        return status, headers


def test_a_forwarded_for_header_from_the_trusted_peer_is_believed(gateway: ServerThread) -> None:
    """The control: the same field as a header does change the client address."""
    request = _chunked(b"", headers=f"X-Forwarded-For: {BLOCKED}\r\n".encode())
    assert _send_split(gateway.port, request, len(request))[0] == 403


def test_trailer_fields_never_act_as_headers_at_any_split(gateway: ServerThread) -> None:
    trailer = f"X-Forwarded-For: {BLOCKED}\r\nX-Request-Id: from-the-trailer\r\n".encode()
    request = _chunked(trailer)
    outcomes = set()
    for split in range(1, len(request)):
        status, headers = _send_split(gateway.port, request, split)
        outcomes.add((status, headers.get("x-request-id") == "from-the-trailer"))
    assert outcomes == {(200, False)}


def test_an_oversized_trailer_is_refused(gateway: ServerThread) -> None:
    with contextlib.closing(connect(gateway.port)) as sock:
        big = b"X-Pad: " + b"a" * 65536 + b"\r\n"
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(_chunked(big * 16))
        status, _, body = read_response(sock)
        assert status == 431
        assert error_code(body) == "trailer_too_large"
        assert closed_by_peer(sock, 2.0)


SMUGGLED = b"GET /v1/models HTTP/1.1\r\nHost: gateway\r\n\r\n"
_POST = b"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"

# Framings that front ends and back ends have read differently (PortSwigger, "HTTP Desync
# Attacks", 2019; RFC 9112 §6.3). Each must be refused outright: one 400, then the close,
# so that nothing after it on the connection is read as a second request.
SMUGGLING = {
    "content-length and transfer-encoding": b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
    "transfer-encoding and content-length": b"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
    "two different content-lengths": b"Content-Length: 4\r\nContent-Length: 40\r\n",
    "content-length list": b"Content-Length: 4, 40\r\n",
    "signed content-length": b"Content-Length: +4\r\n",
    "chunked then identity": b"Transfer-Encoding: chunked, identity\r\n",
    "transfer-encoding not chunked": b"Transfer-Encoding: xchunked\r\n",
    "space before the colon": b"Transfer-Encoding : chunked\r\n",
    "obs-fold transfer-encoding": b"Transfer-Encoding:\r\n chunked\r\n",
    "bare LF line ending": b"Transfer-Encoding: chunked\n",
    "NUL in a header value": b"X-A: a\x00b\r\nContent-Length: 4\r\n",
}


@pytest.mark.parametrize("framing", list(SMUGGLING.values()), ids=list(SMUGGLING))
def test_ambiguous_framing_is_refused_and_nothing_follows(
    gateway: ServerThread, framing: bytes
) -> None:
    with contextlib.closing(connect(gateway.port)) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(_POST + framing + b"\r\n0\r\n\r\n" + SMUGGLED)
        reply = read_all(sock, timeout=3.0)
    assert reply.startswith(b"HTTP/1.1 400 "), reply[:80]
    assert reply.count(b"HTTP/1.1 ") == 1, reply
    assert b'"code":"invalid_http"' in reply
