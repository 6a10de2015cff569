#!/usr/bin/env python3
"""Micro-benchmark: orjson vs msgspec on Vallum's JSON paths (request parse, response parse,
re-serialisation of a dirty body, one SSE chunk), with the harness's own bodies.

    .venv/bin/python bench/json_codec_bench.py        # needs `pip install msgspec` to compare

Prints microseconds per call (best of 5 repeats) and msgspec/orjson ratios.
"""

from __future__ import annotations

import json
import timeit

import orjson

REQUEST = json.dumps(
    {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {
                "role": "user",
                "content": "Write one sentence about a quick brown fox so that the gateway "
                "benchmark has a realistic small prompt.",
            },
        ],
        "max_tokens": 64,
        "temperature": 0.2,
    },
    separators=(",", ":"),
).encode()
RESPONSE = json.dumps(
    {
        "id": "chatcmpl-mock0001",
        "object": "chat.completion",
        "created": 1730000000,
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "The quick brown fox " * 6},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 30, "completion_tokens": 24, "total_tokens": 54},
    }
).encode()
CHUNK = (
    b'{"id":"chatcmpl-mock0001","object":"chat.completion.chunk","created":1730000000,'
    b'"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_mock","choices":[{"index":0,'
    b'"delta":{"content":" fox"},"logprobs":null,"finish_reason":null}]}'
)


def best_us(fn: object, number: int = 20000) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6  # type: ignore[arg-type]


def main() -> None:
    try:
        import msgspec
    except ImportError:
        msgspec = None
    obj = orjson.loads(REQUEST)
    cases = {
        "request parse": (lambda: orjson.loads(REQUEST), lambda: msgspec.json.decode(REQUEST)),
        "response parse": (lambda: orjson.loads(RESPONSE), lambda: msgspec.json.decode(RESPONSE)),
        "SSE chunk parse": (lambda: orjson.loads(CHUNK), lambda: msgspec.json.decode(CHUNK)),
        "request re-encode": (lambda: orjson.dumps(obj), lambda: msgspec.json.encode(obj)),
    }
    print("| path | orjson µs | msgspec µs | msgspec / orjson |")
    print("|---|---|---|---|")
    for name, (fast, other) in cases.items():
        a = best_us(fast)
        if msgspec is None:
            print(f"| {name} | {a:.2f} | - | - |")
            continue
        b = best_us(other)
        print(f"| {name} | {a:.2f} | {b:.2f} | {b / a:.2f} |")


if __name__ == "__main__":
    main()
