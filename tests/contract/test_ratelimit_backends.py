"""One contract for every limit backend: in-process and real Redis, driven by a fake clock."""

from __future__ import annotations

import asyncio
import logging
import math
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.unit.ratelimit.tcp_proxy import TcpProxy
from vallum.clock import FakeClock
from vallum.errors import StorageError
from vallum.ratelimit.backend import Adjustment, LimitBackend
from vallum.ratelimit.memory import MemoryLimits
from vallum.ratelimit.redis_backend import RedisLimits
from vallum.ratelimit.resp import ReplyError, parse_reply
from vallum.ratelimit.spec import Charge, Limit, Measure

Factory = Callable[[], LimitBackend]
START = 1_700_000_040.0  # a minute boundary: bucket arithmetic is easy to follow


def rpm(n: int, key: str = "k:a:rpm") -> Limit:
    return Limit(key, Measure.REQUESTS, n, 60.0, "key")


def tpm(n: int, key: str = "k:a:tpm") -> Limit:
    return Limit(key, Measure.TOTAL_TOKENS, n, 60.0, "key")


def conc(n: int, key: str = "k:a:conc") -> Limit:
    return Limit(key, Measure.CONCURRENT, n, 0.0, "key")


def budget(micro_usd: int, key: str = "t:x:usdd") -> Limit:
    return Limit(key, Measure.SPEND, micro_usd, 86_400.0, "team")


@pytest.fixture(params=["memory", "redis"])
async def factory(request: Any, unique_prefix: str) -> AsyncIterator[Factory]:
    """Makes backends sharing one store: a second instance of Vallum sees the same counters."""
    if request.param == "memory":
        shared = MemoryLimits()
        yield lambda: shared
        await shared.close()
        return
    url = request.getfixturevalue("redis_url")
    made: list[RedisLimits] = []

    def make() -> LimitBackend:
        made.append(RedisLimits(url, prefix=unique_prefix))
        return made[-1]

    yield make
    await made[0].drop() if made else None
    for backend in made:
        await backend.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


async def reserve(backend: LimitBackend, clock: FakeClock, *charges: Charge, lease: str = "l"):  # type: ignore[no-untyped-def]
    return await backend.reserve(list(charges), lease, clock.now(), 30.0)


async def test_gcra_admits_a_burst_of_the_limit_then_one_per_interval(
    factory: Factory, clock: FakeClock
) -> None:
    backend = factory()
    results = [(await reserve(backend, clock, Charge(rpm(6), 1))).admitted for _ in range(8)]
    assert results == [True] * 6 + [False] * 2
    refused = await reserve(backend, clock, Charge(rpm(6), 1))
    assert refused.states[0].retry_after == pytest.approx(10.0)  # 60 s / 6
    clock.advance(9.9)
    assert not (await reserve(backend, clock, Charge(rpm(6), 1))).admitted
    clock.advance(0.1)
    admitted = await reserve(backend, clock, Charge(rpm(6), 1))
    assert admitted.admitted and admitted.states[0].remaining == 0
    clock.advance(60)
    assert (await reserve(backend, clock, Charge(rpm(6), 1))).states[0].remaining == 5


async def test_window_has_no_burst_at_the_edge(factory: Factory, clock: FakeClock) -> None:
    backend = factory()
    clock.advance(59)  # the end of one minute
    assert (await reserve(backend, clock, Charge(tpm(100), 100))).admitted
    clock.advance(2)  # one second into the next: the previous minute still weighs 59/60
    assert not (await reserve(backend, clock, Charge(tpm(100), 10))).admitted
    assert (await reserve(backend, clock, Charge(tpm(100), 1))).admitted
    clock.advance(29)  # half way: half of the previous minute's 100 remains
    state = (await reserve(backend, clock, Charge(tpm(100), 1))).states[0]
    assert state.remaining == 100 - 50 - 1 - 1


async def test_all_or_nothing_and_rejected_calls_consume_nothing(
    factory: Factory, clock: FakeClock
) -> None:
    backend = factory()
    assert (await reserve(backend, clock, Charge(tpm(100), 90))).admitted
    verdict = await reserve(backend, clock, Charge(rpm(5), 1), Charge(tpm(100), 20))
    assert not verdict.admitted
    assert [s.allowed for s in verdict.states] == [True, False]
    # the request counter was not charged by the refused call: five still fit
    for _ in range(5):
        assert (await reserve(backend, clock, Charge(rpm(5), 1), Charge(tpm(100), 1))).admitted
    assert not (await reserve(backend, clock, Charge(rpm(5), 1))).admitted


async def test_a_charge_larger_than_the_limit_never_fits(
    factory: Factory, clock: FakeClock
) -> None:
    verdict = await reserve(factory(), clock, Charge(tpm(100), 101))
    assert not verdict.admitted and math.isinf(verdict.states[0].retry_after)


async def test_window_retry_after_is_when_the_charge_fits(
    factory: Factory, clock: FakeClock
) -> None:
    backend = factory()
    assert (await reserve(backend, clock, Charge(tpm(100), 80))).admitted
    wait = (await reserve(backend, clock, Charge(tpm(100), 40))).states[0].retry_after
    clock.advance(wait - 0.5)
    assert not (await reserve(backend, clock, Charge(tpm(100), 40))).admitted
    clock.advance(0.5)
    assert (await reserve(backend, clock, Charge(tpm(100), 40))).admitted


async def test_leases_release_on_settle_and_expire_after_ttl(
    factory: Factory, clock: FakeClock
) -> None:
    backend = factory()
    assert (await reserve(backend, clock, Charge(conc(2), 1), lease="a")).admitted
    assert (await reserve(backend, clock, Charge(conc(2), 1), lease="b")).admitted
    refused = await reserve(backend, clock, Charge(conc(2), 1), lease="c")
    assert not refused.admitted and refused.states[0].retry_after == 1.0
    await backend.settle([], ["k:a:conc"], "a")
    assert (await reserve(backend, clock, Charge(conc(2), 1), lease="c")).admitted
    clock.advance(30.5)  # "b" and "c" belonged to a crashed instance: their TTL ran out
    for lease in ("d", "e"):
        assert (await reserve(backend, clock, Charge(conc(2), 1), lease=lease)).admitted


async def test_settle_corrects_the_reserved_bucket(factory: Factory, clock: FakeClock) -> None:
    backend = factory()
    at = clock.now()
    assert (await reserve(backend, clock, Charge(tpm(100), 90))).admitted
    await backend.settle([Adjustment.of("k:a:tpm", 60.0, -60, at)], [], "l")
    assert (await reserve(backend, clock, Charge(tpm(100), 70))).states[0].remaining == 0
    # a reservation settled after the minute turned is corrected in the previous bucket
    at = clock.now()
    clock.advance(60)
    await backend.settle([Adjustment.of("k:a:tpm", 60.0, -100, at)], [], "l")
    assert (await reserve(backend, clock, Charge(tpm(100), 100))).admitted


async def test_overshoot_is_bounded_by_what_in_flight_calls_exceed(
    factory: Factory, clock: FakeClock
) -> None:
    """Calls reserve an estimate; if each uses ``extra`` more, the window ends at most
    ``in_flight * extra`` above the limit, and then admits nothing until it drains."""
    backend = factory()
    at = clock.now()
    in_flight = [await reserve(backend, clock, Charge(tpm(100), 25)) for _ in range(4)]
    assert all(v.admitted for v in in_flight)
    extra = 10
    for _ in in_flight:
        await backend.settle([Adjustment.of("k:a:tpm", 60.0, extra, at)], [], "l")
    probe = await reserve(
        backend,
        clock,
        Charge(
            tpm(140),
            0,
        ),
        Charge(tpm(100, "k:b:tpm"), 0),
    )
    used = 140 - probe.states[0].remaining  # the same usage read through a larger limit
    assert 100 < used <= 100 + len(in_flight) * extra
    assert not (await reserve(backend, clock, Charge(tpm(100), 1))).admitted


async def test_instances_sharing_the_backend_admit_exactly_the_limit(
    factory: Factory, clock: FakeClock
) -> None:
    one, two = factory(), factory()
    calls = [
        (one if i % 2 else two).reserve(
            [Charge(rpm(10), 1), Charge(conc(50), 1)], f"l{i}", clock.now(), 30
        )
        for i in range(60)
    ]
    verdicts = await asyncio.gather(*calls)
    assert sum(v.admitted for v in verdicts) == 10


async def test_budgets_cannot_race(factory: Factory, clock: FakeClock) -> None:
    one, two = factory(), factory()
    cap = budget(1_000_000)  # $1.00 a day
    calls = [
        (one if i % 2 else two).reserve([Charge(cap, 30_000)], f"l{i}", clock.now(), 30)
        for i in range(80)
    ]
    admitted = sum(v.admitted for v in await asyncio.gather(*calls))
    assert admitted == 33  # floor(1.00 / 0.03): never a cent over


async def test_memory_and_redis_agree_step_by_step(redis_url: str, unique_prefix: str) -> None:
    """The in-process backend is the reference; the Lua script must give the same numbers."""
    rng = random.Random(7)
    memory, shared = MemoryLimits(), RedisLimits(redis_url, prefix=unique_prefix)
    limits = [rpm(7), tpm(500), conc(3), budget(2_000, "t:x:usdd")]
    now = START
    try:
        for step in range(150):
            now += rng.choice([0.0, 0.3, 1.7, 9.0, 31.0])
            charges = [
                Charge(limit, rng.randint(0, 120) if limit.measure is Measure.TOTAL_TOKENS else 1)
                for limit in rng.sample(limits, rng.randint(1, 4))
            ]
            lease = f"l{step}"
            a = await memory.reserve(charges, lease, now, 20.0)
            b = await shared.reserve(charges, lease, now, 20.0)
            assert a == b, step
            if a.admitted and rng.random() < 0.5:
                adjust = [Adjustment.of("k:a:tpm", 60.0, -rng.randint(0, 50), now)]
                await memory.settle(adjust, ["k:a:conc"], lease)
                await shared.settle(adjust, ["k:a:conc"], lease)
    finally:
        await shared.drop()
        await shared.close()


async def test_redis_failure_raises_and_recovery_follows(
    redis_url: str, unique_prefix: str, clock: FakeClock
) -> None:
    proxy = TcpProxy(6379).start()
    backend = RedisLimits(proxy.url, prefix=unique_prefix, timeout=0.5)
    try:
        assert (await reserve(backend, clock, Charge(rpm(5), 1))).admitted
        proxy.stop()
        with pytest.raises(StorageError):
            await reserve(backend, clock, Charge(rpm(5), 1))
        with pytest.raises(StorageError):
            await backend.settle([], ["k:a:conc"], "l")
        proxy = TcpProxy(6379, port=proxy.port).start()
        verdict = await reserve(backend, clock, Charge(rpm(5), 1))
        assert verdict.admitted and verdict.states[0].remaining == 3  # nothing was lost
    finally:
        await backend.drop()
        await backend.close()
        proxy.stop()


async def test_redis_reloads_a_script_missing_from_its_cache(
    redis_url: str, unique_prefix: str, clock: FakeClock
) -> None:
    """EVALSHA of an unknown script (a flushed cache) falls back to EVAL, once, and works."""
    backend = RedisLimits(redis_url, prefix=unique_prefix)
    backend._reserve.sha = b"0" * 40  # as if SCRIPT FLUSH ran: Redis answers NOSCRIPT
    try:
        assert (await reserve(backend, clock, Charge(rpm(2), 1))).admitted
        assert (await reserve(backend, clock, Charge(rpm(2), 1))).admitted
        assert not (await reserve(backend, clock, Charge(rpm(2), 1))).admitted
    finally:
        await backend.drop()
        await backend.close()


def test_resp_replies_parse_across_any_split() -> None:
    """Replies cut anywhere wait for more bytes; whole ones parse to the same values."""
    wire = b"*3\r\n:1\r\n$3\r\nabc\r\n*2\r\n:-5\r\n$-1\r\n-NOSCRIPT gone\r\n+OK\r\n"
    whole: list[Any] = []
    pos = 0
    while pos < len(wire):
        value, pos = parse_reply(wire, pos)
        whole.append(value)
    assert whole[0] == [1, b"abc", [-5, None]]
    assert isinstance(whole[1], ReplyError) and str(whole[1]).startswith("NOSCRIPT")
    assert whole[2] == b"OK"
    first_end = parse_reply(wire, 0)[1]
    for cut in range(1, first_end):
        with pytest.raises(StorageError):  # incomplete: the parser asks for more bytes
            parse_reply(wire[:cut], 0)


class _Silent:
    """A server that accepts, answers the connection set-up (four SCRIPT LOADs), then
    never answers again: a hung Redis."""

    def __init__(self) -> None:
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen = b""
        while (data := await reader.read(65536)) != b"":
            before = min(4, seen.count(b"$6\r\nSCRIPT\r\n"))
            seen += data
            writer.write(b"+OK\r\n" * (min(4, seen.count(b"$6\r\nSCRIPT\r\n")) - before))
        writer.close()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


async def test_a_hung_redis_times_out_every_call_in_flight(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    silent = _Silent()
    backend = RedisLimits(await silent.start(), prefix="hung", timeout=0.2)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        calls = [reserve(backend, clock, Charge(rpm(5), 1), lease=f"l{i}") for i in range(3)]
        results = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 5)
        assert all(isinstance(r, StorageError) for r in results)
        assert loop.time() - started < 2  # the timeout, not the test's own limit
        # a new connection, hung again: the settle is sent, its reply never comes, and the
        # failure is logged when the timeout drops the connection
        with caplog.at_level(logging.WARNING, logger="vallum.ratelimit"):
            await asyncio.wait_for(backend.settle([], ["k:a:conc"], "l0"), 5)
            with pytest.raises(StorageError):
                await asyncio.wait_for(reserve(backend, clock, Charge(rpm(5), 1)), 5)
        assert "rate-limit settle failed" in caplog.text
    finally:
        await backend.close()
        await silent.stop()


async def test_settle_is_sent_again_when_its_script_was_flushed(
    redis_url: str, unique_prefix: str, clock: FakeClock
) -> None:
    backend = RedisLimits(redis_url, prefix=unique_prefix)
    try:
        assert (await reserve(backend, clock, Charge(conc(1), 1), lease="a")).admitted
        backend._settle.sha = b"0" * 40  # as if SCRIPT FLUSH ran: Redis answers NOSCRIPT
        await backend.settle([], ["k:a:conc"], "a")
        # the NOSCRIPT reply comes before this one; by then the EVAL retry is on its way
        await reserve(backend, clock, Charge(rpm(5, "k:other:rpm"), 1))
        assert (await reserve(backend, clock, Charge(conc(1), 1), lease="b")).admitted
    finally:
        await backend.drop()
        await backend.close()


async def test_renewed_leases_outlive_their_ttl_until_renewals_stop(
    factory: Factory, clock: FakeClock
) -> None:
    backend = factory()
    assert (await reserve(backend, clock, Charge(conc(1), 1), lease="a")).admitted
    for _ in range(4):  # renewed every 20 s of a 30 s TTL: "a" keeps its slot for 80 s
        clock.advance(20)
        assert await backend.renew([("k:a:conc", "a"), ("k:a:conc", "gone")], clock.now(), 30) == 1
        assert not (await reserve(backend, clock, Charge(conc(1), 1), lease="b")).admitted
    clock.advance(30.5)  # its instance died: no more renewals, the slot frees within the TTL
    assert await backend.renew([("k:a:conc", "a")], clock.now(), 30) == 0  # expired: stays gone
    assert (await reserve(backend, clock, Charge(conc(1), 1), lease="c")).admitted


async def test_release_by_lease_id_is_idempotent_and_beats_a_late_reserve(
    factory: Factory, clock: FakeClock
) -> None:
    backend = factory()
    assert (await reserve(backend, clock, Charge(conc(1), 1), lease="a")).admitted
    for _ in range(2):  # released twice: the second is a no-op
        await backend.release([(["k:a:conc"], "a")], clock.now(), 30)
    # reserves whose callers gave up (and released their leases) land only now: they take
    # nothing; several leases, on several keys, are released in one call
    other = conc(1, "k:b:conc")
    assert (await reserve(backend, clock, Charge(other, 1), lease="held")).admitted
    await backend.release(
        [(["k:a:conc"], "late"), (["k:a:conc", "k:b:conc"], "held")], clock.now(), 30
    )
    assert not (await reserve(backend, clock, Charge(conc(1), 1), lease="late")).admitted
    assert (await reserve(backend, clock, Charge(conc(1), 1), lease="b")).admitted
    assert (await reserve(backend, clock, Charge(other, 1), lease="c")).admitted


async def test_a_reserve_that_timed_out_in_a_stall_holds_no_slot_once_released(
    redis_url: str, unique_prefix: str, clock: FakeClock
) -> None:
    """A stall longer than the timeout: the reserves fail here but run in Redis when the
    stall ends; their releases land before (first call) or after (second) them."""
    proxy = TcpProxy(6379).start()
    stalled = RedisLimits(proxy.url, prefix=unique_prefix, timeout=0.3)
    direct = RedisLimits(redis_url, prefix=unique_prefix)
    try:
        assert (await reserve(stalled, clock, Charge(conc(2), 1), lease="warm")).admitted
        await direct.release([(["k:a:conc"], "warm")], clock.now(), 30)
        proxy.pause()
        leases = ("early-release", "late-release")  # both sent on the one open connection
        calls = [reserve(stalled, clock, Charge(conc(2), 1), lease=lease) for lease in leases]
        failed = await asyncio.gather(*calls, return_exceptions=True)
        assert all(isinstance(f, StorageError) for f in failed)
        await direct.release([(["k:a:conc"], "early-release")], clock.now(), 30)
        proxy.resume()
        for _ in range(100):  # the held reserves reach Redis: only the second takes a slot
            if await direct.renew([("k:a:conc", "late-release")], clock.now(), 30):
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the stalled reserve never ran")
        await direct.release([(["k:a:conc"], "late-release")], clock.now(), 30)
        assert (await reserve(direct, clock, Charge(conc(2), 1), lease="b")).admitted
        assert (await reserve(direct, clock, Charge(conc(2), 1), lease="c")).admitted
    finally:
        await direct.drop()
        await direct.close()
        await stalled.close()
        proxy.stop()


async def test_leases_failed_in_an_outage_are_released_together_once_redis_returns(
    redis_url: str, unique_prefix: str, clock: FakeClock
) -> None:
    """600 calls whose reserves failed while Redis was unreachable: one retry loop
    releases all of them (in batches) within seconds of Redis coming back."""
    from vallum.ratelimit.leases import LeaseKeeper

    proxy = TcpProxy(6379).start()
    backend = RedisLimits(proxy.url, prefix=unique_prefix, timeout=0.3)
    keeper = LeaseKeeper(backend, clock, 30.0, list)
    try:
        proxy.stop()
        for i in range(600):
            keeper.release_later(["k:a:conc"], f"lost{i}")
        await asyncio.sleep(0.5)
        assert keeper.releasing == 600  # still waiting: Redis is unreachable
        proxy = TcpProxy(6379, port=proxy.port).start()
        for _ in range(200):
            if not keeper.releasing:
                break
            await asyncio.sleep(0.025)
        assert keeper.releasing == 0
        late = await reserve(backend, clock, Charge(conc(5), 1), lease="lost599")
        assert not late.admitted  # released before its reserve ran: it takes nothing
    finally:
        await keeper.stop()
        await backend.drop()
        await backend.close()
        proxy.stop()
