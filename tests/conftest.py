"""Shared fixtures: real Redis and PostgreSQL, skipped when absent (failing in CI)."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

REDIS_URL = os.environ.get("VALLUM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get(
    "VALLUM_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip when a service is absent; fail instead when VALLUM_REQUIRE_SERVICES=1 (CI)."""
    if _reachable(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if os.environ.get("VALLUM_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{message} and VALLUM_REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip(f"{message}; start it or set VALLUM_TEST_* URLs")


@pytest.fixture
def redis_url() -> str:
    require_service("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture
def postgres_url() -> str:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    return POSTGRES_URL


@pytest.fixture
def unique_prefix() -> str:
    """A per-test namespace for Redis keys and PostgreSQL schemas."""
    return "vt_" + uuid.uuid4().hex[:12]
