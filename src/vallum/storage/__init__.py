"""Vallum's storage layer: one URL picks a backend offering counters, key-value, log and pub/sub.

>>> storage = await open_storage("memory://")          # doctest: +SKIP
>>> await storage.counters.hit("key:abc", limit=60, window=60.0)  # doctest: +SKIP
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from vallum.clock import Clock, SystemClock
from vallum.errors import ConfigError, DependencyMissingError
from vallum.storage._support import check_namespace, redact_url
from vallum.storage.base import (
    CounterHit,
    Counters,
    HitResult,
    KeyValue,
    LogEntry,
    PubSub,
    RecordLog,
    Storage,
    Subscription,
)

__all__ = [
    "CounterHit",
    "Counters",
    "HitResult",
    "KeyValue",
    "LogEntry",
    "PubSub",
    "RecordLog",
    "Storage",
    "Subscription",
    "open_storage",
    "redact_url",
]

_SCHEMES = ("memory", "sqlite", "redis", "rediss", "postgresql", "postgres")


def _missing(extra: str, exc: ImportError) -> DependencyMissingError:
    return DependencyMissingError(
        f"the {extra} storage backend needs an optional dependency: pip install 'vallum[{extra}]'",
        context={"extra": extra, "module": exc.name},
    )


def _sqlite_path(url: str) -> str:
    # SQLAlchemy's convention: sqlite:///relative.db, sqlite:////absolute.db, sqlite:///:memory:
    rest = url.split(":", 1)[1]
    if not rest.startswith("///") or len(rest) == 3:
        raise ConfigError(
            "sqlite URL must look like sqlite:///relative/path.db or sqlite:////abs/path.db",
            context={"url": redact_url(url)},
        )
    return unquote(rest[3:].split("?", 1)[0])


async def open_storage(
    url: str, *, clock: Clock | None = None, namespace: str = "vallum"
) -> Storage:
    """Open the backend named by ``url``'s scheme; see docs/storage.md."""
    clock = clock or SystemClock()
    check_namespace(namespace)
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme not in _SCHEMES:
        raise ConfigError(
            f"unknown storage URL scheme {scheme!r}; use one of: memory, sqlite, redis, "
            "rediss, postgresql, postgres",
            context={"url": redact_url(url)},
        )
    if scheme == "memory":
        from vallum.storage.memory import MemoryStorage

        return MemoryStorage(clock, namespace)
    if scheme == "sqlite":
        from vallum.storage.sqlite import open_sqlite

        return await open_sqlite(_sqlite_path(url), clock=clock, namespace=namespace)
    if scheme in ("redis", "rediss"):
        try:
            from vallum.storage.redis_backend import open_redis
        except ImportError as exc:
            raise _missing("redis", exc) from exc
        return await open_redis(url, clock=clock, namespace=namespace)
    try:
        from vallum.storage.postgres import open_postgres
    except ImportError as exc:
        raise _missing("postgres", exc) from exc
    return await open_postgres(url, clock=clock, namespace=namespace)
