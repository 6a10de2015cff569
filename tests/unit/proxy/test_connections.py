"""The connection guard's accounting, the raw refusals' shape, the start-up retry's pacing."""

from __future__ import annotations

import asyncio
import ipaddress

import orjson
import pytest

from vallum.clock import FakeClock
from vallum.errors import ConfigError, StorageError
from vallum.pipeline.layer import Deny
from vallum.proxy.connections import ConnectionGuard, ConnectionLimits, raw_error
from vallum.storage import opening
from vallum.storage.opening import open_with_retry


def _guard(total: int = 4, per_client: int = 2) -> ConnectionGuard:
    exempt = (ipaddress.ip_network("10.0.0.0/8"),)
    limits = ConnectionLimits(
        max_connections=total, max_connections_per_client=per_client, exempt=exempt
    )
    return ConnectionGuard(limits)


def test_per_client_and_total_caps_and_release() -> None:
    guard = _guard()
    assert [guard.admit("192.0.2.1") for _ in range(3)] == [
        None,
        None,
        "too_many_client_connections",
    ]
    assert guard.held_by("192.0.2.1") == 2
    assert guard.admit("192.0.2.2") is None
    assert guard.admit("192.0.2.3") is None
    assert guard.admit("192.0.2.4") == "too_many_connections"
    guard.release("192.0.2.1")
    assert guard.held_by("192.0.2.1") == 1
    assert guard.admit("192.0.2.4") is None
    assert guard.total == 4


def test_exempt_peers_count_only_in_the_total() -> None:
    guard = _guard(total=16, per_client=1)
    assert [guard.admit("10.1.2.3") for _ in range(5)] == [None] * 5
    assert guard.held_by("10.1.2.3") == 0
    for _ in range(5):
        guard.release("10.1.2.3")
    assert guard.total == 0


def test_raw_error_is_a_closing_response_in_the_wire_format() -> None:
    deny = Deny(431, "headers_too_large", "The request headers are too large.")
    raw = raw_error(deny, b"/v1/messages", "req_abc")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert b"connection: close" in head and b"x-request-id: req_abc" in head
    assert b"content-length: %d" % len(body) in head
    payload = orjson.loads(body)
    assert payload["type"] == "error" and payload["error"]["code"] == "headers_too_large"
    openai = orjson.loads(raw_error(deny, b"/v1/chat/completions", "req_abc").split(b"\r\n\r\n")[1])
    assert openai["error"]["request_id"] == "req_abc"


def test_start_up_retry_backs_off_until_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    waits: list[float] = []

    async def unreachable(url: str, **_: object) -> None:
        raise StorageError("storage backend unavailable")

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock.advance(seconds)

    monkeypatch.setattr(opening, "open_storage", unreachable)
    with pytest.raises(StorageError, match="unreachable at start-up"):
        asyncio.run(
            open_with_retry(
                "postgresql://db/x", clock=clock, connect_timeout=1, start_timeout=12, sleep=sleep
            )
        )
    assert waits == [0.25, 0.5, 1.0, 2.0, 4.0, 4.25]  # doubling, the last cut to the deadline


def test_a_config_error_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    async def bad_url(url: str, **_: object) -> None:
        calls.append(url)
        raise ConfigError("unknown storage URL scheme")

    monkeypatch.setattr(opening, "open_storage", bad_url)
    with pytest.raises(ConfigError):
        asyncio.run(
            open_with_retry("nope://x", clock=FakeClock(), connect_timeout=1, start_timeout=30)
        )
    assert calls == ["nope://x"]
