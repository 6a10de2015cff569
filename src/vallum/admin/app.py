"""The admin API as a raw ASGI app on its own listener; routes come from ``routes.ROUTES``."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson

from vallum.admin.anomaly_routes import ANOMALY_ROUTES
from vallum.admin.routes import ROUTES, AdminRequest, Route, dumps, parse_query
from vallum.errors import RequestRejected, StorageError, VallumError

if TYPE_CHECKING:
    from vallum.gateway import Gateway

__all__ = ["ALL_ROUTES", "AdminApp"]

log = logging.getLogger("vallum.admin")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_MAX_BODY = 1 << 20


def _compile(path: str) -> re.Pattern[str]:
    return re.compile(
        "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[A-Za-z0-9._-]{1,128})", re.escape(path)) + "$"
    )


# The route table of every admin module, in the order they are listed in the OpenAPI document.
ALL_ROUTES: list[Route] = [*ROUTES, *ANOMALY_ROUTES]


class AdminApp:
    """ASGI 3 callable: bearer-token auth, route table dispatch, JSON errors."""

    def __init__(self, gateway: Gateway, routes: Sequence[Route] = ALL_ROUTES) -> None:
        self.gateway = gateway
        self.routes = [(route, _compile(route.path)) for route in routes]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        extra: dict[str, str] = {}
        try:
            status, payload = await self._dispatch(scope, receive)
        except RequestRejected as error:
            status, payload, extra = error.status, _error(error), error.headers
        except StorageError as error:
            # the store is down: the client may retry later, it did nothing wrong
            log.warning("admin storage unavailable", extra={"code": error.code, **error.context})
            status, payload = 503, _error(error, "The store is unavailable; try again later.")
        except VallumError as error:
            log.warning("admin request failed", extra={"code": error.code, **error.context})
            status, payload = error.status, _error(error)
        except Exception:
            log.exception("admin request crashed")
            status, payload = 500, {"error": {"code": "internal_error", "message": "Failed."}}
        body = dumps(payload)
        content_type = (
            b"text/plain; version=0.0.4" if isinstance(payload, bytes) else b"application/json"
        )
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _dispatch(self, scope: Scope, receive: Receive) -> tuple[int, Any]:
        from vallum.errors import MethodNotAllowed, NotFound, Unauthenticated

        path, method = scope["path"], scope["method"]
        allowed: list[str] = []
        for route, pattern in self.routes:
            match = pattern.match(path)
            if match is None:
                continue
            if route.method != method:
                allowed.append(route.method)
                continue
            actor = None
            if route.auth:
                actor = self.gateway.config.admin.resolve(_bearer(scope))
                if actor is None:
                    raise Unauthenticated("Invalid admin credentials.", code="invalid_admin_token")
            raw_query = scope.get("query_string", b"").decode("latin-1")
            query = parse_query(route.query, parse_qsl(raw_query, keep_blank_values=True))
            body = await _read(receive) if method in ("POST", "PUT", "PATCH") else b""
            request = AdminRequest(
                self.gateway, actor, match.groupdict(), query, body, route.body_required
            )
            return await route.handler(request)
        if allowed:
            raise MethodNotAllowed("Method not allowed.", headers={"allow": ", ".join(allowed)})
        raise NotFound("Unknown admin route.", code="unknown_route")


def _bearer(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return ""


async def _read(receive: Receive) -> bytes:
    from vallum.errors import PayloadTooLarge

    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > _MAX_BODY:
            raise PayloadTooLarge("The admin request body is too large.")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _error(error: VallumError, message: str | None = None) -> dict[str, Any]:
    return {"error": {"code": error.code, "message": message or error.public_message}}


_ = orjson  # the codec routes.dumps uses; imported here so a missing wheel fails at start
