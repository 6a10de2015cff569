"""The proxy as a raw ASGI application: every model route runs the same pipeline."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import re
import ssl
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson

from vallum.errors import (
    MethodNotAllowed,
    NotFound,
    RequestRejected,
    UpstreamError,
    VallumError,
)
from vallum.gateway import Gateway
from vallum.pipeline.exchange import Endpoint, Exchange, NormalizedRequest, WireFormat
from vallum.pipeline.layer import Deny, Outcome
from vallum.proxy.body import ClientGone, decode_json, read_body
from vallum.proxy.forward import Forwarder, Responder
from vallum.proxy.identifiers import check_identifiers
from vallum.proxy.refusal import refusal_body

__all__ = ["GatewayApp"]

log = logging.getLogger("vallum.proxy")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_IDS_PER_DRAW = 256
_INTERNAL = Deny(500, "internal_error", "The gateway failed to handle the request.", "api_error")
# Bodies larger than this are decoded and parsed in a worker thread: a flood of tiny parts
# costs parse time per part, and the event loop must not stall on it.
_PARSE_ON_LOOP_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class _RouteSpec:
    wire: WireFormat
    endpoint: Endpoint
    method: str


# Exact paths only: no prefix matching, no normalisation that could route around checks.
_ROUTES = {
    "/v1/chat/completions": _RouteSpec(WireFormat.OPENAI, Endpoint.CHAT, "POST"),
    "/v1/completions": _RouteSpec(WireFormat.OPENAI, Endpoint.COMPLETIONS, "POST"),
    "/v1/embeddings": _RouteSpec(WireFormat.OPENAI, Endpoint.EMBEDDINGS, "POST"),
    "/v1/responses": _RouteSpec(WireFormat.OPENAI, Endpoint.RESPONSES, "POST"),
    "/v1/models": _RouteSpec(WireFormat.OPENAI, Endpoint.MODELS, "GET"),
    "/v1/messages": _RouteSpec(WireFormat.ANTHROPIC, Endpoint.MESSAGES, "POST"),
}


class GatewayApp:
    """ASGI 3 callable serving one Gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.limits = gateway.config.limits
        self.forwarder = Forwarder(gateway)
        self._trusted = [
            ipaddress.ip_network(cidr, strict=False)
            for cidr in gateway.config.server.trusted_proxies
        ]
        # Request ids: 96 bits each from os.urandom, drawn 256 at a time (one syscall, one
        # hex pass). Filled on first use, so a pool never crosses a worker fork.
        self._id_pool = ""
        self._id_next = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.gateway.start()
                except VallumError as exc:
                    await send({"type": "lifespan.startup.failed", "message": exc.public_message})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.gateway.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Route on the path exactly as sent: a percent-encoded spelling of a route is not it.
        raw_path = scope.get("raw_path")
        path: str = raw_path.decode("latin-1") if raw_path is not None else scope["path"]
        if path in ("/healthz", "/readyz"):
            await self._health(path, send)
            return
        headers, header_bytes = _headers(scope)
        peer = (scope.get("client") or ("0.0.0.0", 0))[0]  # noqa: S104 - a placeholder, never bound
        trusted = self._is_trusted(peer)
        spec = _ROUTES.get(path)
        exchange = Exchange(
            request_id=self._request_id(headers, trusted),
            method=scope["method"],
            path=path,
            client_ip=self._client_ip(peer, headers, trusted),
            headers=headers,
            started=self.gateway.clock.monotonic(),
            wire=spec.wire if spec else WireFormat.OPENAI,
            endpoint=spec.endpoint if spec else None,
            client_cert=_verified_client_cert(scope),
            peer_ip=peer,
        )
        responder = Responder(send, exchange)
        try:
            if header_bytes > self.limits.max_header_bytes:
                await responder.error(
                    Deny(431, "headers_too_large", "The request headers are too large.")
                )
            elif spec is None:
                raise NotFound("Unknown route.", code="unknown_route")
            elif scope["method"] != spec.method:
                raise MethodNotAllowed(
                    f"Use {spec.method} on this route.", headers={"allow": spec.method}
                )
            else:
                await self._serve(spec, exchange, receive, responder)
        except RequestRejected as error:
            await responder.error(Deny.from_error(error))
        except UpstreamError as error:
            log.warning(
                "upstream failed", extra={"request_id": exchange.request_id, **error.context}
            )
            await responder.error(Deny(error.status, error.code, error.public_message, "api_error"))
        except ClientGone:
            exchange.stream_outcome = "client_disconnected"
            exchange.status = 499
        except Exception:
            log.exception("unhandled error", extra={"request_id": exchange.request_id})
            await responder.error(_INTERNAL)
        finally:
            await self._complete(exchange)

    async def _serve(
        self, spec: _RouteSpec, exchange: Exchange, receive: Receive, responder: Responder
    ) -> None:
        pipeline = self.gateway.pipeline
        # An empty phase is skipped here: no coroutine, no guard, for layers that do not exist.
        deny = await pipeline.on_headers(exchange) if pipeline.header_layers else None
        if deny is not None:
            await responder.error(deny)
            return
        if spec.method == "POST":
            body = await read_body(receive, exchange.headers, self.limits)
            content_type = exchange.headers.get("content-type")
            if len(body) > _PARSE_ON_LOOP_BYTES:
                exchange.request = await asyncio.to_thread(self._parse, spec, body, content_type)
            else:
                exchange.request = self._parse(spec, body, content_type)
            check_identifiers(exchange.request)
            if exchange.request.message_count > self.limits.max_messages:
                raise RequestRejected(
                    "The request has too many messages.", code="too_many_messages"
                )
        deny = await pipeline.on_request(exchange) if pipeline.request_layers else None
        if deny is not None:
            await self._refuse_or_deny(exchange, deny, responder)
            return
        if spec.endpoint is Endpoint.MODELS:
            await responder.json(200, self.forwarder.models_body(exchange))
            return
        await self.forwarder.forward(exchange, receive, responder)

    def _parse(self, spec: _RouteSpec, body: bytes, content_type: str | None) -> NormalizedRequest:
        data = decode_json(body, content_type, self.limits.max_json_depth)
        return _normalize(spec, data, self.limits.max_parts)

    async def _refuse_or_deny(self, exchange: Exchange, deny: Deny, responder: Responder) -> None:
        """A policy may ask for a block to be answered as a 200 refusal (``content_filter``)."""
        refusal = refusal_body(exchange, deny.message) if getattr(deny, "refusal", False) else None
        if refusal is None:
            await responder.error(deny)
            return
        body, is_stream = refusal
        exchange.error_code = deny.code  # the audit record keeps why, the client sees a refusal
        if is_stream:
            await responder.start_stream()
            exchange.stream_outcome = "refused"
            await responder.end(body)
        else:
            await responder.json(200, body)

    async def _complete(self, exchange: Exchange) -> None:
        if not self.gateway.pipeline.complete_layers:
            return
        outcome = Outcome(
            status=exchange.status or 0,
            error_code=exchange.error_code,
            decided_by=exchange.decided_by,
            duration=self.gateway.clock.monotonic() - exchange.started,
        )
        await self.gateway.pipeline.on_complete(exchange, outcome)

    async def _health(self, path: str, send: Send) -> None:
        """``/healthz``: the process answers. ``/readyz``: started, and every readiness
        probe (shared backends reachable, change feeds subscribed) says ready."""
        ready = path == "/healthz" or self.gateway.started
        body = b'{"status":"ok"}' if ready else b'{"status":"starting"}'
        if ready and path == "/readyz":
            waiting = await self.gateway.readiness.waiting()
            if waiting:
                ready = False
                body = orjson.dumps({"status": "not_ready", "waiting": waiting})
        await send(
            {
                "type": "http.response.start",
                "status": 200 if ready else 503,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _is_trusted(self, peer: str) -> bool:
        if not self._trusted:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self._trusted)

    def _request_id(self, headers: dict[str, str], trusted: bool) -> str:
        if trusted:
            given = headers.get("x-request-id")
            if given is not None and _REQUEST_ID.match(given):
                return given
        start = self._id_next
        if start >= len(self._id_pool):
            self._id_pool = os.urandom(12 * _IDS_PER_DRAW).hex()
            start = 0
        self._id_next = start + 24
        return "req_" + self._id_pool[start : start + 24]

    def _client_ip(self, peer: str, headers: dict[str, str], trusted: bool) -> str:
        forwarded = headers.get("x-forwarded-for") if trusted else None
        if not forwarded:
            return peer
        # Walk from the nearest hop outwards; the first address we do not trust is the client.
        for hop in reversed([h.strip() for h in forwarded.split(",")]):
            if not self._is_trusted(hop):
                try:
                    return str(ipaddress.ip_address(hop))
                except ValueError:
                    return peer
        return peer


def _verified_client_cert(scope: Scope) -> bytes | None:
    """DER of the client certificate our TLS handshake verified (ASGI TLS extension), or None.

    Filled by ``server_protocol.VallumHttpProtocol`` only; never taken from a header.
    """
    extensions = scope.get("extensions")
    tls = extensions.get("tls") if extensions else None
    chain = tls.get("client_cert_chain") if tls else None
    if not chain:
        return None
    try:
        return ssl.PEM_cert_to_DER_cert(chain[0])
    except (ValueError, TypeError):
        return None


def _headers(scope: Scope) -> tuple[dict[str, str], int]:
    headers: dict[str, str] = {}
    size = 0
    for raw_name, raw_value in scope["headers"]:
        size += len(raw_name) + len(raw_value) + 4
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        # Repeated headers are joined, so no layer can be shown one copy and the upstream another.
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers, size


def _normalize(spec: _RouteSpec, data: dict[str, Any], max_parts: int) -> NormalizedRequest:
    if spec.wire is WireFormat.ANTHROPIC:
        from vallum.providers import anthropic

        return anthropic.normalize_request(data, max_parts=max_parts)
    from vallum.providers import openai

    return openai.normalize_request(spec.endpoint, data, max_parts=max_parts)
