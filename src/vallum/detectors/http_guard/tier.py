"""``HttpGuardTier``: a guard service as a cascade tier, with a pooled client, a cache and
bounded concurrency (``on_error`` and the timeout are the cascade's)."""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Sequence

import orjson

from vallum.detectors.base import Source
from vallum.detectors.cascade import TierVerdict
from vallum.detectors.http_guard.apis import adapter_for
from vallum.detectors.http_guard.config import HttpGuardConfig
from vallum.errors import UpstreamError
from vallum.providers.base import UpstreamRequest
from vallum.proxy.http_client import HttpClient

__all__ = ["HttpGuardTier"]

_MAX_ANSWER_BYTES = 1 << 20


class HttpGuardTier:
    """Asks a guard service about each text; answers are cached by a hash of the text.

    The credential is read once, at construction (a missing variable fails start-up), and
    only ever placed in a request header.
    """

    def __init__(self, config: HttpGuardConfig, client: HttpClient | None = None) -> None:
        self.config = config
        self.name = f"http_guard.{config.api}"
        self.version = config.model or config.api_version
        self.kinds = config.judged_kinds()
        self.adapter = adapter_for(config)
        self._url = self.adapter.target()
        self._headers = [
            ("content-type", "application/json"),
            ("accept", "application/json"),
            *self.adapter.headers(config.credential()),
        ]
        self._given = client
        self._client = client or self._new_client()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cache: OrderedDict[bytes, TierVerdict] = OrderedDict()
        self._gate = asyncio.Semaphore(config.concurrency)
        self.calls = 0  # requests actually sent (cache misses), for tests and metrics

    def _new_client(self) -> HttpClient:
        return HttpClient(
            connect_timeout=min(self.config.timeout_s, 5.0),
            read_timeout=self.config.timeout_s,
            max_response_bytes=_MAX_ANSWER_BYTES,
            max_idle_per_origin=self.config.concurrency,
        )

    def _bind(self) -> None:
        """Connections and the gate belong to one event loop: a new loop (``Guard``'s sync
        calls run one each) gets its own."""
        loop = asyncio.get_running_loop()
        if loop is self._loop:
            return
        if self._loop is not None and self._given is None:
            self._client = self._new_client()  # the old loop's idle connections are dead
        self._gate = asyncio.Semaphore(self.config.concurrency)
        self._loop = loop

    async def score(self, texts: Sequence[str], source: Source) -> list[TierVerdict]:
        self._bind()
        return list(await asyncio.gather(*(self._one(text, source) for text in texts)))

    async def _one(self, text: str, source: Source) -> TierVerdict:
        text = text[: self.config.max_chars]
        key = hashlib.sha256(f"{source}\x00{text}".encode("utf-8", "replace")).digest()
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        async with self._gate:
            verdict = await self._ask(text, source)
        if self.config.cache_size:
            self._cache[key] = verdict
            if len(self._cache) > self.config.cache_size:
                self._cache.popitem(last=False)
        return verdict

    async def _ask(self, text: str, source: Source) -> TierVerdict:
        body = orjson.dumps(self.adapter.body(text, source))
        self.calls += 1
        response = await self._client.request(
            UpstreamRequest("POST", self._url, self._headers, body)
        )
        if not 200 <= response.status < 300:
            raise UpstreamError(
                "The guard service answered with an error.",
                context={"api": self.config.api, "status": response.status},
            )
        try:
            data = orjson.loads(response.body)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(
                "The guard service sent an answer that is not JSON.",
                context={"api": self.config.api},
            ) from exc
        return self.adapter.parse(data, source)

    async def close(self) -> None:
        await self._client.close()
