"""Shared limits in Redis: one Lua script per reserve and per settle (one round trip each).

Every key of the layer carries the same hash tag ``{<prefix>:rl}``, so on Redis Cluster
a script's keys always live in one slot (the cost: all limit counters share one shard).
Scripts take the caller's clock, so instances need synchronised clocks.

The hot path is one ``EVALSHA`` per call, written as bytes: each limit's key and its
constant arguments are encoded once and memoised (bounded), only the cost, the clock and
the lease id are encoded per call. ``settle`` does not wait for its reply: it is written
with the connection's next command or at the end of the event-loop iteration, and Redis
runs it before anything sent after it; a failure is logged and handed to ``on_lost`` (the
layer then releases the leases by id). Scripts are loaded when a connection opens; a
``NOSCRIPT`` (a flushed script cache) falls back to ``EVAL`` once.

A call holding a lease passes the key of its release mark with its reserve: a reserve
that timed out here may still run in Redis later, and ``release`` (mark + removal) makes
sure it then takes nothing, in whichever order the two land.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any

from vallum.errors import StorageError
from vallum.ratelimit.backend import Adjustment
from vallum.ratelimit.resp import ReplyError, RespClient, encode_command
from vallum.ratelimit.spec import Charge, CounterState, Limit, Measure, Verdict

__all__ = ["RedisLimits", "load_script"]

log = logging.getLogger("vallum.ratelimit")
_ALGORITHM_CODE = {"rate": b"r", "window": b"w", "lease": b"l"}
_MEMO_SIZE = 8192  # distinct limits whose encoding is kept; cleared whole when full
_ONE = b"$1\r\n1\r\n"  # the cost of most charges (requests, leases)
_RENEW_BATCH = 512  # leases renewed per script call
_CONCURRENT = Measure.CONCURRENT


def load_script(name: str) -> str:
    """A packaged Lua script ``vallum/ratelimit/lua/<name>.lua``."""
    return resources.files("vallum.ratelimit").joinpath("lua", f"{name}.lua").read_text("utf-8")


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)


class _Script:
    """A script's source and SHA-1, with the command heads that precede its keys."""

    def __init__(self, name: str) -> None:
        self.source = load_script(name).encode("utf-8")
        self.sha = hashlib.sha1(self.source, usedforsecurity=False).hexdigest().encode()
        self.load = encode_command(b"SCRIPT", b"LOAD", self.source)
        self._heads: dict[tuple[int, int], bytes] = {}

    def head(self, parts: int, keys: int, *, by_sha: bool = True) -> bytes:
        """``*<n> EVALSHA <sha> <numkeys>`` (or ``EVAL <source>``) for ``parts`` more args."""
        if by_sha:
            found = self._heads.get((parts, keys))
            if found is None:
                if len(self._heads) >= _MEMO_SIZE:
                    self._heads.clear()
                found = self._heads[parts, keys] = b"*%d\r\n$7\r\nEVALSHA\r\n$40\r\n%b\r\n%b" % (
                    parts + 3,
                    self.sha,
                    _bulk(b"%d" % keys),
                )
            return found
        return b"*%d\r\n$4\r\nEVAL\r\n%b%b" % (parts + 3, _bulk(self.source), _bulk(b"%d" % keys))


class RedisLimits:
    """Limits on one Redis (or Redis Cluster slot), shared by every instance using it."""

    name = "redis"

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        timeout: float = 1.0,
        on_lost: Callable[[Sequence[str], str], None] | None = None,
    ) -> None:
        self.tag = "{" + prefix + ":rl}:"
        self._reserve = _Script("reserve")
        self._settle = _Script("settle")
        self._renew = _Script("renew")
        self._release = _Script("release")
        scripts = (self._reserve, self._settle, self._renew, self._release)
        self._client = RespClient(url, timeout=timeout, on_connect=[s.load for s in scripts])
        self._on_lost = on_lost
        self._keys: dict[str, bytes] = {}
        # counter key -> (the limit, its encoded key, its encoded constant arguments);
        # keyed by the key string, whose hash Python caches (a Limit hashes five fields)
        self._limits: dict[str, tuple[Limit, bytes, bytes]] = {}
        self._lease_ttl = (0.0, b"")

    def _key(self, key: str) -> bytes:
        """The encoded counter key (bulk string), memoised."""
        encoded = self._keys.get(key)
        if encoded is None:
            if len(self._keys) >= _MEMO_SIZE:
                self._keys.clear()
            encoded = self._keys[key] = _bulk((self.tag + key).encode("utf-8"))
        return encoded

    def _limit(self, limit: Limit) -> tuple[Limit, bytes, bytes]:
        """A limit's encoded key and constant arguments (algorithm, limit, period)."""
        found = self._limits.get(limit.key)
        if found is None or (found[0] is not limit and found[0] != limit):
            if len(self._limits) >= _MEMO_SIZE:
                self._limits.clear()
            code = _ALGORITHM_CODE[limit.measure.algorithm]
            args = (
                _bulk(code) + _bulk(b"%d" % limit.limit) + _bulk(repr(float(limit.period)).encode())
            )
            found = self._limits[limit.key] = (limit, self._key(limit.key), args)
        return found

    def _ttl(self, lease_ttl: float) -> bytes:
        if self._lease_ttl[0] != lease_ttl:
            self._lease_ttl = (lease_ttl, _bulk(repr(float(lease_ttl)).encode()))
        return self._lease_ttl[1]

    async def reserve(
        self, charges: Sequence[Charge], lease_id: str, now: float, lease_ttl: float
    ) -> Verdict:
        keys: list[bytes] = []
        lease = _bulk(lease_id.encode())
        args = [_bulk(repr(now).encode()), lease, self._ttl(lease_ttl)]
        leases = False
        for limit, cost in charges:
            _, key, constant = self._limit(limit)
            keys.append(key)
            args.append(constant)
            args.append(_ONE if cost == 1 else _bulk(b"%d" % cost))
            leases = leases or limit.measure is _CONCURRENT
        if leases:
            keys.append(self._mark(lease_id))
        count = len(keys)
        parts = count + 3 + 4 * len(charges)  # each constant is three arguments
        body = b"".join(keys) + b"".join(args)
        reply = await self._run("ratelimit.reserve", self._reserve, count, parts, body)
        states = []
        for i in range(1, len(reply), 4):
            allowed = reply[i] == 1
            reset, retry = reply[i + 2], reply[i + 3]
            states.append(
                CounterState(
                    allowed,
                    reply[i + 1],
                    reset / 1000,
                    0.0 if allowed else (math.inf if retry < 0 else retry / 1000),
                )
            )
        return Verdict(reply[0] == 1, tuple(states))

    async def settle(
        self, adjustments: Sequence[Adjustment], lease_keys: Sequence[str], lease_id: str
    ) -> None:
        if not adjustments and not lease_keys:
            return
        keys = [self._key(a.key) for a in adjustments] + [self._key(k) for k in lease_keys]
        args = [_bulk(lease_id.encode()), _bulk(b"%d" % len(adjustments))]
        for a in adjustments:
            args.append(_bulk(b"%d" % a.delta))
            args.append(_bulk(b"%d" % a.bucket))
        body = b"".join(keys) + b"".join(args)
        parts = len(keys) + len(args)
        try:
            reply = await self._client.send(self._settle.head(parts, len(keys)) + body)
        except StorageError as exc:  # the caller hands the leases on
            raise StorageError(
                "rate-limit backend unavailable", context={"backend": "redis", "op": "settle"}
            ) from exc
        # Not awaited: the caller's task has nothing to wait for, and any later command on
        # this connection runs after this one in Redis. The reply is checked when it comes.
        lost = (tuple(lease_keys), lease_id)
        reply.add_done_callback(lambda done: self._settled(done, (parts, len(keys), body), lost))

    def _settled(
        self,
        done: asyncio.Future[Any],
        retry: tuple[int, int, bytes] | None,
        lost: tuple[Sequence[str], str],
    ) -> None:
        """A settle's reply: on ``NOSCRIPT`` (a flushed script cache) it is sent once more
        with ``EVAL`` (``retry``: its parts, keys and body); failures are logged and the
        leases (``lost``: their keys and id) handed to ``on_lost``."""
        reply = None if done.cancelled() or done.exception() else done.result()
        if (
            retry is not None
            and isinstance(reply, ReplyError)
            and str(reply).startswith("NOSCRIPT")
        ):
            parts, keys, body = retry
            try:
                again = self._client.resend(self._settle.head(parts, keys, by_sha=False) + body)
            except StorageError:
                self._lost(lost)
                return
            again.add_done_callback(lambda retried: self._settled(retried, None, lost))
        elif not isinstance(reply, int):
            self._lost(lost)

    def _lost(self, lost: tuple[Sequence[str], str]) -> None:
        log.warning("rate-limit settle failed; its leases are released later or expire")
        if self._on_lost is not None and lost[0]:
            self._on_lost(*lost)

    def _mark(self, lease_id: str) -> bytes:
        """The encoded key of a lease id's release mark (not memoised: one per call)."""
        return _bulk((self.tag + "released:" + lease_id).encode("utf-8"))

    async def renew(self, leases: Sequence[tuple[str, str]], now: float, lease_ttl: float) -> int:
        renewed = 0
        head = [_bulk(repr(now).encode()), _bulk(repr(now + lease_ttl).encode())]
        head.append(_bulk(b"%d" % (math.ceil(lease_ttl * 1000) + 60_000)))
        for start in range(0, len(leases), _RENEW_BATCH):
            batch = leases[start : start + _RENEW_BATCH]
            keys = [self._key(key) for key, _ in batch]
            ids = [_bulk(lease_id.encode()) for _, lease_id in batch]
            body = b"".join(keys) + b"".join(head) + b"".join(ids)
            parts = len(keys) + len(head) + len(ids)
            renewed += int(await self._run("ratelimit.renew", self._renew, len(keys), parts, body))
        return renewed

    async def release(
        self, leases: Sequence[tuple[Sequence[str], str]], now: float, lease_ttl: float
    ) -> None:
        keys: list[bytes] = []
        args = [_bulk(b"%d" % (math.ceil(lease_ttl * 1000) + 1000))]
        for lease_keys, lease_id in leases:
            keys += [self._key(key) for key in lease_keys]
            keys.append(self._mark(lease_id))
            args += [_bulk(b"%d" % len(lease_keys)), _bulk(lease_id.encode())]
        if not leases:
            return
        body = b"".join(keys) + b"".join(args)
        parts = len(keys) + len(args)
        await self._run("ratelimit.release", self._release, len(keys), parts, body)

    async def _run(self, op: str, script: _Script, keys: int, parts: int, body: bytes) -> Any:
        try:
            reply = await self._client.call(script.head(parts, keys) + body)
            if isinstance(reply, ReplyError) and str(reply).startswith("NOSCRIPT"):
                reply = await self._client.call(script.head(parts, keys, by_sha=False) + body)
        except StorageError as exc:
            raise StorageError(
                "rate-limit backend unavailable", context={"backend": "redis", "op": op}
            ) from exc
        if isinstance(reply, ReplyError) or not isinstance(reply, list | int):
            raise StorageError(
                "rate-limit backend refused the script", context={"backend": "redis", "op": op}
            )
        return reply

    async def drop(self) -> None:
        """Delete every counter under this prefix (tests and cleanup)."""
        pattern = (self.tag + "*").encode()
        cursor = b"0"
        try:
            while True:
                reply = await self._client.call(
                    encode_command(b"SCAN", cursor, b"MATCH", pattern, b"COUNT", b"500")
                )
                if isinstance(reply, ReplyError):
                    raise StorageError("rate-limit backend refused SCAN")
                cursor, keys = reply
                if keys:
                    await self._client.call(encode_command(b"UNLINK", *keys))
                if cursor == b"0":
                    return
        except StorageError as exc:
            raise StorageError("rate-limit backend unavailable") from exc

    async def close(self) -> None:
        await self._client.close()
