"""Audit records end to end: cost from the ratelimit prices, and the completion as the
client got it (length + keyed MAC, or the redacted text under capture_text)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openai

from tests.e2e.conftest import gateway_config
from tests.support.servers import ServerThread
from vallum.audit.record import RecordBuilder
from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.proxy.app import GatewayApp

PROMPT = "Contact jane.doe@example.org about the invoice."
REDACTED = "Contact [EMAIL_ADDRESS] about the invoice."
HASH_KEY = "audit-completion-test-key"
# USD per 1M tokens: input 2, output 8
PRICE = {"model": "gpt-echo", "input_per_million": 2.0, "output_per_million": 8.0}


def _layers(
    tmp_path: Path, *, capture_text: bool, ratelimit: dict[str, Any], filtered: bool
) -> list[Any]:
    audit = {
        "type": "audit",
        "sinks": [{"type": "jsonl", "directory": str(tmp_path / "jsonl")}],
        "spool": {"directory": str(tmp_path / "spool")},
        "hash_key_env": "VALLUM_TEST_AUDIT_HASH_KEY",
        "capture_text": capture_text,
        "log_format": "keep",
    }
    middle = [ratelimit, {"type": "output_filter"}] if filtered else [ratelimit]
    return [{"type": "validate"}, *middle, audit]


def _run(
    upstream: ServerThread,
    tmp_path: Path,
    *,
    capture_text: bool,
    ratelimit: dict[str, Any],
    stream: bool = False,
    filtered: bool = True,
) -> list[dict[str, Any]]:
    layers = _layers(tmp_path, capture_text=capture_text, ratelimit=ratelimit, filtered=filtered)
    seen = REDACTED if filtered else PROMPT
    config = build_config(gateway_config(upstream.url, layers=layers))
    with (
        ServerThread(GatewayApp(Gateway(config))) as server,
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="x", max_retries=0) as client,
    ):
        messages = [{"role": "user", "content": PROMPT}]
        if stream:
            pieces = [
                choice.delta.content or ""
                for chunk in client.chat.completions.create(
                    model="gpt-echo",
                    messages=messages,  # type: ignore[arg-type]
                    stream=True,
                )
                for choice in chunk.choices
            ]
            assert "".join(pieces) == seen
        else:
            reply = client.chat.completions.create(model="gpt-echo", messages=messages)  # type: ignore[arg-type]
            assert reply.choices[0].message.content == seen
    lines = []
    for path in sorted((tmp_path / "jsonl").glob("audit-*.jsonl")):
        lines += path.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    return [r for r in records if r.get("type") == "request"]


def _digest(text: str) -> str:
    return RecordBuilder(
        instance_id="i", hash_key=HASH_KEY.encode(), capture_text=False
    ).text_digest(text)


PRICED = {"type": "ratelimit", "prices": [PRICE]}
PRICED_WITH_BUDGET = {
    "type": "ratelimit",
    "prices": [PRICE],
    "limits": [{"scope": "ip", "spend_per_day_usd": 100.0}],
}


def test_cost_and_completion_mac_without_the_raw_text(
    upstream: ServerThread, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("VALLUM_TEST_AUDIT_HASH_KEY", HASH_KEY)
    records = _run(upstream, tmp_path, capture_text=False, ratelimit=PRICED)
    assert len(records) == 1
    record = records[0]
    tokens = record["tokens"]
    assert tokens["in"] > 0 and tokens["out"] > 0
    expected = (tokens["in"] * 2.0 + tokens["out"] * 8.0) / 1_000_000
    assert abs(record["cost_usd"] - expected) <= 1e-6
    assert record["completion"] == {"chars": len(REDACTED), "mac": _digest(REDACTED)}
    raw = (tmp_path / "jsonl").glob("audit-*.jsonl")
    text = "".join(p.read_text(encoding="utf-8") for p in raw)
    assert "invoice" not in text and "jane.doe" not in text


def test_capture_text_keeps_the_redacted_completion_and_a_budgeted_cost(
    upstream: ServerThread, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("VALLUM_TEST_AUDIT_HASH_KEY", HASH_KEY)
    records = _run(upstream, tmp_path, capture_text=True, ratelimit=PRICED_WITH_BUDGET)
    (record,) = records
    assert record["completion"] == {"chars": len(REDACTED), "text": REDACTED}
    assert record["cost_usd"] is not None and record["cost_usd"] > 0


def test_a_filtered_stream_records_the_released_text(
    upstream: ServerThread, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("VALLUM_TEST_AUDIT_HASH_KEY", HASH_KEY)
    records = _run(upstream, tmp_path, capture_text=True, ratelimit=PRICED, stream=True)
    (record,) = records
    assert record["stream"] is True
    assert record["completion"] == {"chars": len(REDACTED), "text": REDACTED}


def test_an_unpriced_model_has_no_cost(
    upstream: ServerThread, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("VALLUM_TEST_AUDIT_HASH_KEY", HASH_KEY)
    other = {"type": "ratelimit", "prices": [{**PRICE, "model": "claude-*"}]}
    (record,) = _run(upstream, tmp_path, capture_text=False, ratelimit=other)
    assert record["cost_usd"] is None
    assert record["completion"]["chars"] == len(REDACTED)


def test_a_pass_through_stream_has_no_completion_length(
    upstream: ServerThread, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setenv("VALLUM_TEST_AUDIT_HASH_KEY", HASH_KEY)
    (record,) = _run(
        upstream, tmp_path, capture_text=True, ratelimit=PRICED, stream=True, filtered=False
    )
    assert record["stream_outcome"] == "completed"
    assert record["completion"] == {"chars": None}
    assert record["cost_usd"] is not None  # priced model: a cost, from usage or reservation
