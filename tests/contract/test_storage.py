"""One contract suite for every storage backend: memory, SQLite, Redis, PostgreSQL.

Time comes from a FakeClock (no sleeps), except Redis key-value TTLs, which are native
Redis expiry and therefore real time (a fraction of a second here).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import vallum.storage
from vallum.clock import FakeClock
from vallum.errors import ConfigError, DependencyMissingError, StorageError
from vallum.storage import CounterHit, Storage, open_storage, redact_url

BACKENDS = ["memory", "sqlite", "redis", "postgres"]
SHARED = {"sqlite", "redis", "postgres"}  # two opened instances see the same state


@dataclass
class Backend:
    name: str
    url: str
    namespace: str
    clock: FakeClock
    opened: list[Storage] = field(default_factory=list)

    async def open(self) -> Storage:
        storage = await open_storage(self.url, clock=self.clock, namespace=self.namespace)
        self.opened.append(storage)
        return storage

    async def expire(self, seconds: float) -> None:
        """Let ``seconds`` pass: on the fake clock, and in real time for Redis' native TTLs."""
        self.clock.advance(seconds)
        if self.name == "redis":
            await asyncio.sleep(seconds)


@pytest.fixture(params=BACKENDS)
async def backend(
    request: pytest.FixtureRequest, tmp_path: Path, unique_prefix: str
) -> AsyncIterator[Backend]:
    name = request.param
    if name == "memory":
        url = "memory://"
    elif name == "sqlite":
        url = f"sqlite:///{tmp_path}/vallum.db"
    elif name == "redis":
        url = request.getfixturevalue("redis_url")
    else:
        url = request.getfixturevalue("postgres_url")
    clock = FakeClock()
    clock.advance(60 - clock.now() % 60)  # start on a bucket boundary of 60 s windows
    b = Backend(name, url, unique_prefix, clock)
    yield b
    if b.opened:
        await b.opened[0].drop_namespace()
    for storage in b.opened:
        await storage.close()


@pytest.fixture
async def storage(backend: Backend) -> Storage:
    return await backend.open()


async def hits(storage: Storage, n: int, *, key: str = "k", limit: int, window: float) -> int:
    """Number of ``n`` sequential hits that were allowed."""
    allowed = 0
    for _ in range(n):
        allowed += (await storage.counters.hit(key, limit=limit, window=window)).allowed
    return allowed


# -- counters ------------------------------------------------------------------


async def test_hit_within_then_over_limit(storage: Storage) -> None:
    first = await storage.counters.hit("k", limit=3, window=60)
    assert first.allowed and first.used == 1 and first.remaining == 2
    assert first.reset_after > 0
    assert await hits(storage, 2, limit=3, window=60) == 2
    over = await storage.counters.hit("k", limit=3, window=60)
    assert not over.allowed and over.used == 3 and over.remaining == 0
    assert 0 < over.reset_after <= 120


async def test_rejected_hit_records_nothing(storage: Storage) -> None:
    assert (await storage.counters.hit("k", cost=3, limit=5, window=60)).allowed
    assert not (await storage.counters.hit("k", cost=3, limit=5, window=60)).allowed
    assert await storage.counters.get("k", window=60) == 3
    assert (await storage.counters.hit("k", cost=2, limit=5, window=60)).allowed
    assert not (await storage.counters.hit("k", cost=6, limit=5, window=60)).allowed


async def test_keys_are_independent(storage: Storage) -> None:
    assert await hits(storage, 3, key="a", limit=2, window=60) == 2
    assert await hits(storage, 3, key="b", limit=2, window=60) == 2


async def test_window_slides_with_the_clock(backend: Backend, storage: Storage) -> None:
    assert await hits(storage, 5, limit=5, window=10) == 5
    backend.clock.advance(10)  # the previous bucket still weighs (10 - 0)/10
    assert await storage.counters.get("k", window=10) == 5
    backend.clock.advance(5)  # half of it left
    assert await storage.counters.get("k", window=10) == 3  # ceil(5 * 0.5)
    backend.clock.advance(5)
    assert await storage.counters.get("k", window=10) == 0
    assert await hits(storage, 6, limit=5, window=10) == 5


async def test_no_burst_at_the_window_edge(backend: Backend, storage: Storage) -> None:
    backend.clock.advance(59)
    assert await hits(storage, 11, limit=10, window=60) == 10
    backend.clock.advance(2)  # t = 61: a fixed window would allow 10 more here
    assert await hits(storage, 10, limit=10, window=60) <= 1
    backend.clock.advance(29)  # t = 90: the old hits weigh half
    used = await storage.counters.get("k", window=60)
    assert 5 <= used <= 6
    assert await hits(storage, 10, limit=10, window=60) == 10 - used


async def test_refused_reset_after_is_when_it_would_fit(backend: Backend, storage: Storage) -> None:
    assert await hits(storage, 4, limit=4, window=60) == 4
    refused = await storage.counters.hit("k", limit=4, window=60)
    assert not refused.allowed
    backend.clock.advance(refused.reset_after + 0.001)
    assert (await storage.counters.hit("k", limit=4, window=60)).allowed


async def test_hit_many_is_all_or_nothing(storage: Storage) -> None:
    assert (await storage.counters.hit("b", limit=1, window=60)).allowed
    batch = [CounterHit("a", limit=5, window=60, cost=2), CounterHit("b", limit=1, window=60)]
    results = await storage.counters.hit_many(batch)
    assert [r.allowed for r in results] == [False, False]
    assert results[0].reset_after == 0.0 and results[1].reset_after > 0
    assert await storage.counters.get("a", window=60) == 0
    assert await storage.counters.get("b", window=60) == 1

    batch = [CounterHit("a", limit=5, window=60, cost=2), CounterHit("c", limit=1, window=30)]
    results = await storage.counters.hit_many(batch)
    assert [(r.allowed, r.used, r.remaining) for r in results] == [(True, 2, 3), (True, 1, 0)]
    assert await storage.counters.get("a", window=60) == 2
    assert await storage.counters.get("c", window=30) == 1
    assert await storage.counters.hit_many([]) == []


async def test_hit_many_counts_a_repeated_key_once_per_hit(storage: Storage) -> None:
    same = [CounterHit("a", limit=5, window=60, cost=3)] * 2
    assert [r.allowed for r in await storage.counters.hit_many(same)] == [False, False]
    assert await storage.counters.get("a", window=60) == 0
    ok = await storage.counters.hit_many([CounterHit("a", limit=5, window=60, cost=2)] * 2)
    assert [(r.allowed, r.used) for r in ok] == [(True, 2), (True, 4)]


async def test_add_and_get(backend: Backend, storage: Storage) -> None:
    assert await storage.counters.get("k", window=60) == 0
    assert await storage.counters.add("k", 5, window=60) == 5
    assert await storage.counters.add("k", -2, window=60) == 3
    assert await storage.counters.add("k", -10, window=60) == 0
    assert await storage.counters.add("k", 4, window=60) == 4
    assert not (await storage.counters.hit("k", cost=2, limit=5, window=60)).allowed
    backend.clock.advance(120)
    assert await storage.counters.get("k", window=60) == 0


async def test_invalid_counter_arguments(storage: Storage) -> None:
    with pytest.raises(ConfigError):
        await storage.counters.hit("k", limit=1, window=0)
    with pytest.raises(ConfigError):
        await storage.counters.hit("k", cost=-1, limit=1, window=1)


async def test_concurrent_hits_are_exact_across_instances(
    backend: Backend, storage: Storage
) -> None:
    other = await backend.open() if backend.name in SHARED else storage
    instances = [storage, other]
    results = await asyncio.gather(
        *(instances[i % 2].counters.hit("hot", limit=20, window=60) for i in range(50))
    )
    assert sum(r.allowed for r in results) == 20
    assert await other.counters.get("hot", window=60) == 20


async def test_concurrent_hit_many_never_over_admits(backend: Backend, storage: Storage) -> None:
    other = await backend.open() if backend.name in SHARED else storage
    instances = [storage, other]
    batch = [CounterHit("x", limit=10, window=60), CounterHit("y", limit=15, window=60, cost=2)]
    results = await asyncio.gather(*(instances[i % 2].counters.hit_many(batch) for i in range(30)))
    assert sum(r[0].allowed for r in results) == 7  # y's budget (15 // 2) runs out first
    assert await storage.counters.get("x", window=60) == 7
    assert await storage.counters.get("y", window=60) == 14


# -- key-value -----------------------------------------------------------------


async def test_kv_get_set_delete(storage: Storage) -> None:
    assert await storage.kv.get("a") is None
    await storage.kv.set("a", b"\x00one")
    assert await storage.kv.get("a") == b"\x00one"
    await storage.kv.set("a", b"two")
    assert await storage.kv.get("a") == b"two"
    assert await storage.kv.delete("a") is True
    assert await storage.kv.delete("a") is False
    assert await storage.kv.get("a") is None


async def test_kv_ttl_expires(backend: Backend, storage: Storage) -> None:
    await storage.kv.set("short", b"1", ttl=0.2)
    await storage.kv.set("long", b"2", ttl=60)
    await storage.kv.set("forever", b"3")
    assert await storage.kv.get("short") == b"1"
    await backend.expire(0.3)
    assert await storage.kv.get("short") is None
    assert await storage.kv.delete("short") is False
    assert await storage.kv.get("long") == b"2"
    assert await storage.kv.get("forever") == b"3"


async def test_kv_scan_lists_a_prefix_in_key_order(backend: Backend, storage: Storage) -> None:
    for key in ("idn:key:b", "idn:key:a", "idn:keys", "idn:team:x", "idn:key:*[?]\\"):
        await storage.kv.set(key, key.encode())
    await storage.kv.set("idn:key:gone", b"x", ttl=0.2)
    await backend.expire(0.3)
    found = await storage.kv.scan("idn:key:")
    assert found == [(k, k.encode()) for k in ("idn:key:*[?]\\", "idn:key:a", "idn:key:b")]
    assert await storage.kv.scan("idn:key:*") == [("idn:key:*[?]\\", b"idn:key:*[?]\\")]
    assert await storage.kv.scan("nothing:") == []


async def test_kv_compare_and_set(backend: Backend, storage: Storage) -> None:
    assert await storage.kv.compare_and_set("k", None, b"v1") is True
    assert await storage.kv.compare_and_set("k", None, b"v2") is False
    assert await storage.kv.compare_and_set("k", b"wrong", b"v2") is False
    assert await storage.kv.compare_and_set("k", b"v1", b"v2", ttl=0.2) is True
    assert await storage.kv.get("k") == b"v2"
    assert await storage.kv.compare_and_set("absent", b"v1", b"x") is False
    assert await storage.kv.get("absent") is None
    await backend.expire(0.3)
    assert await storage.kv.compare_and_set("k", b"v2", b"v3") is False  # expired = absent
    assert await storage.kv.compare_and_set("k", None, b"v3") is True
    assert await storage.kv.get("k") == b"v3"


async def test_kv_concurrent_compare_and_set_has_one_winner(storage: Storage) -> None:
    won = await asyncio.gather(
        *(storage.kv.compare_and_set("lock", None, b"%d" % i) for i in range(20))
    )
    assert sum(won) == 1


async def test_kv_incr(backend: Backend, storage: Storage) -> None:
    assert await storage.kv.incr("n") == 1
    assert await storage.kv.incr("n", 5) == 6
    assert await storage.kv.incr("n", -7) == -1
    assert await storage.kv.get("n") == b"-1"
    assert await storage.kv.incr("t", ttl=0.2) == 1
    assert await storage.kv.incr("t", ttl=60) == 2  # the ttl only applies on creation
    await backend.expire(0.3)
    assert await storage.kv.get("t") is None
    assert await storage.kv.incr("t") == 1
    await storage.kv.set("text", b"abc")
    with pytest.raises(StorageError):
        await storage.kv.incr("text")


async def test_kv_concurrent_incr(storage: Storage) -> None:
    await asyncio.gather(*(storage.kv.incr("n") for _ in range(40)))
    assert await storage.kv.get("n") == b"40"


# -- record log ----------------------------------------------------------------


async def test_log_append_read_and_cursor(backend: Backend, storage: Storage) -> None:
    assert await storage.log.last_seq("s") == 0
    assert await storage.log.read("s") == []
    for i in range(5):
        backend.clock.advance(1)
        assert await storage.log.append("s", b"r%d" % i) == i + 1
    assert await storage.log.append("other", b"x") == 1
    assert await storage.log.last_seq("s") == 5
    entries = await storage.log.read("s", limit=2)
    assert [(e.seq, e.record) for e in entries] == [(1, b"r0"), (2, b"r1")]
    assert entries[1].at - entries[0].at == pytest.approx(1)
    rest = await storage.log.read("s", after=entries[-1].seq)
    assert [e.seq for e in rest] == [3, 4, 5]
    assert await storage.log.read("s", after=5) == []
    assert [e.record for e in await storage.log.read("other")] == [b"x"]


async def test_log_concurrent_appends_get_unique_increasing_seqs(
    backend: Backend, storage: Storage
) -> None:
    other = await backend.open() if backend.name in SHARED else storage
    instances = [storage, other]
    seqs = await asyncio.gather(*(instances[i % 2].log.append("s", b"%d" % i) for i in range(40)))
    assert sorted(seqs) == list(range(1, 41))
    entries = await storage.log.read("s", limit=100)
    assert [e.seq for e in entries] == list(range(1, 41))
    assert {e.record for e in entries} == {b"%d" % i for i in range(40)}
    assert await other.log.last_seq("s") == 40


# -- pub/sub -------------------------------------------------------------------


async def test_pubsub_delivers_to_subscribers(backend: Backend, storage: Storage) -> None:
    publisher = await backend.open() if backend.name in {"redis", "postgres"} else storage
    async with (
        await storage.pubsub.subscribe("events") as first,
        await storage.pubsub.subscribe("events") as second,
        await storage.pubsub.subscribe("elsewhere") as unrelated,
    ):
        await publisher.pubsub.publish("events", b"one")
        await publisher.pubsub.publish("events", b"\x00two")
        for subscription in (first, second):
            assert await asyncio.wait_for(anext(subscription), 5) == b"one"
            assert await asyncio.wait_for(anext(subscription), 5) == b"\x00two"
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(unrelated), 0.2)


async def test_pubsub_close_ends_iteration(storage: Storage) -> None:
    subscription = await storage.pubsub.subscribe("c")
    await subscription.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(subscription), 5)
    await storage.pubsub.publish("c", b"nobody listens")


async def test_postgres_rejects_oversized_notify(postgres_url: str, unique_prefix: str) -> None:
    storage = await open_storage(postgres_url, namespace=unique_prefix)
    try:
        with pytest.raises(StorageError, match="too large"):
            await storage.pubsub.publish("c", b"x" * 6000)
        await storage.pubsub.publish("c", b"x" * 5900)  # fits once base64-encoded
    finally:
        await storage.drop_namespace()
        await storage.close()


# -- failures, URLs, packaging -------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "redis://:hunter2secret@127.0.0.1:1/0",
        "postgresql://postgres:hunter2secret@127.0.0.1:1/test",
    ],
)
async def test_unreachable_backend_raises_storage_error_without_password(url: str) -> None:
    with pytest.raises(StorageError) as caught:
        storage = await open_storage(url, clock=FakeClock(), namespace="vt_unreachable")
        try:
            await storage.kv.get("x")
        finally:
            await storage.close()
    error = caught.value
    assert error.context["backend"] in {"redis", "postgres"} and error.context["op"]
    assert "hunter2secret" not in str(error) and "hunter2secret" not in repr(error.context)
    assert error.__cause__ is not None


async def test_unknown_scheme_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="'mongodb'"):
        await open_storage("mongodb://user:pw@host/db")
    with pytest.raises(ConfigError):
        await open_storage("no-scheme-at-all")


@pytest.mark.parametrize("namespace", ["", "1abc", "a-b", "a;drop", "x" * 41])
async def test_bad_namespace_is_a_config_error(namespace: str) -> None:
    with pytest.raises(ConfigError):
        await open_storage("memory://", namespace=namespace)


async def test_missing_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "vallum.storage.redis_backend", raising=False)
    monkeypatch.setitem(sys.modules, "redis", None)
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(DependencyMissingError, match=r"pip install 'vallum\[redis\]'"):
        await open_storage("redis://127.0.0.1:6379/0")


async def test_sqlite_memory_url_and_drop_leaves_no_tables(tmp_path: Path) -> None:
    storage = await open_storage("sqlite:///:memory:", clock=FakeClock(), namespace="vt_mem")
    try:
        assert await storage.kv.incr("n") == 1
        await storage.drop_namespace()
    finally:
        await storage.close()
    import sqlite3

    path = tmp_path / "x.db"
    storage = await open_storage(f"sqlite:///{path}", namespace="vt_file")
    await storage.drop_namespace()
    await storage.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []
    conn.close()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://:s3cret@host:6379/0", "redis://:***@host:6379/0"),
        ("postgresql://user:s3cret@db:5432/app", "postgresql://user:***@db:5432/app"),
        ("postgresql://user@db/app", "postgresql://user@db/app"),
        ("postgres://db/app?user=u&password=s3cret", "postgres://db/app?user=u&password=***"),
        ("rediss://default:p%40ss@h/1", "rediss://default:***@h/1"),
        ("sqlite:///data/vallum.db", "sqlite:///data/vallum.db"),
        ("memory://", "memory://"),
        ("sqlite:///x.db?password=s3cret", "sqlite:///x.db?password=***"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected


def test_public_names_are_sorted_and_exported() -> None:
    names = vallum.storage.__all__
    assert names == sorted(names)
    assert all(hasattr(vallum.storage, name) for name in names)
