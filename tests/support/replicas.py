"""Several ``vallum serve`` processes sharing one Redis and one PostgreSQL, for replica tests."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.support.servers import free_port

SRC = str(Path(__file__).resolve().parents[2] / "src")
PEPPER = "replica-test-pepper-0123456789"


class Replica:
    """One gateway process started from a config file; ``kill()`` is ``kill -9``."""

    def __init__(self, config: dict[str, Any], directory: Path, name: str) -> None:
        self.port = free_port()
        self.name = name
        config = {**config, "server": {**config.get("server", {}), "port": self.port}}
        config["server"]["instance_id"] = name
        self.config_file = directory / f"{name}.yaml"
        self.config_file.write_text(yaml.safe_dump(config))
        self.log = directory / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, env: dict[str, str] | None = None) -> Replica:
        environ = {**os.environ, "PYTHONPATH": SRC, "VALLUM_KEY_PEPPER": PEPPER, **(env or {})}
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "vallum.cli.main",
                    "serve",
                    "--config",
                    str(self.config_file),
                ],
                env=environ,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=1):  # noqa: S310 - loopback
                return True
        except OSError:
            return False

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            if self.ready():
                return
            time.sleep(0.05)
        raise AssertionError(f"{self.name} did not become ready: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """``kill -9``: no shutdown hook runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            self.process.wait(timeout=10)


def start_replicas(config: dict[str, Any], directory: Path, count: int) -> list[Replica]:
    """``count`` replicas of one config, started together and waited for."""
    replicas = [Replica(config, directory, f"replica-{i}") for i in range(count)]
    try:
        for replica in replicas:
            replica.start()
        for replica in replicas:
            replica.wait_ready()
    except BaseException:
        for replica in replicas:
            replica.stop()
        raise
    return replicas
