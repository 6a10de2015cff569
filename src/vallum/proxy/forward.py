"""Forwarding a checked request upstream and the response back through the layers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import orjson

from vallum.errors import UpstreamError, UpstreamTimeout
from vallum.pipeline.attachments import MODEL_ACCESS
from vallum.pipeline.exchange import Endpoint, Exchange, WireFormat
from vallum.pipeline.layer import Deny, ResponseView
from vallum.pipeline.streaming import StreamProcessor, sniffer_for
from vallum.providers import anthropic, openai
from vallum.providers.base import UpstreamResponse
from vallum.providers.streams import codec_for
from vallum.proxy.body import ClientGone
from vallum.proxy.wire_errors import error_body

if TYPE_CHECKING:
    from vallum.gateway import Gateway

__all__ = ["Forwarder", "Responder"]

log = logging.getLogger("vallum.proxy")

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON = (b"content-type", b"application/json")
_WATCH_AFTER = 0.05  # seconds before a call gets a disconnect-watching task
_TIMER_SLACK = 0.002  # event-loop timers may fire this much early
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class Responder:
    """Sends the one response of an exchange and records its status."""

    __slots__ = ("_send", "exchange", "finished", "started")

    def __init__(self, send: Send, exchange: Exchange) -> None:
        self._send = send
        self.exchange = exchange
        self.started = False
        self.finished = False

    def _head(self, extra: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        head = [*extra, (b"x-request-id", self.exchange.request_id.encode())]
        for name, value in self.exchange.response_headers:  # layers' extras (x-ratelimit-*)
            head.append((name.encode("latin-1"), value.encode("latin-1")))
        return head

    async def json(
        self, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        self.started = self.finished = True
        self.exchange.status = status
        head = self._head([_JSON, (b"content-length", str(len(body)).encode()), *(headers or [])])
        await self._send({"type": "http.response.start", "status": status, "headers": head})
        await self._send({"type": "http.response.body", "body": body})

    async def error(self, deny: Deny) -> None:
        self.exchange.error_code = deny.code
        if self.started:
            log.warning(
                "error after the response started",
                extra={"request_id": self.exchange.request_id, "code": deny.code},
            )
            return
        extra = [(k.lower().encode(), v.encode()) for k, v in deny.headers.items()]
        body = error_body(self.exchange.wire, deny, self.exchange.request_id)
        await self.json(deny.status, body, extra)

    async def start_stream(self) -> None:
        self.started = True
        self.exchange.status = 200
        head = self._head(list(_SSE_HEADERS))
        await self._send({"type": "http.response.start", "status": 200, "headers": head})

    async def chunk(self, data: bytes) -> None:
        await self._send({"type": "http.response.body", "body": data, "more_body": True})

    async def end(self, data: bytes = b"") -> None:
        self.finished = True
        await self._send({"type": "http.response.body", "body": data})


class Forwarder:
    """Sends the exchange to its provider; runs response layers on what comes back."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.pipeline = gateway.pipeline
        self.timeouts = gateway.config.timeouts
        # decided once: keep the completion text only when a layer (audit) records it
        self.want_completion = any(
            getattr(layer, "wants_completion", False) for layer in self.pipeline.layers
        )

    def models_body(self, exchange: Exchange) -> bytes:
        """The models this caller may use (authz narrows the list when it ran)."""
        names = self.gateway.router.model_names()
        access = exchange.attached(MODEL_ACCESS)
        if access is not None:
            names = access.only_permitted(names)
        data = [
            {"id": name, "object": "model", "created": 0, "owned_by": "vallum"} for name in names
        ]
        return orjson.dumps({"object": "list", "data": data})

    async def forward(self, exchange: Exchange, receive: Receive, responder: Responder) -> None:
        request = exchange.request
        assert request is not None  # noqa: S101 - POST routes always carry a parsed request
        router = self.gateway.router
        route = router.resolve(request.model, request.endpoint)
        watcher = _DisconnectWatcher(receive, responder)
        # The total timeout bounds a buffered call's upstream exchange (streams have idle).
        deadline = None if request.stream else _Deadline(self.timeouts.total, watcher.owner)
        try:
            try:
                # Retries and failover happen inside send(), before anything reaches the client.
                response = await router.send(exchange, route)
            finally:
                if deadline is not None:
                    deadline.stop()
            if response.stream is not None:
                await self._stream(exchange, response.stream, responder, watcher)
            else:
                await self._buffered(exchange, response, responder, watcher)
        except TimeoutError as exc:
            raise UpstreamTimeout("The upstream did not answer in time.") from exc
        except asyncio.CancelledError:
            if deadline is not None and deadline.claim():
                raise UpstreamTimeout("The upstream did not answer in time.") from None
            if watcher.client_gone:
                raise ClientGone from None
            raise
        finally:
            watcher.stop()

    async def _buffered(
        self,
        exchange: Exchange,
        response: UpstreamResponse,
        responder: Responder,
        watcher: _DisconnectWatcher,
    ) -> None:
        if response.status >= 500:
            raise UpstreamError(
                "The upstream model provider failed.",
                code="upstream_error",
                context={"upstream_status": response.status},
            )
        if response.status >= 300:
            await self._relay_error(exchange, response, responder, watcher)
            return
        try:
            data = orjson.loads(response.body)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError("The upstream sent an invalid response.") from exc
        if not isinstance(data, dict):
            raise UpstreamError("The upstream sent an invalid response.")
        endpoint = exchange.endpoint
        exchange.usage = _usage(exchange.wire, data)
        body = response.body
        if self.pipeline.response_layers and endpoint is not None:
            view = ResponseView(response.status, data, _parts(exchange.wire, endpoint, data))
            deny = await self.pipeline.on_response(exchange, view)
            if deny is not None:
                watcher.stop()
                await responder.error(deny)
                return
            if view.dirty:
                body = orjson.dumps(data)
            if self.want_completion:
                exchange.set_completion([part.text for part in view.parts])
        elif self.want_completion and endpoint is not None:
            exchange.set_completion([p.text for p in _parts(exchange.wire, endpoint, data)])
        watcher.stop()
        await responder.json(response.status, body)

    async def _relay_error(
        self,
        exchange: Exchange,
        response: UpstreamResponse,
        responder: Responder,
        watcher: _DisconnectWatcher,
    ) -> None:
        """A 4xx from the provider is the client's to see (e.g. context too long), as JSON only."""
        try:
            orjson.loads(response.body)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(
                "The upstream refused the request.",
                code="upstream_error",
                context={"upstream_status": response.status},
            ) from exc
        extra: list[tuple[bytes, bytes]] = []
        retry_after = response.header("retry-after")
        if retry_after is not None and retry_after.isdigit():
            extra.append((b"retry-after", retry_after.encode()))
        exchange.error_code = f"upstream_{response.status}"
        watcher.stop()
        await responder.json(response.status, response.body, extra)

    async def _stream(
        self,
        exchange: Exchange,
        stream: AsyncIterator[bytes],
        responder: Responder,
        watcher: _DisconnectWatcher,
    ) -> None:
        endpoint = exchange.endpoint or Endpoint.CHAT
        codec = codec_for(exchange.wire, endpoint)
        processor = (
            StreamProcessor(exchange, self.pipeline, codec) if self.pipeline.stream_layers else None
        )
        sniffer = sniffer_for(exchange, codec) if processor is None else None
        await responder.start_stream()
        exchange.stream_outcome = "started"
        idle = _IdleTimer(self.timeouts.stream_idle)
        try:
            while True:
                chunk = await idle.next_chunk(stream)
                if chunk is None:
                    break
                if processor is not None:
                    chunk = await processor.feed(chunk)
                    if processor.terminated is not None:
                        await responder.chunk(chunk)
                        break
                elif sniffer is not None:
                    chunk = sniffer.feed(chunk)
                if chunk:
                    await responder.chunk(chunk)
            tail = b""
            if processor is not None:
                tail = await processor.close()
            elif sniffer is not None:
                tail = sniffer.close()
            exchange.stream_outcome = (
                exchange.stream_outcome if processor and processor.terminated else "completed"
            )
        except (UpstreamError, TimeoutError) as exc:
            code = "upstream_timeout" if isinstance(exc, TimeoutError) else "upstream_error"
            log.warning(
                "upstream stream failed", extra={"request_id": exchange.request_id, "code": code}
            )
            tail = codec.error_event(code, "The upstream stream failed.")
            exchange.stream_outcome = "upstream_failed"
            exchange.error_code = code
        finally:
            idle.stop()
            closer = getattr(stream, "aclose", None)
            if closer is not None:
                await closer()
        exchange.usage = codec.usage
        if self.want_completion:
            _keep_streamed(exchange, processor)
        watcher.stop()
        await responder.end(tail)


class _DisconnectWatcher:
    """Cancels the handling task when the client goes away, so the upstream call stops too.

    The watching task is only started once the call has lasted ``_WATCH_AFTER`` seconds:
    most calls end before that, and a timer costs far less than a task per request.
    A client that leaves earlier is still noticed, at the latest ``_WATCH_AFTER`` later.
    """

    __slots__ = ("_receive", "_task", "_timer", "client_gone", "owner", "responder")

    def __init__(self, receive: Receive, responder: Responder) -> None:
        self.client_gone = False
        self.responder = responder
        self._receive = receive
        self.owner = asyncio.current_task()
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            _WATCH_AFTER, self._arm
        )

    def _arm(self) -> None:
        self._timer = None
        self._task = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                break
        if not self.responder.finished and self.owner is not None:
            self.client_gone = True
            self.owner.cancel()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None:
            self._task.cancel()
            self._task = None


class _Deadline:
    """``asyncio.timeout`` as one bare timer: cancels the task when ``seconds`` have passed.

    ``claim()`` tells, after a CancelledError, whether this deadline caused it (and then
    takes its cancellation back, as ``asyncio.timeout`` does before raising TimeoutError).
    """

    __slots__ = ("_handle", "_task", "expired")

    def __init__(self, seconds: float, task: asyncio.Task[Any] | None) -> None:
        self._task = task
        self.expired = False
        self._handle: asyncio.TimerHandle | None = (
            asyncio.get_running_loop().call_later(seconds, self._fire) if task else None
        )

    def _fire(self) -> None:
        self._handle = None
        if self._task is not None:
            self.expired = True
            self._task.cancel()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def claim(self) -> bool:
        return self.expired and self._task is not None and self._task.uncancel() == 0


class _IdleTimer:
    """The stream-idle timeout as one re-armed timer per idle period, not one per chunk.

    When the timer fires during a wait in ``next_chunk`` that has lasted ``limit`` seconds,
    the task is cancelled and ``next_chunk`` turns that (and only that) cancellation into
    the same TimeoutError as ``asyncio.timeout`` gave.
    """

    __slots__ = ("_handle", "_limit", "_loop", "_since", "_task", "_waiting", "expired")

    def __init__(self, limit: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._limit = limit
        self._since = self._loop.time()
        self._waiting = False
        self.expired = False
        self._handle: asyncio.TimerHandle | None = self._loop.call_later(limit, self._check)

    async def next_chunk(self, stream: AsyncIterator[bytes]) -> bytes | None:
        """The next upstream chunk (None at the end); TimeoutError after ``limit`` silent s."""
        self._since = self._loop.time()
        self._waiting = True
        try:
            chunk = await anext(stream, None)
        except asyncio.CancelledError:
            if self.expired and self._task is not None and self._task.uncancel() == 0:
                raise TimeoutError from None
            raise
        self._waiting = False
        return chunk

    def _check(self) -> None:
        now = self._loop.time()
        if self._waiting and now - self._since >= self._limit - _TIMER_SLACK:
            self._handle = None
            if self._task is not None:
                self.expired = True
                self._task.cancel()
            return
        start = self._since if self._waiting else now
        self._handle = self._loop.call_at(start + self._limit, self._check)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def _keep_streamed(exchange: Exchange, processor: StreamProcessor | None) -> None:
    """The streamed completion, where a reader saw it: the released text of a processed
    stream, or the text a counting sniffer recorded; a pass-through stream has none."""
    if processor is not None:
        exchange.set_completion(processor.released_text())
    elif exchange.count_stream_text:
        exchange.set_completion(["".join(exchange.streamed_text)])


def _usage(wire: WireFormat, data: dict[str, Any]) -> Any:
    if wire is WireFormat.ANTHROPIC:
        return anthropic.response_usage(data)
    return openai.response_usage(data)


def _parts(wire: WireFormat, endpoint: Endpoint, data: dict[str, Any]) -> Any:
    if wire is WireFormat.ANTHROPIC:
        return anthropic.response_parts(data)
    return openai.response_parts(endpoint, data)
