"""One contract suite for the identity store, run on SQLite and PostgreSQL (and memory)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from vallum.clock import FakeClock
from vallum.errors import BadRequest, NotFound
from vallum.identity.cache import IdentityCache
from vallum.identity.keys import KeyHasher, parse_key
from vallum.identity.records import KeySpec, Permission, RoleRecord, TeamRecord
from vallum.identity.store import IdentityStore
from vallum.storage import Storage, open_storage


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def storage(
    request: pytest.FixtureRequest, tmp_path: Path, unique_prefix: str
) -> AsyncIterator[Storage]:
    if request.param == "memory":
        url = "memory://"
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/identity.db"
    else:
        url = request.getfixturevalue("postgres_url")
    opened = await open_storage(url, namespace=unique_prefix)
    try:
        yield opened
    finally:
        await opened.drop_namespace()
        await opened.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(storage: Storage, clock: FakeClock) -> IdentityStore:
    return IdentityStore(storage, KeyHasher(b"a-pepper-of-16-chars"), clock)


async def test_create_get_list_and_only_the_hash_is_stored(
    store: IdentityStore, storage: Storage
) -> None:
    record, issued = await store.create_key(KeySpec(name="a", roles=("user",)), actor="t")
    full = issued.reveal()
    parsed = parse_key(full)
    assert parsed is not None and parsed[0] == record.public_id
    raw = await storage.kv.get(f"idn:key:{record.public_id}")
    assert raw is not None and parsed[1].encode() not in raw
    assert parsed[1] not in repr(issued) and parsed[1] not in repr(record)
    assert store.hasher.verify(record.public_id, parsed[1], record.secrets[0].hash)
    assert (await store.get_key(record.public_id)) == record
    assert [k.public_id for k in await store.list_keys()] == [record.public_id]


async def test_unknown_references_are_refused(store: IdentityStore) -> None:
    with pytest.raises(BadRequest):
        await store.create_key(KeySpec(team="nope"), actor="t")
    with pytest.raises(BadRequest):
        await store.create_key(KeySpec(roles=("nope",)), actor="t")


async def test_rotate_keeps_old_secret_for_the_grace_then_stops(
    store: IdentityStore, clock: FakeClock
) -> None:
    record, old = await store.create_key(KeySpec(roles=("user",)), actor="t")
    rotated, new = await store.rotate_key(record.public_id, grace=60, actor="t")
    old_secret = parse_key(old.reveal())[1]  # type: ignore[index]
    new_secret = parse_key(new.reveal())[1]  # type: ignore[index]
    live = [s for s in rotated.secrets if s.not_after is None or s.not_after > clock.now()]
    assert any(store.hasher.verify(record.public_id, old_secret, s.hash) for s in live)
    assert any(store.hasher.verify(record.public_id, new_secret, s.hash) for s in live)
    clock.advance(61)
    live = [s for s in rotated.secrets if s.not_after is None or s.not_after > clock.now()]
    assert not any(store.hasher.verify(record.public_id, old_secret, s.hash) for s in live)


async def test_revoke_and_missing(store: IdentityStore, clock: FakeClock) -> None:
    record, _ = await store.create_key(KeySpec(), actor="t")
    revoked = await store.revoke_key(record.public_id, actor="alice")
    assert revoked.state(clock.now()) == "revoked"
    with pytest.raises(NotFound):
        await store.revoke_key("0000000000000000", actor="t")
    trail = await store.audit_trail()
    assert [(e["actor"], e["action"]) for e in trail][-1] == ("alice", "key.revoke")


async def test_teams_roles_and_builtins(store: IdentityStore) -> None:
    role = RoleRecord(name="gpt", permissions=(Permission(actions=("chat",), models=("gpt-*",)),))
    await store.put_role(role, actor="t")
    await store.put_team(TeamRecord(name="ml", roles=("gpt",)), actor="t")
    assert {r.name for r in await store.list_roles()} == {"user", "reader", "gpt"}
    assert [t.name for t in await store.list_teams()] == ["ml"]
    with pytest.raises(BadRequest):
        await store.put_role(RoleRecord(name="user"), actor="t")
    assert await store.delete_team("ml", actor="t")
    assert not await store.delete_team("ml", actor="t")
    assert await store.list_teams() == []


async def test_concurrent_creates_keep_every_index_entry(store: IdentityStore) -> None:
    created = await asyncio.gather(*(store.create_key(KeySpec(), actor="t") for _ in range(12)))
    listed = {k.public_id for k in await store.list_keys()}
    assert listed == {record.public_id for record, _ in created}


async def test_cache_converges_by_reconcile_without_pubsub(
    storage: Storage, clock: FakeClock
) -> None:
    writer = IdentityStore(storage, KeyHasher(), clock)
    cache = IdentityCache(IdentityStore(storage, KeyHasher(), clock), pubsub=None)
    await cache.start()
    try:
        record, _ = await writer.create_key(KeySpec(), actor="t")
        assert cache.key(record.public_id) is None
        assert await cache.reconcile() >= 1
        assert cache.key(record.public_id) is not None
        await writer.revoke_key(record.public_id, actor="t")
        await cache.reconcile()
        cached = cache.key(record.public_id)
        assert cached is not None and cached.revoked_at is not None
    finally:
        await cache.stop()


async def test_last_used_is_written_in_batches(storage: Storage, clock: FakeClock) -> None:
    store = IdentityStore(storage, KeyHasher(), clock)
    record, _ = await store.create_key(KeySpec(), actor="t")
    cache = IdentityCache(store, pubsub=None)
    cache.touch(record.public_id, 123.0)
    assert await store.last_used(record.public_id) is None
    await cache.flush_last_used()
    assert await store.last_used(record.public_id) == 123.0


async def test_revocation_reaches_a_second_instance_over_shared_backends(
    postgres_url: str, redis_url: str, unique_prefix: str
) -> None:
    """Two instances on the same PostgreSQL (keys) and Redis (fan-out): eventual visibility."""
    from vallum.identity.service import open_identity

    opened: list[Storage] = []
    for _ in range(2):
        opened.append(await open_storage(postgres_url, namespace=unique_prefix))
        opened.append(await open_storage(redis_url, namespace=unique_prefix))
    one = open_identity(opened[0], opened[1], FakeClock(), reconcile_interval=30.0)
    two = open_identity(opened[2], opened[3], FakeClock(), reconcile_interval=30.0)
    try:
        record, _ = await one.store.create_key(KeySpec(), actor="t")
        await two.start()  # reconcile every 30 s: only pub/sub can make this fast
        assert two.cache.key(record.public_id) is not None
        await one.store.revoke_key(record.public_id, actor="t")
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            cached = two.cache.key(record.public_id)
            if cached is not None and cached.revoked_at is not None:
                break
            await asyncio.sleep(0.01)
        cached = two.cache.key(record.public_id)
        assert cached is not None and cached.revoked_at is not None
    finally:
        await two.stop()
        await opened[0].drop_namespace()
        await opened[1].drop_namespace()
        for item in opened:
            await item.close()


async def test_two_writers_creating_keys_concurrently_lose_no_entry(
    postgres_url: str, unique_prefix: str
) -> None:
    """Two instances (own connections) creating keys at concurrency 8 each: every key
    created is listed, and none failed with a conflict (the listing has no shared index)."""
    opened = [await open_storage(postgres_url, namespace=unique_prefix) for _ in range(2)]
    stores = [IdentityStore(s, KeyHasher(b"a-pepper-of-16-chars"), FakeClock()) for s in opened]
    try:

        async def writer(store: IdentityStore, count: int) -> list[str]:
            made: list[str] = []
            gate = asyncio.Semaphore(8)

            async def one() -> None:
                async with gate:
                    record, _ = await store.create_key(KeySpec(), actor="t")
                    made.append(record.public_id)

            await asyncio.gather(*(one() for _ in range(count)))
            return made

        created = await asyncio.gather(*(writer(store, 300) for store in stores))
        listed = {k.public_id for k in await stores[1].list_keys()}
        assert listed == set(created[0]) | set(created[1])
        assert len(listed) == 600
    finally:
        await opened[0].drop_namespace()
        for item in opened:
            await item.close()
