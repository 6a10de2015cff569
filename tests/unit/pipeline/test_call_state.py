"""Per-call layer state: made by begin() on first use, one per exchange, dropped at the end."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from vallum.clock import FakeClock
from vallum.pipeline.chain import Pipeline
from vallum.pipeline.exchange import Exchange
from vallum.pipeline.layer import Layer, LayerConfig, LayerContext, Outcome


class _Counting(Layer[LayerConfig]):
    name: ClassVar[str] = "counting"
    Config: ClassVar[type[LayerConfig]] = LayerConfig

    def __init__(self) -> None:
        super().__init__(LayerConfig(type="counting"), LayerContext(clock=FakeClock()))
        self.begun = 0
        self.seen_at_complete: list[Any] = []

    def begin(self, exchange: Exchange) -> list[str]:
        self.begun += 1
        return []

    async def on_complete(self, exchange: Exchange, outcome: Outcome) -> None:
        self.seen_at_complete.append(self.call_state(exchange))


def _exchange() -> Exchange:
    # the same request id on purpose: a trusted proxy may pass a client's x-request-id on
    return Exchange("req-same", "POST", "/v1/chat/completions", "127.0.0.1", {}, 0.0)


def test_state_is_per_exchange_and_dropped_after_on_complete() -> None:
    layer = _Counting()
    pipeline = Pipeline([layer], FakeClock())
    first, second = _exchange(), _exchange()
    layer.call_state(first).append("a")
    assert layer.call_state(first) == ["a"]  # made once, then the same object
    assert layer.call_state(second) == []  # same request id, its own state
    assert layer.begun == 2
    asyncio.run(pipeline.on_complete(first, Outcome(200, None, None, 0.0)))
    assert layer.seen_at_complete == [["a"]]  # on_complete still sees it
    assert first.layer_states == {} and second.layer_states != {}
