"""The hand-written agent scenarios through a real gateway: attacker tool calls held, benign ones
passed, per API and mode, with and without the indirect-injection layers; plus their cost.

.venv/bin/python bench/agent_scenarios.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.conftest import gateway_config
from tests.support.agent_clients import RUNNERS, held
from tests.support.agent_scenarios import SCENARIOS, SCRIPTS, chat_body
from tests.support.exchanges import exchange_for
from tests.support.servers import ServerThread
from vallum.clock import SystemClock
from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.layers.tool_guard import ToolGuard, ToolGuardConfig
from vallum.pipeline.exchange import Endpoint
from vallum.pipeline.layer import LayerContext, ResponseView
from vallum.providers import openai as openai_wire
from vallum.providers.mock import MockModel, MockSettings, mock_asgi_app
from vallum.proxy.app import GatewayApp

STACKS = {
    "none": ["validate"],
    "tool_guard": ["validate", "tool_guard"],
    "demo stack": ["validate", "tool_guard", "link_guard", "spotlight"],
}


def _table(url: str) -> list[tuple[str, int, int, int, int]]:
    rows = []
    attacks = [s for s in SCENARIOS if s.held]
    benign = [s for s in SCENARIOS if not s.held]
    for api, runner in RUNNERS.items():
        for stream in (False, True):
            mode = f"{api}/{'stream' if stream else 'json'}"
            hit = sum(held(runner, url, s, stream) for s in attacks)
            false = sum(held(runner, url, s, stream) for s in benign)
            rows.append((mode, hit, len(attacks), false, len(benign)))
    return rows


def _layer_cost(calls: int) -> tuple[float, float]:
    """Median and p99 µs of tool_guard's on_request + on_response (one chat scenario, buffered)."""
    return asyncio.run(_measure(calls))


async def _measure(calls: int) -> tuple[float, float]:
    layer = ToolGuard(ToolGuardConfig(), LayerContext(clock=SystemClock()))
    scenario = next(s for s in SCENARIOS if s.id == "email-01")
    body = chat_body(scenario, "mock-fast")
    arguments = orjson.dumps(scenario.call_arguments).decode()
    call = {
        "id": "c",
        "type": "function",
        "function": {"name": "send_email", "arguments": arguments},
    }
    reply: dict[str, Any] = {"choices": [{"index": 0, "message": {"tool_calls": [call]}}]}
    samples = []
    for _ in range(calls):
        exchange = exchange_for(Endpoint.CHAT, body)
        view = ResponseView(200, reply, openai_wire.response_parts(Endpoint.CHAT, reply))
        started = time.perf_counter()
        await layer.on_request(exchange)
        await layer.on_response(exchange, view)
        samples.append((time.perf_counter() - started) * 1e6)
        exchange.findings.clear()
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    model = MockModel(MockSettings(chunks=9, scripts=SCRIPTS))
    with ServerThread(mock_asgi_app(model)) as upstream:
        for name, layers in STACKS.items():
            raw = gateway_config(upstream.url, layers=[{"type": t} for t in layers])
            with ServerThread(GatewayApp(Gateway(build_config(raw)))) as gateway:
                print(f"\n{name}: {' → '.join(layers)}")
                print(f"{'api/mode':<20} {'attacker calls held':>20} {'benign calls held':>18}")
                for mode, hit, attacks, false, benign in _table(gateway.url):
                    print(f"{mode:<20} {f'{hit}/{attacks}':>20} {f'{false}/{benign}':>18}")
    median, p99 = _layer_cost(args.calls)
    print(f"\ntool_guard request + response, one scenario: p50 {median:.0f} µs, p99 {p99:.0f} µs")


if __name__ == "__main__":
    main()
