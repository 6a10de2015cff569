"""Typed services the Gateway lends its layers: each layer gets only what it declares.

A layer lists what it needs in ``needs`` (``Need.IDENTITY``, ``Need.HTTP`` …) and reads it
from ``context.services`` with its type; asking for a service it did not declare is a bug
caught at once, and the gateway opens a service (the identity store) only when a layer, or
the admin API, declares it.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from vallum.errors import ServiceUnavailable

if TYPE_CHECKING:
    from vallum.gateway import Gateway
    from vallum.identity.service import IdentityService
    from vallum.proxy.http_client import HttpClient
    from vallum.storage import Storage

__all__ = ["Need", "Services"]


class Need(StrEnum):
    HTTP = "http"  # the shared outbound HTTP client (JWKS, introspection, webhooks)
    STORAGE = "storage"  # durable state: keys, policies, audit
    COUNTERS = "counters"  # counters and hot state (in-process or Redis)
    IDENTITY = "identity"  # keys, teams and roles: store and hot cache


class Services:
    """One layer's typed view of the gateway's services, limited to what it declared."""

    __slots__ = ("_gateway", "_layer", "needs")

    def __init__(self, gateway: Gateway, needs: frozenset[Need], layer: str) -> None:
        self._gateway = gateway
        self._layer = layer
        self.needs = needs

    def _check(self, need: Need) -> None:
        if need not in self.needs:
            raise ServiceUnavailable(
                "A layer used a service it did not declare.",
                context={"layer": self._layer, "service": str(need)},
            )

    @property
    def started(self) -> bool:
        return self._gateway.started

    @property
    def http(self) -> HttpClient:
        self._check(Need.HTTP)
        return self._gateway.client

    @property
    def storage(self) -> Storage:
        self._check(Need.STORAGE)
        return self._gateway.storage

    @property
    def counters(self) -> Storage:
        self._check(Need.COUNTERS)
        return self._gateway.counters

    @property
    def identity(self) -> IdentityService | None:
        """The identity service (None until the gateway has started it)."""
        self._check(Need.IDENTITY)
        return self._gateway.identity
