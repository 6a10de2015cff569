"""`vallum demo` as a new user meets it: admin API and /metrics on, `audit tail -f -n 1`
follows new records, `audit verify` checks the demo's checkpoint signatures, `audit spend`
reports what the key spent."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.servers import free_port, wait_ready

VALLUM = Path(sys.executable).with_name("vallum")
CHAT = {"model": "mock-echo", "messages": [{"role": "user", "content": "hello"}]}


def _readline(stream: subprocess.Popen[str], timeout: float) -> str:
    import selectors

    assert stream.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(stream.stdout, selectors.EVENT_READ)
    if not selector.select(timeout):
        return ""
    return stream.stdout.readline()


def test_demo_admin_metrics_tail_follow_and_signed_verify(tmp_path: Path) -> None:
    port, admin_port = free_port(), free_port()
    env = {"PATH": f"{VALLUM.parent}:/usr/bin:/bin", "HOME": str(tmp_path)}
    demo = subprocess.Popen(
        [str(VALLUM), "demo", "--port", str(port), "--admin-port", str(admin_port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    tail: subprocess.Popen[str] | None = None
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz", demo, time.monotonic() + 60)
        key = (tmp_path / ".vallum" / "demo.key").read_text().strip()
        token = (tmp_path / ".vallum" / "admin.token").read_text().strip()
        assert (tmp_path / ".vallum" / "admin.token").stat().st_mode & 0o077 == 0
        headers = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as proxy:
            assert proxy.post("/v1/chat/completions", json=CHAT, headers=headers).status_code == 200
            with httpx.Client(base_url=f"http://127.0.0.1:{admin_port}", timeout=10) as admin:
                metrics = admin.get("/metrics").content
                assert b"vallum_cost_usd_total{" in metrics, "the demo prices its mock model"
                listed = admin.get("/v1/keys", headers={"Authorization": f"Bearer {token}"})
                assert listed.status_code == 200 and listed.json()["data"]
                assert admin.get("/v1/keys").status_code == 401
            time.sleep(1.5)  # let the first record reach the SQLite sink
            tail = subprocess.Popen(
                [str(VALLUM), "audit", "tail", "-f", "-n", "1", "--json"],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            first = _readline(tail, 15)
            assert first and json.loads(first)["type"] == "request"
            follow = {**CHAT, "messages": [{"role": "user", "content": "a second call"}]}
            assert (
                proxy.post("/v1/chat/completions", json=follow, headers=headers).status_code == 200
            )
            new = _readline(tail, 15)
            assert new, "audit tail -f -n 1 printed nothing for a new record"
            assert json.loads(new)["request_id"] != json.loads(first)["request_id"]
    finally:
        if tail is not None:
            tail.terminate()
            tail.communicate(timeout=10)
        demo.terminate()
        demo.wait(timeout=30)
    verify = subprocess.run(
        [str(VALLUM), "audit", "verify"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "no public key given" not in verify.stdout
    assert "all chains verify" in verify.stdout
    spend = subprocess.run(
        [str(VALLUM), "audit", "spend", "--by", "key", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert spend.returncode == 0, spend.stderr
    (row,) = json.loads(spend.stdout)
    assert row["key"] == key.split("_")[1] and row["calls"] == 2 and row["priced_calls"] == 2
    assert row["cost_usd"] > 0
