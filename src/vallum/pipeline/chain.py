"""The pipeline: runs the configured layers, in YAML order, through each phase of a call."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from vallum.clock import Clock
from vallum.errors import RequestRejected
from vallum.pipeline.exchange import Exchange, Source
from vallum.pipeline.layer import (
    Deny,
    Layer,
    Outcome,
    ResponseMode,
    ResponseView,
    StreamEdit,
    StreamEnding,
    StreamWindow,
)

__all__ = ["LAYER_FAILED", "Pipeline"]

log = logging.getLogger("vallum.pipeline")

LAYER_FAILED = Deny(
    status=503,
    code="policy_unavailable",
    message="A security check could not run; the request was not sent.",
    error_type="api_error",
)
T = TypeVar("T")


def _overrides(layer: Layer[Any], hook: str) -> bool:
    return getattr(type(layer), hook) is not getattr(Layer, hook)


class Pipeline:
    """Layers grouped by the hooks they implement, so a phase costs nothing when unused."""

    def __init__(self, layers: Sequence[Layer[Any]], clock: Clock) -> None:
        self.layers = list(layers)
        self.clock = clock
        request_layers = [lay for lay in self.layers if _overrides(lay, "on_request")]
        # Layers that need no body and come before any that does (e.g. ipblock, authn) run
        # before the body is read, so an unauthenticated client never gets it parsed.
        split = next((i for i, lay in enumerate(request_layers) if lay.needs_body), None)
        split = len(request_layers) if split is None else split
        self.header_layers = request_layers[:split]
        self.request_layers = request_layers[split:]
        self.response_layers = [
            lay
            for lay in self.layers
            if lay.mode in (ResponseMode.BUFFERED, ResponseMode.STREAMING)
            and _overrides(lay, "on_response")
        ]
        self.stream_layers = [lay for lay in self.layers if lay.mode is ResponseMode.STREAMING]
        self.tool_stream_layers = [lay for lay in self.stream_layers if lay.sees_tool_calls]
        self.complete_layers = [lay for lay in self.layers if _overrides(lay, "on_complete")]
        self.holdback = max((lay.lookbehind for lay in self.stream_layers), default=0)

    async def start(self) -> None:
        for layer in self.layers:
            await layer.start()

    async def stop(self) -> None:
        for layer in reversed(self.layers):
            await layer.stop()

    async def _guard(
        self, layer: Layer[Any], exchange: Exchange, call: Awaitable[T]
    ) -> T | Deny | None:
        """Run one hook: time it; a crash denies (closed) or is skipped (open)."""
        started = self.clock.monotonic()
        try:
            return await call
        except RequestRejected as error:
            return Deny.from_error(error)
        except Exception:
            log.exception(
                "layer failed",
                extra={"layer": layer.name, "request_id": exchange.request_id},
            )
            return None if layer.fail_open else LAYER_FAILED
        finally:
            spent = self.clock.monotonic() - started
            exchange.layer_timings[layer.name] = exchange.layer_timings.get(layer.name, 0.0) + spent

    async def on_headers(self, exchange: Exchange) -> Deny | None:
        """The phase before the body is read: only layers with ``needs_body = False``."""
        return await self._run_request(self.header_layers, exchange)

    async def on_request(self, exchange: Exchange) -> Deny | None:
        """The phase after the body is parsed into ``exchange.request``."""
        return await self._run_request(self.request_layers, exchange)

    async def _run_request(self, layers: list[Layer[Any]], exchange: Exchange) -> Deny | None:
        for layer in layers:
            result = await self._guard(layer, exchange, layer.on_request(exchange))
            if result is not None:
                exchange.decided_by = layer.name
                return result
        return None

    async def on_response(self, exchange: Exchange, response: ResponseView) -> Deny | None:
        for layer in self.response_layers:
            result = await self._guard(layer, exchange, layer.on_response(exchange, response))
            if result is not None:
                exchange.decided_by = layer.name
                return result
        return None

    async def on_window(self, exchange: Exchange, window: StreamWindow) -> StreamEdit:
        """Pass one stream window through every streaming layer; returns the final text."""
        text = window.text
        hold_from: int | None = None
        stop: StreamEdit | None = None  # a length ending: later layers still see the text kept
        tool = window.source is Source.TOOL_CALL
        for layer in self.tool_stream_layers if tool else self.stream_layers:
            current = StreamWindow(
                window.channel, text, window.final, window.source, window.tool_name
            )
            hook = layer.on_stream_end if window.final else layer.on_chunk
            result = await self._guard(layer, exchange, hook(exchange, current))
            if isinstance(result, Deny):
                exchange.decided_by = layer.name
                return StreamEdit(terminate=result)
            if isinstance(result, StreamEdit):
                if result.terminate is not None:
                    exchange.decided_by = layer.name
                    if result.ending is not StreamEnding.LENGTH:
                        return result
                    stop = result
                if result.text is not None and result.text != text:
                    text = result.text
                    hold_from = None  # an earlier layer's index no longer points into text
                if result.hold_from is not None:
                    hold_from = min(result.hold_from, len(text) if hold_from is None else hold_from)
        if stop is not None:
            return replace(stop, text=text, hold_from=hold_from)
        return StreamEdit(text=text, hold_from=hold_from)

    async def on_complete(self, exchange: Exchange, outcome: Outcome) -> None:
        """The last phase; afterwards every layer's per-call state is dropped."""
        try:
            for layer in self.complete_layers:
                try:
                    await layer.on_complete(exchange, outcome)
                except Exception:
                    log.exception(
                        "on_complete failed",
                        extra={"layer": layer.name, "request_id": exchange.request_id},
                    )
        finally:
            exchange.layer_states.clear()
