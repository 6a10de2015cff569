"""Rate limits end to end: real gateways on loopback, the official SDK, Redis shared or failing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.e2e.conftest import gateway_config
from tests.support.servers import ServerThread
from tests.unit.ratelimit.tcp_proxy import TcpProxy
from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.proxy.app import GatewayApp

CHAT = {"model": "gpt-echo", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16}


def start(upstream_url: str, layer: dict[str, Any], **overrides: Any) -> ServerThread:
    config = gateway_config(upstream_url, layers=[{"tokenizer": "estimate", **layer}], **overrides)
    return ServerThread(GatewayApp(Gateway(build_config(config)))).__enter__()


@pytest.fixture
def servers() -> Iterator[list[ServerThread]]:
    running: list[ServerThread] = []
    yield running
    for server in running:
        server.__exit__(None, None, None)


def client(server: ServerThread, retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="sk-test", max_retries=retries)


def test_sdk_sees_rate_limit_error_with_openai_headers(
    upstream: ServerThread, servers: list[ServerThread]
) -> None:
    layer = {"type": "ratelimit", "limits": [{"scope": "ip", "requests_per_minute": 2}]}
    servers.append(gw := start(upstream.url, layer))
    sdk = client(gw)
    raw = sdk.chat.completions.with_raw_response.create(**CHAT)
    assert raw.headers["x-ratelimit-limit-requests"] == "2"
    assert raw.headers["x-ratelimit-remaining-requests"] == "1"
    sdk.chat.completions.create(**CHAT)
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(**CHAT)
    error = caught.value
    assert error.code == "rate_limit_exceeded"
    assert error.response.headers["x-ratelimit-remaining-requests"] == "0"
    assert 1 <= int(error.response.headers["retry-after"]) <= 120


def test_sdk_retries_honour_retry_after(
    upstream: ServerThread, servers: list[ServerThread]
) -> None:
    layer = {"type": "ratelimit", "limits": [{"scope": "ip", "requests_per_second": 2}]}
    servers.append(gw := start(upstream.url, layer))
    sdk = client(gw, retries=2)
    for _ in range(2):
        sdk.chat.completions.create(**CHAT)
    # the burst is spent; the SDK waits retry-after-ms (about 0.5 s) and then gets through
    reply = sdk.chat.completions.create(**CHAT)
    assert reply.choices[0].message.content


def test_cancelled_stream_releases_its_concurrency_slot(
    upstream: ServerThread, servers: list[ServerThread]
) -> None:
    slow = {"name": "inproc", "type": "mock", "mock": {"chunks": 200, "chunk_gap": 0.05}}
    config_providers = [*gateway_config(upstream.url)["providers"][:2], slow]
    layer = {"type": "ratelimit", "limits": [{"scope": "ip", "max_concurrent": 1}]}
    servers.append(gw := start(upstream.url, layer, providers=config_providers))
    # A long echo, so the stream really has 200 events 50 ms apart (~10 s): it is still open
    # when the second call arrives, however slow the machine.
    long_text = " ".join(f"w{i}" for i in range(400))
    body = {
        **CHAT,
        "model": "inproc-echo",
        "stream": True,
        "messages": [{"role": "user", "content": long_text}],
    }
    with httpx.Client(base_url=gw.url, timeout=5) as http:
        with http.stream("POST", "/v1/chat/completions", json=body) as stream:
            assert stream.status_code == 200
            next(stream.iter_bytes())
            busy = http.post("/v1/chat/completions", json=body)
            assert busy.status_code == 429  # the one slot is taken by the open stream
        # the client went away mid-stream: the slot comes back without waiting for the TTL
        deadline = time.monotonic() + 5
        while True:
            with http.stream("POST", "/v1/chat/completions", json=body) as again:
                if again.status_code == 200 or time.monotonic() > deadline:
                    break
            time.sleep(0.05)
        assert again.status_code == 200


async def _burst(urls: list[str], count: int) -> list[int]:
    async with httpx.AsyncClient(timeout=10) as http:
        calls = [
            http.post(f"{urls[i % len(urls)]}/v1/chat/completions", json=CHAT) for i in range(count)
        ]
        return [r.status_code for r in await asyncio.gather(*calls)]


def test_instances_sharing_redis_admit_exactly_the_limit(
    upstream: ServerThread, servers: list[ServerThread], redis_url: str, unique_prefix: str
) -> None:
    layer = {
        "type": "ratelimit",
        "url": redis_url,
        "key_prefix": unique_prefix,
        "backend_timeout": 10,  # a loaded CI machine opens 40 connections at once
        "limits": [{"scope": "global", "requests_per_minute": 10}],
    }
    for _ in range(3):
        servers.append(start(upstream.url, layer))
    statuses = asyncio.run(_burst([s.url for s in servers], 40))
    assert statuses.count(200) == 10
    assert statuses.count(429) == 30


@pytest.mark.parametrize(("mode", "expected"), [("closed", 503), ("open", 200)])
def test_redis_stopped_mid_test_and_recovery(
    upstream: ServerThread,
    servers: list[ServerThread],
    redis_url: str,
    unique_prefix: str,
    mode: str,
    expected: int,
) -> None:
    proxy = TcpProxy(6379).start()
    try:
        layer = {
            "type": "ratelimit",
            "url": proxy.url,
            "key_prefix": unique_prefix,
            "on_error": mode,
            "backend_timeout": 0.3,
            "limits": [{"scope": "ip", "requests_per_minute": 100}],
        }
        servers.append(gw := start(upstream.url, layer))
        with httpx.Client(base_url=gw.url, timeout=10) as http:
            assert http.post("/v1/chat/completions", json=CHAT).status_code == 200
            proxy.stop()
            failed = http.post("/v1/chat/completions", json=CHAT)
            assert failed.status_code == expected
            if expected == 503:
                assert failed.json()["error"]["code"] == "rate_limiter_unavailable"
            proxy = TcpProxy(6379, port=proxy.port).start()
            recovered = http.post("/v1/chat/completions", json=CHAT)
            assert recovered.status_code == 200
            assert recovered.headers["x-ratelimit-remaining-requests"] == "98"  # never per-instance
    finally:
        proxy.stop()


def _slow_stream_setup(upstream: ServerThread) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """A provider whose streams run ~10 s (200 events 50 ms apart), and such a call."""
    slow = {"name": "inproc", "type": "mock", "mock": {"chunks": 200, "chunk_gap": 0.05}}
    providers = [*gateway_config(upstream.url)["providers"][:2], slow]
    long_text = " ".join(f"w{i}" for i in range(400))
    body = {
        **CHAT,
        "model": "inproc-echo",
        "stream": True,
        "max_tokens": 1000,
        "messages": [{"role": "user", "content": long_text}],
    }
    return providers, body


def _leases_held(redis_url: str, prefix: str) -> int:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        now = time.time()
        return sum(
            int(client.zcount(key, now, "+inf"))
            for key in client.scan_iter(match="{" + prefix + ":rl}:*conc")
        )
    finally:
        client.close()


def test_a_redis_stall_longer_than_the_timeout_leaves_no_slot_taken(
    upstream: ServerThread, servers: list[ServerThread], redis_url: str, unique_prefix: str
) -> None:
    """Two calls whose reserves time out in a stall (503) but run in Redis when it ends:
    their leases are released by id, so both slots are free again within 5 s."""
    proxy = TcpProxy(6379).start()
    try:
        layer = {
            "type": "ratelimit",
            "url": proxy.url,
            "key_prefix": unique_prefix,
            "backend_timeout": 0.3,
            "limits": [{"scope": "ip", "max_concurrent": 2}],
        }
        providers, body = _slow_stream_setup(upstream)
        servers.append(gw := start(upstream.url, layer, providers=providers))

        async def stalled() -> list[int]:
            async with httpx.AsyncClient(base_url=gw.url, timeout=10) as http:
                assert (await http.post("/v1/chat/completions", json=CHAT)).status_code == 200
                proxy.pause()
                replies = await asyncio.gather(
                    *[http.post("/v1/chat/completions", json=CHAT) for _ in range(2)]
                )
                return [r.status_code for r in replies]

        assert asyncio.run(stalled()) == [503, 503]
        proxy.resume()
        recovered = time.monotonic()
        while _leases_held(redis_url, unique_prefix) and time.monotonic() - recovered < 5:
            time.sleep(0.05)
        assert _leases_held(redis_url, unique_prefix) == 0
        with (
            httpx.Client(base_url=gw.url, timeout=10) as http,
            http.stream("POST", "/v1/chat/completions", json=body) as one,
            http.stream("POST", "/v1/chat/completions", json=body) as two,
        ):
            assert (one.status_code, two.status_code) == (200, 200)  # both slots are free
            busy = http.post("/v1/chat/completions", json=CHAT)
            assert busy.status_code == 429
            error = busy.json()["error"]
            assert (error["code"], error["type"]) == ("rate_limit_exceeded", "concurrency")
            assert "concurrent requests" in error["message"]
            assert busy.headers["retry-after"] == "1"
    finally:
        proxy.stop()


def test_a_stream_longer_than_the_lease_ttl_keeps_its_slot(
    upstream: ServerThread, servers: list[ServerThread], redis_url: str, unique_prefix: str
) -> None:
    """Leases of 3 s renewed every second: a ~10 s stream keeps its one slot throughout."""
    layer = {
        "type": "ratelimit",
        "url": redis_url,
        "key_prefix": unique_prefix,
        "lease_ttl": 3,
        "limits": [{"scope": "ip", "max_concurrent": 1}],
    }
    providers, body = _slow_stream_setup(upstream)
    timeouts = {"read": 2.0, "total": 30.0, "stream_idle": 2.0}
    servers.append(gw := start(upstream.url, layer, providers=providers, timeouts=timeouts))
    with (
        httpx.Client(base_url=gw.url, timeout=10) as http,
        http.stream("POST", "/v1/chat/completions", json=body) as stream,
    ):
        assert stream.status_code == 200
        chunks = stream.iter_bytes()
        next(chunks)
        started = time.monotonic()
        while time.monotonic() - started < 4.5:  # past the TTL: renewed, not expired
            next(chunks)
        assert http.post("/v1/chat/completions", json=CHAT).status_code == 429


# --- streams: usage asked for and hidden, or counted from the streamed text ---

STREAM_TEXT = "one two three four five six seven eight nine ten"


def _start_with_layer(
    upstream_url: str, layer: dict[str, Any], servers: list[ServerThread]
) -> tuple[ServerThread, Any]:
    config = gateway_config(upstream_url, layers=[{"tokenizer": "estimate", **layer}])
    gateway = Gateway(build_config(config))
    servers.append(server := ServerThread(GatewayApp(gateway)).__enter__())
    return server, next(lay for lay in gateway.pipeline.layers if lay.name == "ratelimit")


def _settled(ratelimit: Any) -> None:
    """Settling runs after the last byte reached the client: wait until it has run."""
    deadline = time.monotonic() + 5
    while ratelimit._pending and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not ratelimit._pending


def _remaining_tokens(headers: Any) -> int:
    return int(headers["x-ratelimit-remaining-tokens"])


STREAM_CHAT = {**CHAT, "messages": [{"role": "user", "content": STREAM_TEXT}], "max_tokens": 500}


def test_stream_usage_is_hidden_from_the_client_and_settles_to_real_usage(
    upstream: ServerThread, servers: list[ServerThread]
) -> None:
    limit = 100_000
    layer = {
        "type": "ratelimit",
        "stream_usage": True,
        "limits": [{"scope": "ip", "tokens_per_minute": limit}],
    }
    gw, ratelimit = _start_with_layer(upstream.url, layer, servers)
    sdk = client(gw)
    raw = sdk.chat.completions.with_raw_response.create(**STREAM_CHAT, stream=True)
    reserved = limit - _remaining_tokens(raw.headers)
    chunks = list(raw.parse())
    assert chunks and all(c.usage is None and c.choices for c in chunks)  # no usage chunk
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert text == STREAM_TEXT
    _settled(ratelimit)
    # the same call, unstreamed: its usage is what the upstream counted for the stream too
    second = sdk.chat.completions.with_raw_response.create(**STREAM_CHAT)
    usage = second.parse().usage
    assert usage is not None
    charged_first = limit - _remaining_tokens(second.headers) - reserved
    assert charged_first == usage.total_tokens < reserved  # settled, not the reservation


def test_stream_without_usage_settles_from_the_counted_text(
    upstream: ServerThread, servers: list[ServerThread]
) -> None:
    limit = 100_000
    layer = {"type": "ratelimit", "limits": [{"scope": "ip", "tokens_per_minute": limit}]}
    gw, ratelimit = _start_with_layer(upstream.url, layer, servers)
    sdk = client(gw)
    raw = sdk.chat.completions.with_raw_response.create(**STREAM_CHAT, stream=True)
    reserved = limit - _remaining_tokens(raw.headers)
    prompt_estimate = reserved - STREAM_CHAT["max_tokens"]
    chunks = list(raw.parse())
    assert all(c.usage is None for c in chunks)  # the upstream was not asked for usage
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == STREAM_TEXT
    _settled(ratelimit)
    second = sdk.chat.completions.with_raw_response.create(**STREAM_CHAT, stream=True)
    list(second.parse())
    charged_first = limit - _remaining_tokens(second.headers) - reserved
    # ceil(utf-8 bytes / 4): the documented estimate for a non-OpenAI model name
    assert charged_first == prompt_estimate + -(-len(text.encode()) // 4)


def test_stream_cut_at_the_output_limit_ends_with_finish_reason_length(
    upstream: ServerThread, servers: list[ServerThread]
) -> None:
    layer = {
        "type": "ratelimit",
        "stream_cut": True,
        "default_max_tokens": 8,
        "limits": [{"scope": "ip", "output_tokens_per_minute": 40}],
    }
    gw, ratelimit = _start_with_layer(upstream.url, layer, servers)
    sdk = client(gw)
    text = " ".join(f"word{i:02d}" for i in range(60))  # 419 bytes, echoed in 12 events
    body = {"model": "gpt-echo", "messages": [{"role": "user", "content": text}]}
    chunks = list(sdk.chat.completions.create(**body, stream=True))
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    # 8 reserved + 32 left = 40 output tokens: 160 bytes under the bytes/4 estimate
    assert content == text[:160]
    assert [c.choices[0].finish_reason for c in chunks][-2:] == [None, "length"]
    _settled(ratelimit)
    # an embedding costs no output tokens: it reads the output counter as settled
    probe = sdk.embeddings.with_raw_response.create(model="mock-embed", input="x")
    assert probe.headers["x-ratelimit-limit-tokens"] == "40"
    assert probe.headers["x-ratelimit-remaining-tokens"] == "0"  # the 40 sent, not the 8
