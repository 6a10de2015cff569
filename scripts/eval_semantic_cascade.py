"""What the semantic tier adds to the fast tier, on the held-out sources of one fold.

    .venv/bin/python scripts/eval_semantic_cascade.py --model-dir .train-semantic --fold 0

``--model-dir`` holds what ``train_semantic.py --fold K`` wrote (``semantic.onnx``,
``tokenizer.json``, ``meta.json`` with the thresholds chosen on training sources); it must
be the model of the same fold, so every row scored here was held out of its training. Each
row goes through ``InputGuard.on_request`` twice, with the default config (fast tier only)
and with the semantic tier in the injection and content cascades: user-head and harm-head
rows as a user turn, doc-head rows as a tool result. Prints, per held-out source, the share
blocked by each guard (recall on attack sources, false-positive rate on benign ones) and the
share with a semantic finding.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from semantic_data import Row, build

from tests.support.exchanges import exchange_for
from vallum.clock import SystemClock
from vallum.layers.input_guard import InputGuard, InputGuardConfig
from vallum.pipeline.exchange import Endpoint
from vallum.pipeline.layer import LayerContext

_CALL = {"id": "c1", "type": "function", "function": {"name": "fetch", "arguments": "{}"}}


def _messages(row: Row) -> list[dict[str, Any]]:
    if row.head != "doc":
        return [{"role": "user", "content": row.text}]
    return [
        {"role": "user", "content": "Please summarise what the tool returned."},
        {"role": "assistant", "tool_calls": [_CALL]},
        {"role": "tool", "tool_call_id": "c1", "content": row.text},
    ]


async def _blocked(guard: InputGuard, row: Row) -> tuple[bool, bool]:
    exchange = exchange_for(Endpoint.CHAT, {"model": "m", "messages": _messages(row)})
    deny = await guard.on_request(exchange)
    semantic = any("semantic" in finding.kind for finding in exchange.findings)
    return deny is not None, semantic


async def run(args: argparse.Namespace) -> None:
    meta = json.loads((args.model_dir / "meta.json").read_text())

    def tier(judges: str) -> dict[str, Any]:
        return {
            "type": "semantic",
            "judges": judges,
            "timeout_s": 60.0,
            "thresholds": meta["thresholds"],
            "model": {
                "path": str(args.model_dir / "semantic.onnx"),
                "tokenizer": str(args.model_dir / "tokenizer.json"),
                "labels": meta["heads"],
                "heads": {head: [head] for head in meta["heads"]},
                "activation": "sigmoid",
                "version": meta["version"],
            },
        }

    cascades = {
        "injection": {"band_low": args.band, "tiers": [tier("injection")]},
        "content": {
            "band_low": args.band,
            "short_chars": args.short_chars,
            "tiers": [tier("content")],
        },
    }
    context = LayerContext(clock=SystemClock())
    fast = InputGuard(InputGuardConfig(), context)
    cascade = InputGuard(InputGuardConfig.model_validate({"cascade": cascades}), context)
    rng = random.Random(args.seed)  # noqa: S311 - seeded sampling, not security
    groups: dict[tuple[str, str, int], list[Row]] = defaultdict(list)
    for row in build(int(meta["fold"]), int(meta["seed"])):
        if not row.train:
            groups[(row.head, row.source, row.label)].append(row)
    print("| head | held-out source | n | fast tier | with semantic | semantic finding |")
    print("|---|---|---|---|---|---|")
    for (head, source, label), rows in sorted(groups.items()):
        rng.shuffle(rows)
        rows = rows[: args.cap]
        counts = [0, 0, 0]
        for row in rows:
            counts[0] += (await _blocked(fast, row))[0]
            blocked, reached = await _blocked(cascade, row)
            counts[1] += blocked
            counts[2] += reached
        kind = "recall" if label else "FPR"
        shares = " | ".join(f"{c / len(rows):.1%}" for c in counts)
        print(f"| {head} | {source} ({kind}) | {len(rows)} | {shares} |", flush=True)
    await cascade.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--band", type=float, default=0.2)
    parser.add_argument("--short-chars", type=int, default=512)
    parser.add_argument("--cap", type=int, default=100, help="rows per held-out source")
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
