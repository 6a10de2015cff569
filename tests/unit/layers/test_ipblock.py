"""``ipblock``: blocked addresses and ranges get 403 ip_blocked; blocks expire; it must be first."""

from __future__ import annotations

import pytest

from tests.unit.layers.identity_support import exchange, identity_gateway
from vallum.clock import FakeClock
from vallum.config import build_config
from vallum.errors import ConfigError
from vallum.gateway import Gateway
from vallum.layers.ipblock import Ipblock


def _gateway(layers: list[dict[str, object]]) -> Gateway:
    config = build_config(
        {
            "storage": {"url": "memory://", "counters_url": "memory://"},
            "providers": [{"name": "mock", "type": "mock"}],
            "models": [{"name": "mock-echo", "provider": "mock"}],
            "layers": layers,
        },
        source="<test>",
    )
    return Gateway(config, clock=FakeClock())


@pytest.mark.parametrize(
    ("cidr", "ip", "blocked"),
    [
        ("203.0.113.0/24", "203.0.113.77", True),
        ("203.0.113.0/24", "203.0.114.1", False),
        ("10.0.0.5/32", "10.0.0.5", True),
        ("2001:db8::/64", "2001:db8::1", True),
        ("2001:db8::/64", "2001:db9::1", False),
    ],
)
async def test_dynamic_blocks(cidr: str, ip: str, blocked: bool) -> None:
    gateway = _gateway([{"type": "ipblock"}])
    await gateway.start()
    try:
        layer = gateway.pipeline.layers[0]
        assert isinstance(layer, Ipblock) and layer.enforcement is not None
        await layer.enforcement.change("blocks", cidr, {"until": gateway.clock.now() + 60})
        deny = await layer.on_request(exchange({}, client_ip=ip))
        assert (deny is not None and deny.status == 403 and deny.code == "ip_blocked") is blocked
    finally:
        await gateway.stop()


async def test_block_expires_and_static_blocks_hold() -> None:
    gateway = _gateway([{"type": "ipblock", "static": ["198.51.100.0/24"]}])
    await gateway.start()
    try:
        layer = gateway.pipeline.layers[0]
        assert isinstance(layer, Ipblock) and layer.enforcement is not None
        clock = gateway.clock
        assert isinstance(clock, FakeClock)
        await layer.enforcement.change("blocks", "192.0.2.0/24", {"until": clock.now() + 10})
        assert await layer.on_request(exchange({}, client_ip="192.0.2.9")) is not None
        clock.advance(11)
        assert await layer.on_request(exchange({}, client_ip="192.0.2.9")) is None
        assert await layer.on_request(exchange({}, client_ip="198.51.100.3")) is not None
    finally:
        await gateway.stop()


async def test_blocks_reach_a_second_instance_through_the_shared_store() -> None:
    one = _gateway([{"type": "ipblock"}])
    await one.start()
    try:
        layer = one.pipeline.layers[0]
        assert isinstance(layer, Ipblock) and layer.enforcement is not None
        await layer.enforcement.change("blocks", "192.0.2.0/24", {})
        # a second Enforcement over the same storage sees it on reload
        from vallum.anomaly.state import Enforcement

        other = Enforcement(one.storage, one.clock)
        await other.reload()
        assert other.hot.blocked("192.0.2.1", one.clock.now()) == "192.0.2.0/24"
    finally:
        await one.stop()


async def test_must_be_the_first_layer() -> None:
    gateway = identity_gateway([{"type": "authn"}, {"type": "ipblock"}])
    with pytest.raises(ConfigError, match="first layer"):
        await gateway.start()
    await gateway.stop()
