"""Input-guard speed: the normalizer and the whole guard on 1 KB prompts and long documents.

    .venv/bin/python bench/input_guard_bench.py [--rounds 2000] [--json]

Texts are real rows of ``../shared/data`` (benign chat prompts padded or cut to 1 KB;
benign documents concatenated to 2 MB). The guard is the default ``input_guard`` config
(injection, content on user turns, secrets; PII off) scanning one text part, exactly what
``on_request`` does per part; ``guard_user_1kb_pii`` adds PII (``pii: redact``), and the
``part_*`` rows time each detector alone on the same prompts (their share of the guard).
Reports p50 / p99 per 1 KB prompt and MB/s on the long document, single thread.
Targets (issue 5): p50 ≤ 1 ms, p99 ≤ 5 ms, ≥ 2 MB/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import cast

from vallum.clock import SystemClock
from vallum.detectors.builtin import ContentCheck, InjectionCheck, SpanCheck
from vallum.detectors.injection import Trust
from vallum.detectors.normalize import Normalizer
from vallum.layers.input_guard import InputGuard, InputGuardConfig
from vallum.pipeline.exchange import Source, TextPart
from vallum.pipeline.layer import LayerContext

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def _rows(pattern: str) -> list[str]:
    texts: list[str] = []
    for path in sorted((DATA / "benign").glob(pattern)):
        with path.open(encoding="utf-8") as handle:
            texts.extend(json.loads(line)["text"] for line in handle if line.strip())
    return texts


def prompts_1kb(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    chat = _rows("chat_*.jsonl")
    out = []
    for _ in range(count):
        text = ""
        while len(text) < 1024:
            text += rng.choice(chat) + "\n"
        out.append(text[:1024])
    return out


def long_document(size: int) -> str:
    return "\n".join(_rows("doc_*.jsonl"))[:size]


def percentiles(fn: Callable[[str], object], texts: list[str]) -> dict[str, float]:
    for text in texts[:50]:
        fn(text)  # warm up
    times = []
    for text in texts:
        started = time.perf_counter()
        fn(text)
        times.append(time.perf_counter() - started)
    times.sort()
    return {
        "p50_ms": 1000 * times[len(times) // 2],
        "p99_ms": 1000 * times[int(len(times) * 0.99)],
    }


def throughput(fn: Callable[[str], object], text: str, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn(text)
        best = min(best, time.perf_counter() - started)
    return len(text.encode()) / best / 1e6


def _part(text: str, source: Source) -> TextPart:
    return TextPart(text, source, ("messages", 0, "content"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--size", type=int, default=2_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    normalizer = Normalizer()
    config = InputGuardConfig.model_validate({"type": "input_guard", "secrets": "block"})
    guard = InputGuard(config, LayerContext(clock=SystemClock()))
    asyncio.run(guard.start())
    with_pii = InputGuard(
        InputGuardConfig.model_validate({"type": "input_guard", "pii": "redact"}),
        LayerContext(clock=SystemClock()),
    )
    asyncio.run(with_pii.start())
    # the long document through injection and the content policy only (secrets and PII
    # have their own rows in bench/detectors_bench.py)
    label_only = InputGuard(
        InputGuardConfig.model_validate({"type": "input_guard", "secrets": "off"}),
        LayerContext(clock=SystemClock()),
    )
    prompts = prompts_1kb(args.rounds, args.seed)
    document = long_document(args.size)
    normalized = {text: normalizer.normalize(text) for text in prompts}
    # the same detectors the guard loops over, timed one by one
    injection = cast(InjectionCheck, guard.detectors["injection"])
    content = cast(ContentCheck, guard.detectors["content"])
    secrets = cast(SpanCheck, guard.detectors["secrets"])
    pii = cast(SpanCheck, with_pii.detectors["pii"])
    results: dict[str, dict[str, float] | float] = {
        "normalize_1kb": percentiles(normalizer.normalize, prompts),
        "guard_user_1kb": percentiles(lambda t: guard.scan_part(_part(t, Source.USER)), prompts),
        "guard_document_1kb": percentiles(
            lambda t: guard.scan_part(_part(t, Source.DOCUMENT)), prompts
        ),
        "guard_user_1kb_pii": percentiles(
            lambda t: with_pii.scan_part(_part(t, Source.USER)), prompts
        ),
        "part_injection_1kb": percentiles(
            lambda t: injection.detector.score(normalized[t], Trust.USER), prompts
        ),
        "part_content_1kb": percentiles(
            lambda t: content.detector.detect(normalized[t].scan_text), prompts
        ),
        "part_secrets_1kb": percentiles(secrets.matches, prompts),
        "part_pii_1kb": percentiles(pii.matches, prompts),
        "normalize_long_mb_s": throughput(normalizer.normalize, document),
        "guard_document_long_mb_s": throughput(
            lambda t: label_only.scan(t, Source.DOCUMENT), document
        ),
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for name, value in results.items():
        if isinstance(value, dict):
            print(f"{name:28s} p50 {value['p50_ms']:.3f} ms  p99 {value['p99_ms']:.3f} ms")
        else:
            print(f"{name:28s} {value:.2f} MB/s")


if __name__ == "__main__":
    main()
