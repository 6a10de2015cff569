"""Typed services: a layer gets what it declares in ``needs``, and only that."""

from __future__ import annotations

import pytest

from vallum.config import build_config
from vallum.errors import ServiceUnavailable
from vallum.gateway import Gateway
from vallum.layers.authn import Authn
from vallum.layers.authz import Authz
from vallum.services import Need


def _gateway(layers: list[dict[str, str]]) -> Gateway:
    return Gateway(
        build_config(
            {
                "storage": {"url": "memory://", "counters_url": "memory://"},
                "providers": [{"name": "mock", "type": "mock"}],
                "models": [{"name": "mock-echo", "provider": "mock"}],
                "layers": layers,
            }
        )
    )


async def test_a_layer_reads_the_services_it_declared_and_no_others() -> None:
    gateway = _gateway([{"type": "authn"}, {"type": "authz"}, {"type": "validate"}])
    await gateway.start()
    try:
        authn, authz, validate = gateway.pipeline.layers
        assert isinstance(authn, Authn) and isinstance(authz, Authz)
        assert authn.needs == {Need.IDENTITY, Need.HTTP, Need.COUNTERS}
        assert authz.context.services is not None
        assert authz.context.services.identity is gateway.identity is not None
        with pytest.raises(ServiceUnavailable):
            _ = authz.context.services.storage  # authz never declared storage
        assert validate.context.services is not None
        with pytest.raises(ServiceUnavailable):
            _ = validate.context.services.identity
    finally:
        await gateway.stop()


async def test_the_identity_store_opens_only_when_a_layer_declares_it() -> None:
    plain = _gateway([{"type": "validate"}])
    await plain.start()
    try:
        assert plain.identity is None
    finally:
        await plain.stop()
    declared = _gateway([{"type": "authz"}])
    await declared.start()
    try:
        assert declared.identity is not None
    finally:
        await declared.stop()
