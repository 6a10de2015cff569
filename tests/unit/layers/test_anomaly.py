"""``anomaly``: events are queued on the request path; actions are enforced, audited, reversible."""

from __future__ import annotations

import random
from typing import Any

from tests.unit.layers.identity_support import exchange
from vallum.clock import FakeClock
from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.identity.records import KeySpec
from vallum.layers.anomaly import Anomaly
from vallum.pipeline.exchange import Source, TextPart, Usage
from vallum.pipeline.layer import Outcome

WORDS = [f"w{i}" for i in range(500)]


def _gateway(anomaly: dict[str, Any] | None = None) -> Gateway:
    config = build_config(
        {
            "storage": {"url": "memory://", "counters_url": "memory://"},
            "providers": [{"name": "mock", "type": "mock"}],
            "models": [{"name": "gpt-4o-mini", "provider": "mock"}],
            "layers": [
                {"type": "ipblock"},
                {"type": "anomaly", **(anomaly or {})},
                {"type": "authn"},
                {"type": "authz"},
            ],
        },
        source="<test>",
    )
    return Gateway(config, clock=FakeClock())


async def _key(gateway: Gateway) -> tuple[str, str]:
    assert gateway.identity is not None
    record, issued = await gateway.identity.store.create_key(KeySpec(roles=("user",)), actor="t")
    await gateway.identity.cache.refresh("key", record.public_id)
    return issued.reveal(), record.public_id


def _layer(gateway: Gateway) -> Anomaly:
    layer = gateway.pipeline.layers[1]
    assert isinstance(layer, Anomaly)
    return layer


async def _call(gateway: Gateway, key: str, ip: str, text: str, body: dict[str, Any]) -> int:
    ex = exchange({"authorization": f"Bearer {key}"}, client_ip=ip)
    assert ex.request is not None
    ex.request.body = body
    ex.request.parts = [TextPart(text, Source.USER, ("messages", 0, "content"), 0)]
    deny = await gateway.pipeline.on_headers(ex) or await gateway.pipeline.on_request(ex)
    status = 200 if deny is None else deny.status
    ex.usage = Usage(20, 20) if deny is None else None
    clock = gateway.clock
    assert isinstance(clock, FakeClock)
    clock.advance(0.3)
    await gateway.pipeline.on_complete(ex, Outcome(status, None, ex.decided_by, 0.3))
    await _layer(gateway).drain()
    return status


async def _extraction_burst(gateway: Gateway, key: str, calls: int = 60) -> list[int]:
    rng = random.Random(2)
    statuses = []
    for _ in range(calls):
        text = rng.choice(
            [
                "What is the {} of {}?",
                "Give the {} of {} only.",
                "Q: {} {}? A:",
                "Define {} as {}.",
                "Rate {} for {}.",
            ]
        ).format(rng.choice(WORDS[:9]), rng.choice(WORDS))
        body = {
            "logprobs": True,
            "top_logprobs": rng.choice([5, 20]),
            "temperature": rng.choice([0, 1, 2]),
        }
        statuses.append(await _call(gateway, key, f"203.0.113.{rng.randint(2, 250)}", text, body))
    return statuses


async def test_on_complete_only_queues() -> None:
    gateway = _gateway()
    await gateway.start()
    try:
        layer = _layer(gateway)
        ex = exchange({}, client_ip="10.0.0.1")
        await layer.on_complete(ex, Outcome(200, None, None, 0.1))
        assert len(layer.queue) == 1 and layer.queue[0].sketch is None
    finally:
        await gateway.stop()


async def test_extraction_burst_revokes_blocks_and_alerts() -> None:
    gateway = _gateway()
    await gateway.start()
    try:
        key, public_id = await _key(gateway)
        statuses = await _extraction_burst(gateway, key)
        assert statuses[0] == 200 and statuses[-1] in (401, 403)
        layer = _layer(gateway)
        assert layer.responder is not None
        incidents = await layer.responder.incidents.recent()
        extraction = next(i for i in incidents if i.detector == "extraction")
        kinds = {a.kind for a in extraction.actions if a.status == "done"}
        assert {"alert", "revoke", "block"} <= kinds
        assert gateway.identity is not None
        record = await gateway.identity.store.get_key(public_id)
        assert record is not None and record.revoked_at is not None
        trail = await layer.responder.incidents.audit_trail()
        assert {"anomaly.revoke", "anomaly.block"} <= {r["action"] for r in trail}
        assert layer.responder.alerter.sent
        # resolving lifts the block; the revocation is reported as irreversible
        resolved = await layer.responder.resolve(extraction.id, actor="test")
        assert layer.enforcement is not None
        assert layer.enforcement.hot.blocked("203.0.113.9", gateway.clock.now()) is None
        assert {a.status for a in resolved.actions if a.kind == "revoke"} == {"irreversible"}
    finally:
        await gateway.stop()


async def test_dry_run_alerts_without_acting() -> None:
    gateway = _gateway({"dry_run": True})
    await gateway.start()
    try:
        key, _ = await _key(gateway)
        statuses = await _extraction_burst(gateway, key)
        assert set(statuses) == {200}
        layer = _layer(gateway)
        assert layer.responder is not None
        incidents = await layer.responder.incidents.recent()
        statuses_seen = {a.status for i in incidents for a in i.actions if a.kind != "alert"}
        assert statuses_seen == {"dry_run"}
    finally:
        await gateway.stop()


async def test_allow_listed_key_is_exempt() -> None:
    gateway = _gateway()
    await gateway.start()
    try:
        key, public_id = await _key(gateway)
        layer = _layer(gateway)
        assert layer.responder is not None
        layer.responder.settings = layer.responder.settings.model_copy(
            update={"allow_keys": (public_id,)}
        )
        statuses = await _extraction_burst(gateway, key)
        assert set(statuses) == {200}
        incidents = await layer.responder.incidents.recent()
        assert incidents and {a.status for i in incidents for a in i.actions} == {"allow_listed"}
    finally:
        await gateway.stop()


async def test_suspended_key_gets_401_and_throttled_key_429() -> None:
    gateway = _gateway()
    await gateway.start()
    try:
        key, public_id = await _key(gateway)
        layer = _layer(gateway)
        assert layer.enforcement is not None
        await layer.enforcement.change("throttled", public_id, {"rpm": 2})
        codes = [await _call(gateway, key, "10.0.0.1", "hi there", {}) for _ in range(3)]
        assert codes == [200, 200, 429]
        await layer.enforcement.change("throttled", public_id, None)
        await layer.enforcement.change("suspended", public_id, {})
        assert await _call(gateway, key, "10.0.0.1", "hi", {}) == 401
        await layer.enforcement.change("suspended", public_id, None)
        assert await _call(gateway, key, "10.0.0.1", "hi", {}) == 200
    finally:
        await gateway.stop()
