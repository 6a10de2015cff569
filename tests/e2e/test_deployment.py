"""deploy/vallum.yaml for real: two replicas sharing PostgreSQL and Redis, as Compose runs them.

Each replica is a `vallum serve` process on the shipped configuration; the model is the
Compose file's stand-in (`deploy/compose/upstream.yaml`, also a `vallum serve`). The test
creates a key with the CLI, calls both replicas with the openai SDK (streamed and not)
through the "load balancer" (a trusted X-Forwarded-For), revokes the key and sees both
refuse it, reads /metrics from the admin listener and verifies the signed audit chains.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support.servers import free_port, wait_ready

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "deploy" / "vallum.yaml")
VALLUM = [sys.executable, "-m", "vallum.cli.main"]
REDIS_DB = 14  # the shipped config uses the fixed namespace "vallum": own database, flushed


def _run_sql(admin_url: str, statement: str) -> None:
    import asyncpg

    async def run() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def _flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.flushdb()
    finally:
        client.close()


@pytest.fixture
def deployment_env(tmp_path: Path, postgres_url: str, redis_url: str) -> Iterator[dict[str, str]]:
    database = "vt_deploy_" + secrets.token_hex(6)
    _run_sql(postgres_url, f"CREATE DATABASE {database}")
    base = postgres_url.rsplit("/", 1)[0]
    redis_base = redis_url.rsplit("/", 1)[0]
    key_file = tmp_path / "audit.key"
    key_file.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    env = {
        **os.environ,
        "VALLUM_DATABASE_URL": f"{base}/{database}",
        "VALLUM_REDIS_URL": f"{redis_base}/{REDIS_DB}",
        "VALLUM_TRUSTED_PROXY": "127.0.0.1/32",  # the test plays the load balancer
        "OPENAI_API_KEY": "sk-upstream-" + secrets.token_hex(8),
        "VALLUM_KEY_PEPPER": secrets.token_hex(16),
        "VALLUM_ADMIN_TOKEN": secrets.token_hex(16),
        "VALLUM_AUDIT_KEY_FILE": str(key_file),
    }
    _flush_redis(env["VALLUM_REDIS_URL"])
    try:
        yield env
    finally:
        _flush_redis(env["VALLUM_REDIS_URL"])
        _run_sql(postgres_url, f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


@contextlib.contextmanager
def _processes(env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, Any]]:
    procs: list[subprocess.Popen[bytes]] = []
    upstream_port = free_port()
    env = {**env, "VALLUM_UPSTREAM_URL": f"http://127.0.0.1:{upstream_port}/v1"}
    try:
        upstream = subprocess.Popen(
            [*VALLUM, "serve", "--config", str(ROOT / "deploy/compose/upstream.yaml")],
            env={**env, "VALLUM_PORT": str(upstream_port)},
            stdout=subprocess.DEVNULL,
        )
        procs.append(upstream)
        replicas = []
        for number in (1, 2):
            port, admin = free_port(), free_port()
            procs.append(
                subprocess.Popen(
                    [*VALLUM, "serve", "--config", CONFIG],
                    env={
                        **env,
                        "VALLUM_PORT": str(port),
                        "VALLUM_ADMIN_PORT": str(admin),
                        "VALLUM_INSTANCE_ID": f"replica-{number}",
                        "VALLUM_SPOOL_DIR": str(tmp_path / f"spool-{number}"),
                    },
                    stdout=subprocess.DEVNULL,
                )
            )
            replicas.append({"proxy": port, "admin": admin, "proc": procs[-1]})
        deadline = time.monotonic() + 60
        wait_ready(f"http://127.0.0.1:{upstream_port}/readyz", upstream, deadline)
        for replica in replicas:
            wait_ready(f"http://127.0.0.1:{replica['proxy']}/readyz", replica["proc"], deadline)
        yield {"replicas": replicas, "env": env}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*VALLUM, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def _client(port: int, key: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"http://127.0.0.1:{port}/v1",
        api_key=key,
        max_retries=0,
        default_headers={"X-Forwarded-For": "203.0.113.7"},
    )


def test_two_replicas_on_the_shipped_config(deployment_env: dict[str, str], tmp_path: Path) -> None:
    with _processes(deployment_env, tmp_path) as running:
        env = running["env"]
        created = _cli(
            env, "keys", "create", "--config", CONFIG, "--name", "app", "--role", "user", "--json"
        )
        assert created.returncode == 0, created.stderr
        key = json.loads(created.stdout)["key"]
        replicas = running["replicas"]

        for replica in replicas:
            client = _client(replica["proxy"], key)
            reply = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hello replicas"}]
            )
            assert reply.choices[0].message.content == "hello replicas"
            stream = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "stream me"}],
                stream=True,
            )
            assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == (
                "stream me"
            )
            with pytest.raises(openai.AuthenticationError):
                _client(replica["proxy"], "vk_not_a_key").models.list()

        metrics = urllib.request.Request(f"http://127.0.0.1:{replicas[0]['admin']}/metrics")
        with urllib.request.urlopen(metrics, timeout=5) as reply:  # noqa: S310 - loopback
            assert b"vallum_" in reply.read()

        key_id = json.loads(created.stdout)["id"]
        revoked = _cli(env, "keys", "revoke", key_id, "--config", CONFIG)
        assert revoked.returncode == 0, revoked.stderr
        deadline = time.monotonic() + 5
        refused: set[int] = set()
        while len(refused) < len(replicas) and time.monotonic() < deadline:
            for replica in replicas:
                try:
                    _client(replica["proxy"], key).models.list()
                except openai.AuthenticationError:
                    refused.add(replica["proxy"])
            time.sleep(0.05)
        assert len(refused) == len(replicas), "a revoked key still works on a replica"

    # after a clean stop every record is in PostgreSQL, on one chain per replica, signed
    query = _cli(env, "audit", "query", "--config", CONFIG, "--json", "--limit", "100")
    assert query.returncode == 0, query.stderr
    records = [json.loads(line) for line in query.stdout.splitlines() if line.strip()]
    chat = [r for r in records if r.get("endpoint") == "chat.completions"]
    assert {r["instance"] for r in chat} == {"replica-1", "replica-2"}
    assert {r["client_ip"] for r in chat} == {"203.0.113.7"}, "the balancer's client address"
    assert key not in query.stdout and env["OPENAI_API_KEY"] not in query.stdout
    verify = _cli(env, "audit", "verify", "--config", CONFIG)
    assert verify.returncode == 0, verify.stdout + verify.stderr
