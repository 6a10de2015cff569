"""Check: a client that disconnects cancels the upstream call; a silent stream hits stream_idle.

    .venv/bin/python bench/experiments/disconnect_check.py
Runs Vallum in-process (uvicorn, uvloop) against a raw upstream on loopback that never answers.
"""

from __future__ import annotations

import asyncio
import time

import uvicorn

from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.proxy.app import GatewayApp

UP, GW = 18591, 18592
BODY = b'{"model":"m","messages":[{"role":"user","content":"hi"}]%s}'


async def main() -> None:
    closed: list[float] = []

    async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if b"stream" in await reader.read(65536):  # streamed: send the head, then silence
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                b"transfer-encoding: chunked\r\n\r\n"
            )
        await reader.read()  # returns when Vallum closes the upstream connection
        closed.append(time.monotonic())
        writer.close()

    server = await asyncio.start_server(upstream, "127.0.0.1", UP)
    config = build_config(
        {
            "server": {"port": GW},
            "storage": {"url": "memory://", "counters_url": "memory://"},
            "timeouts": {"stream_idle": 1.0},
            "providers": [{"name": "u", "type": "openai", "base_url": f"http://127.0.0.1:{UP}/v1"}],
            "models": [{"name": "m", "provider": "u"}],
            "layers": [{"type": "validate"}],
        }
    )
    uv = uvicorn.Server(
        uvicorn.Config(
            GatewayApp(Gateway(config)), port=GW, loop="none", log_level="warning", lifespan="on"
        )
    )
    task = asyncio.create_task(uv.serve())
    await asyncio.sleep(0.5)
    for stream in (False, True):
        reader, writer = await asyncio.open_connection("127.0.0.1", GW)
        body = BODY % (b',"stream":true' if stream else b"")
        writer.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: "
            b"application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
        )
        await asyncio.sleep(0.3)
        gone = time.monotonic()
        writer.close()
        await asyncio.sleep(0.5)
        ok = bool(closed) and closed[-1] - gone < 0.2
        print(
            f"stream={stream}: client gone -> upstream closed after "
            f"{(closed[-1] - gone) * 1000 if closed else float('nan'):.0f} ms: "
            f"{'OK' if ok else 'FAIL'}"
        )
        closed.clear()
    reader, writer = await asyncio.open_connection("127.0.0.1", GW)
    body = BODY % b',"stream":true'
    started = time.monotonic()
    writer.write(
        b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: "
        b"application/json\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)
    )
    data = b""
    while b"upstream_timeout" not in data and time.monotonic() - started < 5:
        data += await asyncio.wait_for(reader.read(65536), 5)
    took = time.monotonic() - started
    print(
        f"silent stream cut after {took:.2f} s (stream_idle 1.0): "
        f"{'OK' if b'upstream_timeout' in data and 0.9 < took < 1.5 else 'FAIL'}"
    )
    writer.close()
    uv.should_exit = True
    await task
    server.close()


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
