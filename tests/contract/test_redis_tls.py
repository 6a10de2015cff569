"""``rediss://`` with a private CA and a client certificate, on a real TLS redis-server.

The test makes a CA, a server and a client certificate (openssl), starts ``redis-server``
on free ports with TLS only and client certificates required, and drives both Redis
clients through the URL's TLS parameters: the storage layer (redis-py) and the rate-limit
client. Skipped when redis-server or openssl is missing (failed under
VALLUM_REQUIRE_SERVICES=1).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.support.servers import free_port
from vallum.clock import FakeClock
from vallum.errors import ConfigError, StorageError
from vallum.ratelimit.redis_backend import RedisLimits
from vallum.ratelimit.spec import Charge, Limit, Measure
from vallum.storage import open_storage


def _need(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        message = f"{tool} is not installed"
        if os.environ.get("VALLUM_REQUIRE_SERVICES") == "1":
            pytest.fail(f"{message} and VALLUM_REQUIRE_SERVICES=1", pytrace=False)
        pytest.skip(message)
    return found


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _certificates(directory: Path) -> None:
    """ca.crt, and server.{crt,key} (for 127.0.0.1) and client.{crt,key} signed by it."""
    ca = "req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=vallum-test-ca"
    _openssl(*ca.split(), "-keyout", "ca.key", "-out", "ca.crt", cwd=directory)
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name in ("server", "client"):
        request = f"req -newkey rsa:2048 -nodes -subj /CN={name} -keyout {name}.key"
        _openssl(*request.split(), "-out", f"{name}.csr", cwd=directory)
        sign = f"x509 -req -in {name}.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2"
        _openssl(*sign.split(), "-extfile", "san.ext", "-out", f"{name}.crt", cwd=directory)


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    server = _need("redis-server")
    _need("openssl")
    directory = tmp_path_factory.mktemp("redis-tls")
    _certificates(directory)
    port = free_port()
    tls = "--tls-cert-file server.crt --tls-key-file server.key --tls-ca-cert-file ca.crt"
    args = [server, "--port", "0", "--tls-port", str(port), "--save", "", "--appendonly", "no"]
    process = subprocess.Popen(
        [*args, *tls.split(), "--tls-auth-clients", "yes", "--dir", str(directory)],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not _listening(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("redis-server with TLS did not start (built without TLS?)")
            time.sleep(0.05)
        yield port, directory
    finally:
        process.terminate()
        process.wait(timeout=10)


def _listening(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _url(port: int, directory: Path, *, client: bool = True) -> str:
    params = {"ssl_ca_certs": str(directory / "ca.crt")}
    if client:
        params |= {
            "ssl_certfile": str(directory / "client.crt"),
            "ssl_keyfile": str(directory / "client.key"),
        }
    return f"rediss://127.0.0.1:{port}/0?{urlencode(params)}"


async def test_storage_over_tls_with_a_private_ca_and_a_client_certificate(
    tls_redis: tuple[int, Path], unique_prefix: str
) -> None:
    port, directory = tls_redis
    storage = await open_storage(_url(port, directory), namespace=unique_prefix)
    try:
        await storage.kv.set("k", b"v")
        assert await storage.kv.get("k") == b"v"
        assert (await storage.counters.hit("c", limit=1, window=60.0)).allowed
    finally:
        await storage.drop_namespace()
        await storage.close()


async def test_rate_limits_over_tls_with_a_private_ca_and_a_client_certificate(
    tls_redis: tuple[int, Path], unique_prefix: str
) -> None:
    port, directory = tls_redis
    clock = FakeClock(1_700_000_040.0)
    limit = Limit("k:a:rpm", Measure.REQUESTS, 2, 60.0, "key")
    backend = RedisLimits(_url(port, directory), prefix=unique_prefix, timeout=5)
    try:
        verdicts = [
            (await backend.reserve([Charge(limit, 1)], f"l{i}", clock.now(), 30)).admitted
            for i in range(3)
        ]
        assert verdicts == [True, True, False]
    finally:
        await backend.drop()
        await backend.close()
    # the server requires a client certificate: without one the handshake fails
    refused = RedisLimits(_url(port, directory, client=False), prefix=unique_prefix, timeout=5)
    try:
        with pytest.raises(StorageError):
            await refused.reserve([Charge(limit, 1)], "x", clock.now(), 30)
    finally:
        await refused.close()


def test_unknown_tls_parameters_are_refused() -> None:
    with pytest.raises(ConfigError, match="ssl_verify_everything"):
        RedisLimits("rediss://127.0.0.1:1/0?ssl_verify_everything=1", prefix="p")
