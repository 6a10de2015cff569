"""The identity service a Gateway owns: the store, its hot cache, and the JWT verifiers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vallum.identity.cache import IdentityCache
from vallum.identity.keys import KeyHasher, pepper_from_env, previous_peppers_from_env
from vallum.identity.store import IdentityStore
from vallum.storage import Storage

if TYPE_CHECKING:
    from vallum.gateway import Gateway

__all__ = ["IdentityService", "open_identity"]


class IdentityService:
    """Store + cache over one gateway's storage (durable) and counters (fan-out)."""

    def __init__(self, store: IdentityStore, cache: IdentityCache) -> None:
        self.store = store
        self.cache = cache

    async def start(self) -> None:
        await self.cache.start()

    async def stop(self) -> None:
        await self.cache.stop()


def open_identity(
    storage: Storage,
    counters: Storage,
    clock: Any,
    *,
    reconcile_interval: float = 1.0,
) -> IdentityService:
    """Changes are announced on every distinct backend; the cache listens on the shared one."""
    notify = [storage.pubsub]
    if counters is not storage:
        notify.append(counters.pubsub)
    listen = counters.pubsub if counters.backend == "redis" else storage.pubsub
    store = IdentityStore(
        storage, KeyHasher(pepper_from_env(), previous_peppers_from_env()), clock, notify
    )
    cache = IdentityCache(store, pubsub=listen, reconcile_interval=reconcile_interval)
    return IdentityService(store, cache)


def wanted(gateway: Gateway) -> bool:
    """Whether this gateway needs the identity service: a layer declares it, or the admin
    API runs."""
    from vallum.services import Need

    declared = any(Need.IDENTITY in layer.needs for layer in gateway.pipeline.layers)
    admin = getattr(gateway.config, "admin", None)
    return declared or bool(admin is not None and admin.enabled)
