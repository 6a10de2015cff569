"""authn: API keys from the three headers, one generic 401, failure counters, no leaks."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest

from tests.unit.layers.identity_support import exchange, identity_gateway
from vallum.gateway import Gateway
from vallum.identity.model import AuthMethod, Identity
from vallum.identity.records import KeySpec
from vallum.layers.authn import Authn, failure_counter_keys


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    gw = identity_gateway([{"type": "authn"}])
    await gw.start()
    try:
        yield gw
    finally:
        await gw.stop()


def _layer(gateway: Gateway) -> Authn:
    layer = gateway.pipeline.layers[0]
    assert isinstance(layer, Authn)
    return layer


async def _key(gateway: Gateway, **spec: object) -> tuple[str, str]:
    assert gateway.identity is not None
    record, issued = await gateway.identity.store.create_key(
        KeySpec.model_validate({"roles": ["user"], **spec}), actor="test"
    )
    await gateway.identity.cache.refresh("key", record.public_id)
    return record.public_id, issued.reveal()


@pytest.mark.parametrize(
    "header",
    [
        ("authorization", "Bearer {key}"),
        ("authorization", "bearer {key}"),
        ("x-api-key", "{key}"),
        ("api-key", "{key}"),
    ],
)
async def test_key_accepted_from_each_header(gateway: Gateway, header: tuple[str, str]) -> None:
    public_id, key = await _key(gateway, team=None)
    ex = exchange({header[0]: header[1].format(key=key)})
    assert await _layer(gateway).on_request(ex) is None
    assert isinstance(ex.identity, Identity)
    assert ex.identity.credential_id == public_id and ex.identity.method is AuthMethod.API_KEY
    assert header[0] not in ex.headers  # stripped: later layers and logs never see it


def _mutations(key: str) -> list[str]:
    """Keys with one changed character, in the id and in the secret (issue's attack table)."""
    out = []
    for index in (3, 10, len(key) - 20, len(key) - 1):
        swapped = "A" if key[index] != "A" else "B"
        out.append(key[:index] + swapped + key[index + 1 :])
    return out


async def test_every_failure_gets_the_same_401(gateway: Gateway) -> None:
    _, key = await _key(gateway)
    _, revoked = await _key(gateway)
    assert gateway.identity is not None
    await gateway.identity.store.revoke_key(parse_id(revoked), actor="t")
    await gateway.identity.cache.refresh("key", parse_id(revoked))
    _, expired = await _key(gateway, expires_at=1.0)
    _, fenced = await _key(gateway, allowed_ips=["192.168.0.0/16"])
    attempts = [
        {},
        {"authorization": "Basic dXNlcjpwYXNz"},
        {"authorization": "Bearer "},
        {"authorization": "Bearer vk_short"},
        {"authorization": f"Bearer {key}", "x-api-key": revoked},  # two different credentials
        {"authorization": f"Bearer {revoked}"},
        {"authorization": f"Bearer {expired}"},
        {"authorization": f"Bearer {fenced}"},
        {"authorization": "Bearer sk-not-a-vallum-key"},
        *({"x-api-key": bad} for bad in _mutations(key)),
    ]
    bodies = set()
    for headers in attempts:
        ex = exchange(headers)
        deny = await _layer(gateway).on_request(ex)
        assert deny is not None and deny.status == 401 and deny.code == "invalid_api_key"
        bodies.add((deny.message, deny.error_type))
        assert ex.identity is None
        for finding in ex.findings:  # the reason is recorded, never the key
            assert key not in finding.detail and key[-43:] not in finding.detail
    assert len(bodies) == 1


async def test_key_from_allowed_ip_range_works(gateway: Gateway) -> None:
    _, key = await _key(gateway, allowed_ips=["10.0.0.0/8"])
    assert await _layer(gateway).on_request(exchange({"x-api-key": key})) is None


async def test_failures_are_counted_per_ip_and_per_public_id(gateway: Gateway) -> None:
    public_id, key = await _key(gateway)
    bad = key[:-1] + ("x" if key[-1] != "x" else "y")
    for _ in range(3):
        await _layer(gateway).on_request(exchange({"x-api-key": bad}, client_ip="10.9.9.9"))
    ip_key, id_key = failure_counter_keys("10.9.9.9", public_id)
    assert await gateway.counters.counters.get(ip_key, window=300.0) == 3
    assert await gateway.counters.counters.get(id_key, window=300.0) == 3


async def test_rotated_key_grace_then_rejected(gateway: Gateway) -> None:
    from vallum.clock import FakeClock

    public_id, old = await _key(gateway)
    assert gateway.identity is not None
    clock = FakeClock(start=gateway.clock.now())
    gateway.identity.store.clock = clock
    _, new = await gateway.identity.store.rotate_key(public_id, grace=30, actor="t")
    await gateway.identity.cache.refresh("key", public_id)
    layer = _layer(gateway)
    assert await layer.on_request(exchange({"x-api-key": old})) is None
    assert await layer.on_request(exchange({"x-api-key": new.reveal()})) is None
    layer.context = dataclasses.replace(layer.context, clock=clock)
    clock.advance(31)
    deny = await layer.on_request(exchange({"x-api-key": old}))
    assert deny is not None and deny.status == 401
    assert await layer.on_request(exchange({"x-api-key": new.reveal()})) is None


def parse_id(key: str) -> str:
    return key.split("_")[1]
