"""The record: every field the issue names, and never a credential or raw prompt."""

from __future__ import annotations

import orjson

from tests.unit.audit.helpers import finding, make_exchange, make_outcome
from vallum.audit.record import RecordBuilder, decision_of
from vallum.pipeline.exchange import Exchange

BUILDER = RecordBuilder(instance_id="inst", hash_key=b"k" * 32, capture_text=False)


def test_a_record_holds_identity_tokens_latency_and_decision() -> None:
    exchange = make_exchange(1)
    exchange.findings.append(finding("secret"))
    exchange.routing.extend(["eu/gpt-4o:status_5xx", "us/gpt-4o:ok"])
    record = BUILDER.build(exchange, make_outcome(200), 1_700_000_000.5)
    assert record["routing"] == ["eu/gpt-4o:status_5xx", "us/gpt-4o:ok"]
    assert record["identity"]["credential_id"] == "vk_pub123"
    assert record["identity"]["team"] == "research"
    assert record["tokens"] == {"in": 3, "out": 5}
    assert record["decision"] == "allow"
    assert record["layers_ms"] == {"validate": 0.02}
    assert record["latency_ms"] == 12.0
    assert record["findings"][0]["kind"] == "secret"
    assert record["prompt"] == {"chars": 7, "mac": BUILDER.text_digest("hello 1")}


def test_no_header_secret_or_prompt_text_reaches_the_record() -> None:
    exchange = make_exchange(1, path="/v1/sk-proj-abcdefghijklmnopqrstuvwx")
    exchange.headers["x-forwarded-for"] = "1.2.3.4, token=abcdefghijkl"
    text = orjson.dumps(BUILDER.build(exchange, make_outcome(404), 1.0))
    assert b"SECRETSECRET" not in text
    assert b"hello 1" not in text
    assert b"abcdefghijklmnop" not in text
    assert b"authorization" not in text.lower()


def test_a_request_rejected_before_parsing_still_gets_a_record() -> None:
    bare = Exchange(
        request_id="req_x", method="GET", path="/nope", client_ip="::1", headers={}, started=0.0
    )
    record = BUILDER.build(bare, make_outcome(404, error_code="unknown_route"), 1.0)
    assert record["decision"] == "reject"
    assert record["model"] is None and record["identity"] is None and record["prompt"] is None


def test_capture_stores_the_text_as_the_layers_left_it() -> None:
    capture = RecordBuilder(instance_id="i", hash_key=b"k", capture_text=True)
    assert capture.build(make_exchange(2), make_outcome(), 1.0)["prompt"]["text"] == "hello 2"


def test_decisions() -> None:
    assert decision_of(200, None) == "allow"
    assert decision_of(403, "authz") == "deny"
    assert decision_of(413, None) == "reject"
    assert decision_of(502, None) == "error"
    assert decision_of(499, None) == "error"


def test_the_completion_is_kept_as_length_and_mac_and_the_cost_as_given() -> None:
    exchange = make_exchange(3, cost_usd=0.000042)
    exchange.set_completion(["first answer", "second"])
    record = BUILDER.build(exchange, make_outcome(), 1.0)
    joined = "first answer\nsecond"
    assert exchange.completion_chars == len(joined)
    assert record["completion"] == {"chars": len(joined), "mac": BUILDER.text_digest(joined)}
    assert record["cost_usd"] == 0.000042
    assert "first answer" not in str(record)
    capture = RecordBuilder(instance_id="i", hash_key=b"k", capture_text=True)
    assert capture.build(exchange, make_outcome(), 1.0)["completion"]["text"] == joined


def test_a_stream_no_reader_parsed_has_an_unknown_completion_length() -> None:
    passed = make_exchange(4, stream_outcome="completed")
    assert BUILDER.build(passed, make_outcome(), 1.0)["completion"] == {"chars": None}
    refused = make_exchange(5, status=403)
    record = BUILDER.build(refused, make_outcome(403, decided_by="authz"), 1.0)
    assert record["completion"] is None and record["cost_usd"] is None
