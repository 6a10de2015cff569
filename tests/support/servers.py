"""Real servers on loopback for tests: the gateway and a mock upstream, each in its own thread."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import uvicorn


def wait_ready(url: str, proc: subprocess.Popen[Any], deadline: float) -> None:
    """Poll ``url`` (a /readyz) until it answers 200; fail if ``proc`` exits or time runs out."""
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {proc.returncode}")
        with (
            contextlib.suppress(OSError, urllib.error.URLError),
            urllib.request.urlopen(url, timeout=1) as reply,  # noqa: S310 - loopback only
        ):
            if reply.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} never became ready")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerThread:
    """Runs an ASGI app under uvicorn (uvloop + httptools, as in production) on 127.0.0.1."""

    def __init__(self, app: Any, port: int | None = None, *, http: Any = "httptools") -> None:
        self.port = port or free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            loop="uvloop",
            http=http,
            lifespan="on",
            access_log=False,
            log_level="warning",
            proxy_headers=False,  # as `vallum serve`: the gateway resolves X-Forwarded-For itself
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve())

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
