"""Every rejection in its wire format, request ids, and the SDKs' typed exceptions end to end."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import anthropic
import httpx
import openai
import orjson
import pytest

from tests.e2e.conftest import gateway_config
from tests.support.servers import ServerThread, free_port
from vallum.config import build_config
from vallum.config.models import ProviderConfig
from vallum.gateway import Gateway
from vallum.layers.validate import Validate, ValidateConfig
from vallum.pipeline.chain import Pipeline
from vallum.pipeline.exchange import Exchange
from vallum.pipeline.layer import Deny, Layer, LayerConfig, LayerContext
from vallum.providers.mock import MockModel, MockSettings, mock_asgi_app
from vallum.proxy.app import GatewayApp

DENY_HEADER = "x-test-deny"


@dataclass
class Seen:
    request_id: str
    client_ip: str


class ProbeLayer(Layer[LayerConfig]):
    """Test-only layer: records what it saw and denies on request (x-test-deny: <status>)."""

    name: ClassVar[str] = "test_probe"
    Config: ClassVar[type[LayerConfig]] = LayerConfig
    seen: list[Seen]

    async def on_request(self, exchange: Exchange) -> Deny | None:
        self.seen.append(Seen(exchange.request_id, exchange.client_ip))
        wanted = exchange.headers.get(DENY_HEADER)
        if wanted == "401":
            return Deny(401, "invalid_api_key", "Incorrect API key.", "authentication_error")
        if wanted == "403":
            return Deny(403, "model_not_allowed", "Not for you.", "permission_error")
        if wanted == "429":
            return Deny(
                429,
                "rate_limit_exceeded",
                "Slow down.",
                "rate_limit_error",
                None,
                {"Retry-After": "7"},
            )
        if wanted == "crash":
            raise RuntimeError("the probe layer broke")
        return None


class DirectServer(ServerThread):
    """uvicorn without its own X-Forwarded-For handling, so Vallum's trusted_proxies decides."""

    def __init__(self, app: Any) -> None:
        super().__init__(app)
        self.server.config.proxy_headers = False


async def _capped_sleep(seconds: float) -> None:
    await asyncio.sleep(min(seconds, 0.8))  # mock-slow sleeps 30 s; the gateway gives up first


@dataclass
class Harness:
    gateway: ServerThread
    probe: ProbeLayer


def _build(upstream_url: str, **overrides: Any) -> tuple[GatewayApp, ProbeLayer]:
    raw = gateway_config(upstream_url, **overrides)
    raw["providers"].append(
        {"name": "dead", "type": "openai", "base_url": f"http://127.0.0.1:{free_port()}/v1"}
    )
    raw["providers"].append(
        {
            "name": "dead-anthropic",
            "type": "anthropic",
            "base_url": f"http://127.0.0.1:{free_port()}",
        }
    )
    raw["models"] += [
        {"name": "dead-model", "provider": "dead"},
        {"name": "claude-dead", "provider": "dead-anthropic"},
        {"name": "claude-429", "provider": "local-anthropic", "upstream_model": "mock-error-429"},
        {"name": "claude-500", "provider": "local-anthropic", "upstream_model": "mock-error-500"},
        {"name": "claude-slow", "provider": "local-anthropic", "upstream_model": "mock-slow"},
    ]
    for provider in raw["providers"]:
        if provider["type"] != "mock" and "breaker" in ProviderConfig.model_fields:
            # These tests fail calls on purpose; a tripped breaker would turn later ones into
            # no_healthy_upstream.
            provider["breaker"] = {"failure_threshold": 1000}
    gateway = Gateway(build_config(raw))
    context = LayerContext(clock=gateway.clock, gateway=gateway)
    probe = ProbeLayer(LayerConfig(type="test_probe"), context)
    probe.seen = []
    validate = Validate(ValidateConfig(), context)
    gateway.pipeline = Pipeline([probe, validate], gateway.clock)  # before GatewayApp reads it
    return GatewayApp(gateway), probe


def _closing(app: Any) -> Any:
    """Answer with ``connection: close``: a call the gateway gave up on then ends cleanly."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        async def send_closing(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message["headers"], (b"connection", b"close")]}
            await send(message)

        await app(scope, receive, send_closing)

    return wrapped


@pytest.fixture(scope="module")
def slow_upstream() -> Iterator[ServerThread]:
    model = MockModel(MockSettings(chunks=4), sleep=_capped_sleep)
    with ServerThread(_closing(mock_asgi_app(model))) as server:
        yield server


@pytest.fixture(scope="module")
def harness(slow_upstream: ServerThread) -> Iterator[Harness]:
    app, probe = _build(
        slow_upstream.url, timeouts={"connect": 1.0, "read": 0.5, "total": 1.0, "stream_idle": 0.5}
    )
    with DirectServer(app) as server:
        yield Harness(server, probe)


@pytest.fixture(scope="module")
def trusting(slow_upstream: ServerThread) -> Iterator[Harness]:
    app, probe = _build(slow_upstream.url, server={"trusted_proxies": ["127.0.0.0/8"]})
    with DirectServer(app) as server:
        yield Harness(server, probe)


@pytest.fixture
def oa(harness: Harness) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=f"{harness.gateway.url}/v1", api_key="unused", max_retries=0, timeout=10
    ) as client:
        yield client


@pytest.fixture
def an(harness: Harness) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=harness.gateway.url, api_key="unused", max_retries=0, timeout=10
    ) as client:
        yield client


USER = [{"role": "user", "content": "hi"}]


# -- wire format of every rejection ----------------------------------------------------------


def _openai_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"]
    error: dict[str, Any] = body["error"]
    assert set(error) == {"message", "type", "param", "code", "request_id"}
    assert isinstance(error["message"], str) and error["message"]
    assert error["code"] == code
    assert error["request_id"] == response.headers["x-request-id"]
    assert response.headers["x-request-id"].startswith("req_")
    return error


def _anthropic_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"type", "error", "request_id"}
    assert body["type"] == "error"
    assert body["request_id"] == response.headers["x-request-id"]
    error: dict[str, Any] = body["error"]
    assert {"type", "message"} <= set(error)
    assert error["code"] == code
    return error


@pytest.mark.parametrize(
    ("request_kwargs", "status", "code", "error_type"),
    [
        ({"json": {"messages": USER}}, 400, "missing_required_parameter", "invalid_request_error"),
        ({"json": {"model": "gpt-echo", "messages": "x"}}, 400, "invalid_type", None),
        ({"json": {"model": "gpt-echo", "messages": USER, "n": 99}}, 400, "invalid_value", None),
        (
            {"json": {"model": "gpt-echo", "messages": USER, "bogus": 1}},
            400,
            "unknown_parameter",
            None,
        ),
        ({"json": {"model": "nope", "messages": USER}}, 404, "model_not_found", "not_found_error"),
        (
            {"content": b"{", "headers": {"content-type": "application/json"}},
            400,
            "invalid_json",
            None,
        ),
        (
            {"content": b"{}", "headers": {"content-type": "text/plain"}},
            415,
            "unsupported_media_type",
            None,
        ),
        (
            {"json": {"model": "mock-error-500", "messages": USER}},
            502,
            "upstream_error",
            "api_error",
        ),
        ({"json": {"model": "dead-model", "messages": USER}}, 502, "upstream_error", "api_error"),
        ({"json": {"model": "mock-slow", "messages": USER}}, 504, "upstream_timeout", "api_error"),
        (
            {"json": {"model": "gpt-echo", "messages": USER}, "headers": {DENY_HEADER: "401"}},
            401,
            "invalid_api_key",
            "authentication_error",
        ),
        (
            {"json": {"model": "gpt-echo", "messages": USER}, "headers": {DENY_HEADER: "crash"}},
            503,
            "policy_unavailable",
            "api_error",
        ),
    ],
)
def test_openai_rejections_have_the_openai_shape(
    harness: Harness, request_kwargs: dict[str, Any], status: int, code: str, error_type: str | None
) -> None:
    response = httpx.post(
        f"{harness.gateway.url}/v1/chat/completions", timeout=10, **request_kwargs
    )
    error = _openai_error(response, status, code)
    if error_type is not None:
        assert error["type"] == error_type


def test_validate_errors_name_the_param(harness: Harness) -> None:
    response = httpx.post(
        f"{harness.gateway.url}/v1/chat/completions",
        json={"model": "gpt-echo", "messages": USER, "temperature": 9},
        timeout=10,
    )
    assert _openai_error(response, 400, "invalid_value")["param"] == "temperature"


@pytest.mark.parametrize(
    ("request_kwargs", "status", "code", "error_type"),
    [
        (
            {"content": b"[1]", "headers": {"content-type": "application/json"}},
            400,
            "invalid_json",
            "invalid_request_error",
        ),
        (
            {
                "json": {
                    "model": "claude-echo",
                    "max_tokens": 5,
                    "messages": [{"role": "system", "content": "x"}],
                }
            },
            400,
            "invalid_value",
            "invalid_request_error",
        ),
        (
            {"json": {"model": "nope", "max_tokens": 5, "messages": USER}},
            404,
            "model_not_found",
            "not_found_error",
        ),
        (
            {"json": {"model": "claude-500", "max_tokens": 5, "messages": USER}},
            502,
            "upstream_error",
            "api_error",
        ),
        (
            {"json": {"model": "claude-slow", "max_tokens": 5, "messages": USER}},
            504,
            "upstream_timeout",
            "timeout_error",
        ),
        (
            {
                "json": {"model": "claude-echo", "max_tokens": 5, "messages": USER},
                "headers": {DENY_HEADER: "403"},
            },
            403,
            "model_not_allowed",
            "permission_error",
        ),
    ],
)
def test_anthropic_rejections_have_the_anthropic_shape(
    harness: Harness, request_kwargs: dict[str, Any], status: int, code: str, error_type: str
) -> None:
    response = httpx.post(f"{harness.gateway.url}/v1/messages", timeout=10, **request_kwargs)
    assert _anthropic_error(response, status, code)["type"] == error_type


def test_deny_headers_reach_the_client(harness: Harness) -> None:
    response = httpx.post(
        f"{harness.gateway.url}/v1/chat/completions",
        json={"model": "gpt-echo", "messages": USER},
        headers={DENY_HEADER: "429"},
        timeout=10,
    )
    _openai_error(response, 429, "rate_limit_exceeded")
    assert response.headers["retry-after"] == "7"


def test_successful_responses_carry_a_request_id(harness: Harness) -> None:
    response = httpx.post(
        f"{harness.gateway.url}/v1/chat/completions",
        json={"model": "gpt-echo", "messages": USER},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.headers["x-request-id"].startswith("req_")
    assert harness.probe.seen[-1].request_id == response.headers["x-request-id"]


# -- request ids and client addresses: believed only from trusted proxies -------------------


def _call(gateway: ServerThread, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": "nope", "messages": USER},  # a 404: the id must be on rejections too
        headers=headers,
        timeout=10,
    )


def test_client_request_id_is_ignored_from_an_untrusted_peer(harness: Harness) -> None:
    response = _call(harness.gateway, {"x-request-id": "client-chosen-id"})
    request_id = response.headers["x-request-id"]
    assert request_id != "client-chosen-id"
    assert request_id.startswith("req_")
    assert response.json()["error"]["request_id"] == request_id
    assert harness.probe.seen[-1].request_id == request_id


def test_request_ids_are_unique(harness: Harness) -> None:
    ids = {_call(harness.gateway, {}).headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


def test_request_id_from_a_trusted_proxy_is_kept(trusting: Harness) -> None:
    response = _call(trusting.gateway, {"x-request-id": "lb-1234.abc"})
    assert response.headers["x-request-id"] == "lb-1234.abc"
    assert response.json()["error"]["request_id"] == "lb-1234.abc"
    assert trusting.probe.seen[-1].request_id == "lb-1234.abc"


@pytest.mark.parametrize("given", ["has space", "x" * 129, "semi;colon", 'quote"d'])
def test_malformed_request_id_from_a_trusted_proxy_is_replaced(
    trusting: Harness, given: str
) -> None:
    response = _call(trusting.gateway, {"x-request-id": given})
    assert response.headers["x-request-id"].startswith("req_")


def test_forwarded_for_is_ignored_from_an_untrusted_peer(harness: Harness) -> None:
    _call(harness.gateway, {"x-forwarded-for": "203.0.113.9"})
    assert harness.probe.seen[-1].client_ip == "127.0.0.1"


@pytest.mark.parametrize(
    ("forwarded", "client"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("198.51.100.7, 203.0.113.9", "203.0.113.9"),  # the nearest untrusted hop wins
        ("203.0.113.9, 127.0.0.5", "203.0.113.9"),  # trusted hops are skipped
        ("not-an-ip", "127.0.0.1"),
        ("127.0.0.2", "127.0.0.1"),
    ],
)
def test_forwarded_for_from_a_trusted_proxy(trusting: Harness, forwarded: str, client: str) -> None:
    _call(trusting.gateway, {"x-forwarded-for": forwarded})
    assert trusting.probe.seen[-1].client_ip == client


def test_serve_leaves_forwarded_headers_to_vallum(monkeypatch: pytest.MonkeyPatch) -> None:
    """uvicorn's proxy_headers would rewrite the client address from X-Forwarded-For for
    loopback peers, bypassing server.trusted_proxies."""
    import uvicorn

    from vallum.cli.serve import demo_config, serve

    captured: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: captured.update(options))
    serve(demo_config(free_port()))
    assert captured.get("proxy_headers") is False


# -- the SDKs raise their typed exceptions ---------------------------------------------------


def test_openai_sdk_bad_request(oa: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oa.chat.completions.create(model="gpt-echo", messages=USER, n=50)  # type: ignore[arg-type]
    assert caught.value.status_code == 400
    assert caught.value.code == "invalid_value"
    assert caught.value.param == "n"


def test_openai_sdk_not_found(oa: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        oa.chat.completions.create(model="no-such-model", messages=USER)  # type: ignore[arg-type]
    assert caught.value.code == "model_not_found"


def test_openai_sdk_rate_limit_is_relayed_with_retry_after(oa: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        oa.chat.completions.create(model="mock-error-429", messages=USER)  # type: ignore[arg-type]
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.response.headers["x-request-id"].startswith("req_")


def test_openai_sdk_upstream_500_is_a_502(oa: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        oa.chat.completions.create(model="mock-error-500", messages=USER)  # type: ignore[arg-type]
    assert caught.value.status_code == 502
    assert caught.value.code == "upstream_error"


def test_openai_sdk_slow_upstream_is_a_504(oa: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        oa.chat.completions.create(model="mock-slow", messages=USER)  # type: ignore[arg-type]
    assert caught.value.status_code == 504
    assert caught.value.code == "upstream_timeout"


def test_openai_sdk_client_timeout(harness: Harness) -> None:
    with (
        openai.OpenAI(
            base_url=f"{harness.gateway.url}/v1", api_key="x", max_retries=0, timeout=0.2
        ) as client,
        pytest.raises(openai.APITimeoutError),
    ):
        client.chat.completions.create(model="mock-slow", messages=USER)  # type: ignore[arg-type]


def test_openai_sdk_closed_upstream_port_is_a_502(oa: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        oa.chat.completions.create(model="dead-model", messages=USER)  # type: ignore[arg-type]
    assert caught.value.status_code == 502


def test_openai_sdk_authentication_error_from_a_layer(harness: Harness) -> None:
    with (
        openai.OpenAI(
            base_url=f"{harness.gateway.url}/v1",
            api_key="x",
            max_retries=0,
            default_headers={DENY_HEADER: "401"},
        ) as client,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        client.chat.completions.create(model="gpt-echo", messages=USER)  # type: ignore[arg-type]
    assert caught.value.code == "invalid_api_key"
    assert harness.probe.seen[-1].request_id == caught.value.response.headers["x-request-id"]


def test_openai_sdk_streaming_request_denied_before_the_stream(harness: Harness) -> None:
    with (
        openai.OpenAI(
            base_url=f"{harness.gateway.url}/v1",
            api_key="x",
            max_retries=0,
            default_headers={DENY_HEADER: "403"},
        ) as client,
        pytest.raises(openai.PermissionDeniedError),
    ):
        client.chat.completions.create(model="gpt-echo", messages=USER, stream=True)  # type: ignore[arg-type]


def test_anthropic_sdk_bad_request(an: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        an.messages.create(model="claude-echo", max_tokens=10**9, messages=USER)  # type: ignore[arg-type]
    assert caught.value.status_code == 400
    assert caught.value.body["error"]["code"] == "max_tokens_too_large"  # type: ignore[index]


def test_anthropic_sdk_not_found(an: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.NotFoundError):
        an.messages.create(model="nope", max_tokens=5, messages=USER)  # type: ignore[arg-type]


def test_anthropic_sdk_rate_limit(an: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.RateLimitError) as caught:
        an.messages.create(model="claude-429", max_tokens=5, messages=USER)  # type: ignore[arg-type]
    assert caught.value.response.headers["retry-after"] == "1"


def test_anthropic_sdk_upstream_failures(an: anthropic.Anthropic) -> None:
    for model, status in (("claude-500", 502), ("claude-dead", 502), ("claude-slow", 504)):
        with pytest.raises(anthropic.InternalServerError) as caught:
            an.messages.create(model=model, max_tokens=5, messages=USER)  # type: ignore[arg-type]
        assert caught.value.status_code == status


def test_anthropic_sdk_authentication_error_from_a_layer(harness: Harness) -> None:
    with (
        anthropic.Anthropic(
            base_url=harness.gateway.url,
            api_key="x",
            max_retries=0,
            default_headers={DENY_HEADER: "401"},
        ) as client,
        pytest.raises(anthropic.AuthenticationError) as caught,
    ):
        client.messages.create(model="claude-echo", max_tokens=5, messages=USER)  # type: ignore[arg-type]
    assert caught.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]


# -- a client that disconnects cancels the upstream call -------------------------------------


@dataclass
class SlowStreamUpstream:
    """An OpenAI-shaped upstream streaming one event every 100 ms, recording the disconnect."""

    started: threading.Event = field(default_factory=threading.Event)
    gone: threading.Event = field(default_factory=threading.Event)
    events_sent: int = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        while (await receive()).get("more_body"):
            pass
        self.started.set()
        watcher = asyncio.ensure_future(self._watch(receive))
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"text/event-stream")],
            }
        )
        try:
            for index in range(600):  # a minute of events unless the gateway hangs up
                if self.gone.is_set():
                    return
                chunk = {
                    "id": "c1",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": "slow",
                    "choices": [
                        {"index": 0, "delta": {"content": f"w{index} "}, "finish_reason": None}
                    ],
                }
                await send(
                    {
                        "type": "http.response.body",
                        "body": b"data: " + orjson.dumps(chunk) + b"\n\n",
                        "more_body": True,
                    }
                )
                self.events_sent += 1
                await asyncio.sleep(0.1)
            await send({"type": "http.response.body", "body": b"data: [DONE]\n\n"})
        finally:
            watcher.cancel()

    async def _watch(self, receive: Any) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        self.gone.set()


def test_client_disconnect_mid_stream_cancels_the_upstream_call() -> None:
    upstream_app = SlowStreamUpstream()
    with ServerThread(upstream_app) as upstream:
        config = build_config(
            {
                "providers": [{"name": "up", "type": "openai", "base_url": f"{upstream.url}/v1"}],
                "models": [{"name": "slow", "provider": "up"}],
                "storage": {"url": "memory://", "counters_url": "memory://"},
                "layers": [{"type": "validate"}],
            }
        )
        with ServerThread(GatewayApp(Gateway(config))) as gateway:
            body = orjson.dumps({"model": "slow", "messages": USER, "stream": True})
            head = (
                "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
                sock.sendall(head + body)
                received = b""
                while b"data: " not in received:
                    chunk = sock.recv(4096)
                    assert chunk, "the gateway closed before the first event"
                    received += chunk
                assert b" 200 " in received.split(b"\r\n", 1)[0]
            assert upstream_app.started.is_set()
            deadline = time.monotonic() + 10
            while not upstream_app.gone.is_set() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert upstream_app.gone.is_set(), "the upstream call was not cancelled"
            assert upstream_app.events_sent < 600
