"""Throwaway upstream-client adapters (aiohttp, httpx) with the HttpClient interface.

Only for the client comparison in docs/performance.md; neither library is a dependency.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from vallum.errors import UpstreamError
from vallum.providers.base import UpstreamRequest, UpstreamResponse


class AiohttpClient:
    def __init__(self, config: Any) -> None:
        self._session: Any = None
        self._timeouts = config.timeouts

    def _open(self) -> Any:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=0, limit_per_host=0, keepalive_timeout=60),
                timeout=aiohttp.ClientTimeout(
                    sock_connect=self._timeouts.connect, sock_read=self._timeouts.read
                ),
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding"),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def request(self, request: UpstreamRequest) -> UpstreamResponse:
        session = self._open()
        try:
            response = await session.request(
                request.method, request.url, data=request.body, headers=request.headers
            )
        except OSError as exc:
            raise UpstreamError("Could not connect to the upstream.") from exc
        headers = list(response.headers.items())
        if request.stream and 200 <= response.status < 300:
            return UpstreamResponse(response.status, headers, stream=self._stream(response))
        body = await response.read()
        response.release()
        return UpstreamResponse(response.status, headers, body=body)

    async def _stream(self, response: Any) -> AsyncIterator[bytes]:
        try:
            async for chunk in response.content.iter_any():
                yield chunk
        finally:
            response.release()


class HttpxClient:
    def __init__(self, config: Any) -> None:
        import httpx

        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(config.timeouts.read, connect=config.timeouts.connect),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=256),
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def request(self, request: UpstreamRequest) -> UpstreamResponse:
        import httpx

        built = self._client.build_request(
            request.method, request.url, content=request.body, headers=request.headers
        )
        try:
            response = await self._client.send(built, stream=True)
        except httpx.TransportError as exc:
            raise UpstreamError("Could not connect to the upstream.") from exc
        headers = list(response.headers.items())
        if request.stream and 200 <= response.status_code < 300:
            return UpstreamResponse(response.status_code, headers, stream=self._stream(response))
        body = await response.aread()
        await response.aclose()
        return UpstreamResponse(response.status_code, headers, body=body)

    async def _stream(self, response: Any) -> AsyncIterator[bytes]:
        try:
            async for chunk in response.aiter_raw():
                yield chunk
        finally:
            await response.aclose()


def make(kind: str, config: Any) -> Any:
    if kind == "aiohttp":
        return AiohttpClient(config)
    if kind == "httpx":
        return HttpxClient(config)
    raise ValueError(kind)
