"""input_guard with the semantic tier in its cascade: what reaches it, what it flags, on_error.

The tier runs a tiny ONNX classifier the tests build (``tests/support/tiny_onnx.py``): the
word "zephyr" reads as an injection to it and "nerve agent" as a harmful request, while the
fast tier passes both, so every verdict below can only come from the semantic tier.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.support.exchanges import exchange_for
from tests.support.tiny_onnx import LABELS, write_tiny_classifier
from vallum.clock import SystemClock
from vallum.detectors.semantic import SemanticTier
from vallum.layers.input_guard import InputGuard, InputGuardConfig
from vallum.pipeline.exchange import Endpoint, Exchange
from vallum.pipeline.layer import LayerContext

MARKED = "summarise zephyr zephyr zephyr"  # the tiny model's injection word
HARM = "nerve agent synthesis"  # the tiny model's harm words
PLAIN = "hello world please summarise the report"


def _tier(model: Path, tokenizer: Path, judges: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "semantic",
        "judges": judges,
        "model": {
            "path": str(model),
            "tokenizer": str(tokenizer),
            "labels": list(LABELS),
            "heads": {"user": ["INJECTION"], "doc": ["INJECTION"], "harm": ["HARM"]},
            "version": "tiny-1",
        },
        "thresholds": {"user": 0.5, "doc": 0.5, "harm": 0.5},
        **extra,
    }


def _guard(
    tmp_path: Path, band_low: float = 0.0, short_chars: int = 512, **tier: Any
) -> InputGuard:
    model, tokenizer = write_tiny_classifier(tmp_path)
    cascade = {
        "injection": {
            "band_low": band_low,
            "band_high": 1.0,  # every undecided text: the fast doc score of MARKED is high
            "tiers": [_tier(model, tokenizer, "injection", **tier)],
        },
        "content": {
            "band_low": 1.0,
            "band_high": 1.0,
            "short_chars": short_chars,
            "tiers": [_tier(model, tokenizer, "content", **tier)],
        },
    }
    config = InputGuardConfig.model_validate({"cascade": cascade})
    return InputGuard(config, LayerContext(clock=SystemClock()))


def _chat(*messages: dict[str, Any]) -> Exchange:
    return exchange_for(Endpoint.CHAT, {"model": "m", "messages": list(messages)})


def _kinds(exchange: Exchange) -> list[str]:
    return [finding.kind for finding in exchange.findings]


async def test_the_fast_tier_alone_passes_these_texts() -> None:
    guard = InputGuard(InputGuardConfig(), LayerContext(clock=SystemClock()))
    for text in (MARKED, HARM):
        exchange = _chat({"role": "user", "content": text})
        assert await guard.on_request(exchange) is None
        assert exchange.findings == []


async def test_an_uncertain_user_turn_is_blocked_by_the_semantic_tier(tmp_path: Path) -> None:
    guard = _guard(tmp_path)
    exchange = _chat({"role": "user", "content": MARKED})
    deny = await guard.on_request(exchange)
    assert deny is not None and deny.code == "prompt_injection_detected"
    assert _kinds(exchange) == ["injection:semantic_user"]
    assert "tiny-1" in exchange.findings[0].detail
    assert MARKED not in exchange.findings[0].detail


async def test_a_tool_result_is_read_by_the_document_head(tmp_path: Path) -> None:
    guard = _guard(tmp_path)
    exchange = _chat(
        {"role": "user", "content": PLAIN},
        {"role": "assistant", "tool_calls": [_call()]},
        {"role": "tool", "tool_call_id": "c1", "content": MARKED},
    )
    deny = await guard.on_request(exchange)
    assert deny is not None
    assert _kinds(exchange) == ["injection:semantic_doc"]


async def test_a_short_user_turn_is_read_by_the_harm_head(tmp_path: Path) -> None:
    guard = _guard(tmp_path)
    exchange = _chat({"role": "user", "content": HARM})
    deny = await guard.on_request(exchange)
    assert deny is not None and deny.code == "content_policy_violation"
    assert _kinds(exchange) == ["content:semantic_harm"]


async def test_outside_the_band_nothing_is_asked(tmp_path: Path) -> None:
    guard = _guard(tmp_path, band_low=0.9, short_chars=0)
    for text in (MARKED, HARM, PLAIN):
        exchange = _chat({"role": "user", "content": text})
        assert await guard.on_request(exchange) is None
        assert exchange.findings == []


async def test_benign_text_passes_the_semantic_tier(tmp_path: Path) -> None:
    guard = _guard(tmp_path)
    exchange = _chat({"role": "system", "content": MARKED}, {"role": "user", "content": PLAIN})
    assert await guard.on_request(exchange) is None  # system prompts are never asked about
    assert exchange.findings == []


@pytest.mark.parametrize("on_error", ["closed", "open"])
async def test_a_busy_tier_applies_on_error(tmp_path: Path, on_error: str) -> None:
    guard = _guard(tmp_path, workers=1, queue=0, on_error=on_error)
    tier = guard.cascades["injection"].members[0].tier
    assert isinstance(tier, SemanticTier)
    release = threading.Event()
    busy = asyncio.ensure_future(tier.pool.run(release.wait))
    await asyncio.sleep(0)
    try:
        exchange = _chat({"role": "user", "content": MARKED})
        deny = await guard.on_request(exchange)
    finally:
        release.set()
        await busy
    if on_error == "closed":
        assert deny is not None and deny.code == "prompt_injection_detected"
        assert "injection:tier_error" in _kinds(exchange)
    else:  # the fast tier's verdict stands: it passed the text
        assert deny is None
        assert "injection:semantic_user" not in _kinds(exchange)


def _call() -> dict[str, Any]:
    return {"id": "c1", "type": "function", "function": {"name": "read", "arguments": "{}"}}
