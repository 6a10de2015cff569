"""The input guard with the semantic tier beside the fast tier alone, on one core.

    .venv/bin/python bench/semantic_bench.py [--rounds 400] [--band 0.2] [--json]

Texts: benign chat prompts of ``../shared/data`` padded or cut to 1 KB (as in
``input_guard_bench.py``), sent as one user turn through ``InputGuard.on_request``, the
whole guard: fast tier, the cascade's hand-off, the worker pool and the ONNX model. The
process is pinned to one CPU and onnxruntime uses one thread. Reports p50 / p99 per request
for both guards, the share of the benign mix that reaches the semantic tier, and the model
alone (one 1 KB text, all its windows). Needs the shipped model (or ``--model``/
``--tokenizer`` for an operator's ONNX classifier with ``--labels`` and ``--attack``).
The injection cascade consults fast scores in ``[--band, 0.9)``; the content cascade the
same band and user turns of at most ``--short-chars`` characters.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from input_guard_bench import prompts_1kb

from vallum.clock import SystemClock
from vallum.detectors.cascade import TierVerdict
from vallum.detectors.semantic import SemanticTier
from vallum.layers.input_guard import InputGuard, InputGuardConfig
from vallum.pipeline.exchange import Endpoint, Exchange, Source, WireFormat
from vallum.pipeline.layer import LayerContext
from vallum.providers import openai


def _exchange(text: str) -> Exchange:
    body = {"model": "m", "messages": [{"role": "user", "content": text}]}
    return Exchange(
        request_id="req_bench",
        method="POST",
        path="/v1/chat/completions",
        client_ip="127.0.0.1",
        headers={},
        started=0.0,
        wire=WireFormat.OPENAI,
        endpoint=Endpoint.CHAT,
        request=openai.normalize_request(Endpoint.CHAT, body),
    )


async def _timed(guard: InputGuard, texts: list[str]) -> tuple[dict[str, float], int]:
    for text in texts[:20]:
        await guard.on_request(_exchange(text))  # warm up
    times: list[float] = []
    blocked = 0
    for text in texts:
        exchange = _exchange(text)
        started = time.perf_counter()
        deny = await guard.on_request(exchange)
        times.append(time.perf_counter() - started)
        blocked += deny is not None
    times.sort()
    stats = {
        "p50_ms": 1000 * times[len(times) // 2],
        "p99_ms": 1000 * times[int(len(times) * 0.99)],
        "mean_ms": 1000 * sum(times) / len(times),
    }
    return stats, blocked


def _counting(tier: SemanticTier) -> list[int]:
    """Count the texts the cascade hands to the tier (wraps its ``score``)."""
    seen = [0]
    inner = tier.score

    async def score(texts: Sequence[str], source: Source) -> list[TierVerdict]:
        seen[0] += len(texts)
        return await inner(texts, source)

    tier.score = score  # type: ignore[method-assign]
    return seen


def _tier(args: argparse.Namespace, judges: str) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "type": "semantic",
        "judges": judges,
        "threads": 1,
        "workers": 1,
        "timeout_s": 10.0,
    }
    if args.model:
        labels = args.labels.split(",")
        heads = {"user": args.attack.split(","), "harm": args.attack.split(",")}
        if {"user", "doc", "harm"} <= set(labels):  # a model of train_semantic.py
            heads = {head: [head] for head in ("user", "doc", "harm")}
        settings["model"] = {
            "path": args.model,
            "tokenizer": args.tokenizer,
            "labels": labels,
            "heads": heads,
            "activation": "sigmoid" if "user" in labels else "softmax",
        }
    return settings


def _cascade(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "injection": {"band_low": args.band, "tiers": [_tier(args, "injection")]},
        "content": {
            "band_low": args.band,
            "short_chars": args.short_chars,
            "tiers": [_tier(args, "content")],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--band", type=float, default=0.2)
    parser.add_argument("--short-chars", type=int, default=512)
    parser.add_argument("--cpu", type=int, default=0, help="the one CPU the bench runs on")
    parser.add_argument("--model", default="")
    parser.add_argument("--tokenizer", default="")
    parser.add_argument("--labels", default="BENIGN,INJECTION")
    parser.add_argument("--attack", default="INJECTION")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    context = LayerContext(clock=SystemClock())
    fast = InputGuard(InputGuardConfig(), context)
    cascade = InputGuard(InputGuardConfig.model_validate({"cascade": _cascade(args)}), context)
    texts = prompts_1kb(args.rounds, args.seed)
    tiers = [c.members[0].tier for c in cascade.cascades.values()]
    semantic = [t for t in tiers if isinstance(t, SemanticTier)]
    started = time.perf_counter()
    for text in texts[:50]:
        semantic[0].score_heads([text])
    model_ms = 1000 * (time.perf_counter() - started) / 50
    counters = [_counting(t) for t in semantic]
    fast_stats, fast_blocked = asyncio.run(_timed(fast, texts))
    cascade_stats, cascade_blocked = asyncio.run(_timed(cascade, texts))
    reached = [c[0] / (len(texts) + 20) for c in counters]  # the 20 warm-up texts count too
    results = {
        "fast_tier_only_1kb": fast_stats,
        "with_semantic_1kb": cascade_stats,
        "reach_semantic_injection_share": reached[0],
        "reach_semantic_content_share": reached[1] if len(reached) > 1 else 0.0,
        "semantic_model_alone_1kb_mean_ms": model_ms,
        "benign_blocked_fast": fast_blocked / len(texts),
        "benign_blocked_with_semantic": cascade_blocked / len(texts),
        "band": args.band,
        "rounds": len(texts),
    }
    asyncio.run(cascade.stop())
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name, value in results.items():
        if isinstance(value, dict):
            print(f"{name:34s} p50 {value['p50_ms']:.3f} ms  p99 {value['p99_ms']:.3f} ms")
        else:
            print(f"{name:34s} {value:.4g}")


if __name__ == "__main__":
    main()
