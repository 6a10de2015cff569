"""Combinations that would count limits per process are refused, with the fields named.

Two ``vallum serve`` processes on one SQLite store with counters kept in each process (the
embedded default, or ``counters_url: sqlite:///…``): each would admit a key's rpm alone
(an rpm-10 limit let 20 calls through). The second process refuses to start; a process
restarted after ``kill -9`` of the first is not refused (the dead one's entry is ignored).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.replicas import Replica


def _config(tmp_path: Path, counters_url: str) -> dict[str, Any]:
    return {
        "storage": {"url": f"sqlite:///{tmp_path}/state.db", "counters_url": counters_url},
        "providers": [{"name": "mock", "type": "mock"}],
        "models": [{"name": "mock-echo", "provider": "mock"}],
        "layers": [{"type": "ratelimit", "limits": [{"scope": "ip", "requests_per_minute": 10}]}],
    }


@pytest.mark.parametrize("counters", ["memory://", "sqlite"])
def test_a_second_process_on_a_store_with_per_process_counters_refuses_to_start(
    tmp_path: Path, counters: str
) -> None:
    url = f"sqlite:///{tmp_path}/counters.db" if counters == "sqlite" else counters
    first = Replica(_config(tmp_path, url), tmp_path, "first").start()
    second = Replica(_config(tmp_path, url), tmp_path, "second")
    try:
        first.wait_ready()
        second.start()
        assert second.process is not None
        assert second.process.wait(timeout=60) != 0
        log = second.log.read_text()
        assert "storage.counters_url" in log and "'first'" in log, log[-2000:]
        first.kill()  # kill -9: its registry entry stays until it lapses, but its pid is gone
        restarted = Replica(_config(tmp_path, url), tmp_path, "restarted").start()
        try:
            restarted.wait_ready()
        finally:
            restarted.stop()
    finally:
        first.stop()
        second.stop()
