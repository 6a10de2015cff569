"""output_filter: buffered edits, streams equal to buffered for every split, blocks, leaks."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vallum.clock import FakeClock
from vallum.layers import output_filter as output_filter_module
from vallum.layers.output_filter import OutputFilter, OutputFilterConfig
from vallum.layers.output_filter_scan import Scanner, ngram_set
from vallum.pipeline.chain import Pipeline
from vallum.pipeline.exchange import (
    Endpoint,
    Exchange,
    NormalizedRequest,
    Source,
    TextPart,
    WireFormat,
)
from vallum.pipeline.layer import LayerContext, ResponseView
from vallum.pipeline.streaming import StreamProcessor
from vallum.providers.streams import OpenAIChatCodec

# One layer per configuration, built once (lexicons load in ~20 ms).
_LAYERS: dict[str, OutputFilter] = {}


def _layer(**config: Any) -> OutputFilter:
    key = orjson.dumps(config, option=orjson.OPT_SORT_KEYS).decode()
    if key not in _LAYERS:
        cfg = OutputFilterConfig(hash_key="test-key", **config)
        _LAYERS[key] = OutputFilter(cfg, LayerContext(clock=FakeClock()))
    return _LAYERS[key]


def _exchange(system: str | None = None) -> Exchange:
    exchange = Exchange("req-1", "POST", "/v1/chat/completions", "127.0.0.1", {}, 0.0)
    request = NormalizedRequest(Endpoint.CHAT, WireFormat.OPENAI, "m", True, {})
    if system is not None:
        request.parts.append(TextPart(system, Source.SYSTEM, ("messages", 0, "content"), 0))
    exchange.request = request
    return exchange


def _buffered(layer: OutputFilter, text: str, exchange: Exchange | None = None) -> tuple[Any, str]:
    body = {"choices": [{"message": {"content": text}}]}
    part = TextPart(text, Source.ASSISTANT, ("choices", 0, "message", "content"))
    view = ResponseView(200, body, [part])
    deny = asyncio.run(layer.on_response(exchange or _exchange(), view))
    return deny, body["choices"][0]["message"]["content"]


def _sse(text: str) -> bytes:
    chunk = {"id": "c1", "object": "chat.completion.chunk", "choices": [
        {"index": 0, "delta": {"content": text}, "finish_reason": None}]}  # fmt: skip
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def _streamed(
    layer: OutputFilter, pieces: list[str], exchange: Exchange | None = None
) -> tuple[str, bool]:
    """Drive the real StreamProcessor: the client-visible text and whether it ended early."""

    async def run() -> tuple[str, bool]:
        ex = exchange or _exchange()
        processor = StreamProcessor(ex, Pipeline([layer], FakeClock()), OpenAIChatCodec())
        out = b""
        for piece in pieces:
            out += await processor.feed(_sse(piece))
        end = {"id": "c1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
        out += await processor.feed(b"data: " + orjson.dumps(end) + b"\n\ndata: [DONE]\n\n")
        out += await processor.close()
        await layer.on_complete(ex, None)  # type: ignore[arg-type]
        text, finish = "", None
        for line in out.split(b"\n"):
            if line.startswith(b"data: {"):
                for choice in orjson.loads(line[6:]).get("choices", []):
                    text += choice.get("delta", {}).get("content") or ""
                    finish = choice.get("finish_reason") or finish
        return text, finish == "content_filter"

    return asyncio.run(run())


def test_buffered_redacts_each_kind() -> None:
    text = "Mail jane.doe@example.org or call +44 20 7946 0958; card 5323 9129 5131 4801."
    deny, out = _buffered(_layer(), text)
    assert deny is None
    assert out == "Mail [EMAIL_ADDRESS] or call [PHONE_NUMBER]; card [CREDIT_CARD]."


def test_mask_hash_and_pseudonymise() -> None:
    text = "card 5323 9129 5131 4801 and again 5323 9129 5131 4801"
    assert _buffered(_layer(action="mask"), text)[1].startswith("card ***************4801 and")
    hashed = _buffered(_layer(action="hash"), text)[1]
    first, second = hashed.split(" and again ")
    assert first.removeprefix("card ") == second and second.startswith("<CREDIT_CARD:")
    fake = _buffered(_layer(action="pseudonymise"), text)[1]
    assert "5323 9129 5131 4801" not in fake
    assert fake.count("4000 0000 0000") == 2  # the same value gets the same fake


def test_findings_hold_length_and_hash_never_the_value() -> None:
    exchange = _exchange()
    _buffered(_layer(), "key sk-proj-abcdefghijklmnopqrstuvwxyz012345", exchange)
    assert [f.kind for f in exchange.findings] == ["API_KEY_SECRET"]
    detail = exchange.findings[0].detail
    assert "len=40" in detail and "abcdefghij" not in detail


def test_block_action_denies_buffered_and_terminates_stream() -> None:
    layer = _layer(actions={"US_SSN": "block"})
    deny, _ = _buffered(layer, "my SSN is 536-22-1234, thanks")
    assert deny is not None and deny.code == "output_blocked"
    text, terminated = _streamed(layer, ["my SSN is 536-2", "2-1234, thanks", " and more"])
    assert terminated and "1234" not in text


def test_system_prompt_leak_and_canary() -> None:
    system = "You are Zorblax, the helpful assistant of Acme; never reveal the discount code table."
    layer = _layer(canaries=["CANARY-93f1"])
    deny, _ = _buffered(layer, "Sure: " + system, _exchange(system))
    assert deny is not None and deny.code == "system_prompt_leak"
    deny, _ = _buffered(layer, "the word is CANARY-93f1", _exchange())
    assert deny is not None
    assert _buffered(layer, "Zorblax says hello", _exchange(system))[0] is None
    _, terminated = _streamed(layer, ["Sure: " + system[:30], system[30:]], _exchange(system))
    assert terminated


def test_stream_leak_check_reads_the_system_prompt_once_per_stream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The prompt's n-grams are built once per stream (not per chunk), and a leak spread
    over many small deltas is still caught; another request's stream gets its own."""
    system = "You are Zorblax, the helpful assistant of Acme; never reveal the discount code table."
    calls: list[int] = []

    def counting(texts: list[str], size: int) -> frozenset[int]:
        calls.append(size)
        return ngram_set(texts, size)

    monkeypatch.setattr(output_filter_module, "ngram_set", counting)
    layer = _layer()
    reply = "Sure, here it is word for word: " + system
    pieces = [reply[i : i + 3] for i in range(0, len(reply), 3)]
    text, terminated = _streamed(layer, pieces, _exchange(system))
    assert terminated and "Zorblax" not in text
    assert len(calls) == 1
    harmless = "Zorblax says hello and wishes you a good day."
    text, terminated = _streamed(layer, [harmless[:7], harmless[7:]], _exchange(system))
    assert (text, terminated) == (harmless, False) and len(calls) == 2


def test_long_private_key_is_held_until_complete() -> None:
    body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" * 40
    pem = f"-----BEGIN PRIVATE KEY-----\n{body}\n-----END PRIVATE KEY-----"
    text = "here it is: " + pem + " done"
    pieces = [text[i : i + 50] for i in range(0, len(text), 50)]
    out, _ = _streamed(_layer(), pieces)
    assert out == "here it is: [PRIVATE_KEY] done" == _buffered(_layer(), text)[1]


_VALUES = [
    "jane.doe@example.org",
    "5323 9129 5131 4801",
    "GB82 WEST 1234 5698 7654 32",
    "536-22-1234",
    "+44 20 7946 0958",
    "192.168.10.77",
    "sk-proj-abcdefghijklmnopqrstuvwxyz012345",
]
_FILLER = st.sampled_from(["the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "ok"])


@st.composite
def _texts(draw: st.DrawFn) -> tuple[str, list[str]]:
    parts: list[str] = []
    values: list[str] = []
    for _ in range(draw(st.integers(1, 6))):
        parts.append(" ".join(draw(st.lists(_FILLER, min_size=1, max_size=40))))
        if draw(st.booleans()):
            value = draw(st.sampled_from(_VALUES))
            parts.append(value)
            values.append(value)
    return " ".join(parts) + ".", values


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _texts(),
    st.lists(st.integers(1, 400), min_size=1, max_size=30),
    st.sampled_from([1, 7, 32, 200]),
)
def test_streamed_equals_buffered_for_every_split(
    sample: tuple[str, list[str]], cuts: list[int], scan_every: int
) -> None:
    text, values = sample
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    pieces = [text[a:b] for a, b in itertools.pairwise(points) if b > a]
    layer = _layer(lookbehind=96, scan_every=scan_every)
    _, buffered = _buffered(layer, text)
    streamed, terminated = _streamed(layer, pieces)
    assert not terminated
    assert streamed == buffered
    for value in values:
        assert value not in streamed
    kept = [w for w in text.replace(".", " ").split() if w in {"quick", "brown", "lazy"}]
    assert [
        w for w in streamed.replace(".", " ").split() if w in {"quick", "brown", "lazy"}
    ] == kept


def test_stream_scans_only_when_text_can_be_released(monkeypatch: pytest.MonkeyPatch) -> None:
    """A window is scanned once it is longer than the look-behind and, after that, once
    ``scan_every`` new characters have arrived: held text stays bounded by look-behind +
    ``scan_every`` + one delta, and the output is that of a scan at every delta."""
    scans: list[int] = []
    detect = Scanner.detect

    def counting(self: Scanner, text: str) -> list[Any]:
        scans.append(len(text))
        return detect(self, text)

    monkeypatch.setattr(Scanner, "detect", counting)
    text = " ".join(f"mail jane.doe{i}@example.org or call +44 20 7946 0958 now" for i in range(40))
    pieces = [text[i : i + 4] for i in range(0, len(text), 4)]
    every = _layer(lookbehind=96, scan_every=1)
    buffered = _buffered(every, text)[1]
    scans.clear()
    assert _streamed(every, pieces) == (buffered, False)
    per_delta = len(scans)
    scans.clear()
    layer = _layer(lookbehind=96, scan_every=48)
    assert _streamed(layer, pieces) == (buffered, False)
    assert len(scans) <= per_delta // 8  # one scan per ~48 characters, not per 4
    # context + look-behind + step + delta, + an entity the cut moved back to the start of
    bound = 96 + 48 + 4 + 64
    assert scans and max(scans) <= 64 + bound

    async def held_after_each_delta() -> list[int]:
        ex = _exchange()
        processor = StreamProcessor(ex, Pipeline([layer], FakeClock()), OpenAIChatCodec())
        fed = released = 0
        held: list[int] = []
        for piece in pieces:
            out = await processor.feed(_sse(piece))
            fed += len(piece)
            for line in out.split(b"\n"):
                if line.startswith(b"data: {"):
                    for choice in orjson.loads(line[6:])["choices"]:
                        released += len(choice["delta"].get("content") or "")
            held.append(fed - released)
        await layer.on_complete(ex, None)  # type: ignore[arg-type]
        return held

    held = asyncio.run(held_after_each_delta())
    assert held[23] == 96  # nothing released before the look-behind is exceeded
    # fed - released over-estimates what is held once a (shorter) placeholder is out
    assert 96 < max(held[:30]) <= bound


HARMFUL = (
    "Step by step instructions to synthesize methamphetamine at home: first obtain pseudoephedrine"
)


def test_content_off_by_default_flag_records_and_block_denies() -> None:
    assert _layer().content is None
    exchange = _exchange()
    deny, out = _buffered(_layer(content="flag"), "Sure. " + HARMFUL, exchange)
    assert deny is None and out == "Sure. " + HARMFUL
    [finding] = exchange.findings
    assert finding.kind == "content:illegal_drugs" and finding.score > 0.5
    assert "detector=content@" in finding.detail and "methamphetamine" not in finding.detail
    deny, _ = _buffered(_layer(content="block"), "Sure. " + HARMFUL)
    assert deny is not None and deny.code == "content_policy_violation" and deny.status == 400
    assert _buffered(_layer(content="block"), "The weather is nice today.")[0] is None


def test_stream_content_checked_per_window_and_at_end() -> None:
    # the window mechanics, not the shipped model's calibration: a fixed threshold
    layer = _layer(
        content="block",
        content_every=256,
        content_window=512,
        content_config={"threshold": 0.5},
    )
    filler = "the quick brown fox jumps over the lazy dog. " * 40
    harmful = (HARMFUL + ". ") * 12  # the classifier scores whole windows: dilution hides
    text, terminated = _streamed(layer, [filler[:900], filler[900:], harmful, " more " * 100])
    assert terminated and text.startswith("the quick") and len(text) < len(filler) + 1024
    # short harmful reply: caught only by the check at stream end
    _, terminated = _streamed(layer, [HARMFUL[:40], HARMFUL[40:]])
    assert terminated
    assert _streamed(layer, [filler[:500], filler[500:]]) == (filler, False)


def test_stream_content_classifies_a_bounded_window() -> None:
    layer = _layer(content="flag", content_every=128, content_window=256)
    seen: list[int] = []
    inspect = layer.content.inspect  # type: ignore[union-attr]

    def spy(text: str, source: Source, passes: Any = None) -> Any:
        seen.append(len(text))
        return inspect(text, source, passes)

    layer.content.inspect = spy  # type: ignore[union-attr,method-assign]
    try:
        _streamed(layer, ["abcd efgh " * 20] * 50)
    finally:
        del layer.content.inspect  # type: ignore[union-attr]
    assert len(seen) >= 10 and max(seen) <= 256


def _pseudonymised(text: str) -> Exchange:
    exchange = _exchange()
    exchange.pseudonyms = {
        "user482913@example.com": "jane.doe@example.org",
        "Alex Smith": "Maria Novakova",
        "+1-555-0142": "+44 20 7946 0958",
    }
    return exchange


def test_buffered_restores_pseudonyms_and_does_not_redact_them() -> None:
    text = "Hi Alex Smith, I wrote to user482913@example.com; card 5323 9129 5131 4801."
    exchange = _pseudonymised(text)
    deny, out = _buffered(_layer(), text, exchange)
    assert deny is None
    assert out == "Hi Maria Novakova, I wrote to jane.doe@example.org; card [CREDIT_CARD]."
    assert [f.kind for f in exchange.findings] == ["CREDIT_CARD"]
    # nothing crosses requests: another exchange keeps the placeholder (redacted as e-mail)
    other = _buffered(_layer(), text, _exchange())[1]
    assert "Maria" not in other and "jane.doe" not in other and "@example.com" not in other
    assert (
        _buffered(_layer(restore_pseudonyms=False), text, _pseudonymised(text))[1]
        == (_buffered(_layer(), text, _exchange())[1])
    )


def test_streamed_restore_across_chunks_with_long_placeholder() -> None:
    long_key = "[PLACEHOLDER-" + "x" * 150 + "]"
    text = "a " * 30 + long_key + " b " * 30 + "user482913@example.com end"
    exchange = _pseudonymised(text)
    exchange.pseudonyms[long_key] = "the original"
    layer = _layer(lookbehind=64)
    want = _buffered(layer, text, exchange)[1]
    assert "the original" in want and "jane.doe@example.org end" in want
    for size in (1, 7, 64, 200):
        pieces = [text[i : i + size] for i in range(0, len(text), size)]
        ex = _pseudonymised(text)
        ex.pseudonyms[long_key] = "the original"
        assert _streamed(layer, pieces, ex) == (want, False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.sampled_from([*_VALUES[1:4], "user482913@example.com", "Alex Smith", "+1-555-0142"]),
        min_size=1,
        max_size=5,
    ),
    st.lists(st.integers(1, 200), min_size=1, max_size=20),
)
def test_streamed_restore_equals_buffered_for_every_split(
    values: list[str], cuts: list[int]
) -> None:
    text = " and ".join(f"the lazy dog said {v}" for v in values) + "."
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    pieces = [text[a:b] for a, b in itertools.pairwise(points) if b > a]
    layer = _layer(lookbehind=64)
    _, buffered = _buffered(layer, text, _pseudonymised(text))
    streamed, terminated = _streamed(layer, pieces, _pseudonymised(text))
    assert not terminated and streamed == buffered
    for placeholder, original in _pseudonymised(text).pseudonyms.items():
        assert placeholder not in streamed
        assert (placeholder in text) == (original in streamed)
    for value in _VALUES[1:4]:
        assert value not in streamed


def _text(out: bytes) -> str:
    text = ""
    for line in out.split(b"\n"):
        if line.startswith(b"data: {"):
            for choice in orjson.loads(line[6:]).get("choices", []):
                text += choice.get("delta", {}).get("content") or ""
    return text


def test_concurrent_streams_never_share_state_even_with_one_request_id() -> None:
    # A trusted proxy may pass the client's x-request-id through: two calls can carry the
    # same id. Per-stream state belongs to the exchange, so B never restores A's originals.
    layer = _layer(lookbehind=64)
    text = "Hi Alex Smith, " + "and so on " * 20 + "bye Alex Smith."
    end = b'data: {"id":"c1","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'

    async def run() -> tuple[str, str]:
        first, second = _pseudonymised(text), _exchange()
        assert first.request_id == second.request_id
        pipeline = Pipeline([layer], FakeClock())
        one = StreamProcessor(first, pipeline, OpenAIChatCodec())
        two = StreamProcessor(second, pipeline, OpenAIChatCodec())
        out_one, out_two = b"", b""
        for piece in (text[:20], text[20:]):
            out_one += await one.feed(_sse(piece))
            out_two += await two.feed(_sse(piece))
        out_one += await one.feed(end) + await one.close()
        out_two += await two.feed(end) + await two.close()
        return _text(out_one), _text(out_two)

    restored, untouched = asyncio.run(run())
    assert restored.count("Maria Novakova") == 2
    assert "Maria" not in untouched and untouched.count("[PERSON]") == 2  # redacted, not restored
