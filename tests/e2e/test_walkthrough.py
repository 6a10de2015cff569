"""The README's "Running it on your own providers", command by command, on a fresh folder.

A fake provider (the mock model's OpenAI and Anthropic wire formats over loopback) stands in
for the user's own; everything else is what a new user types: check the shipped example,
create a key, serve, call it with the openai SDK. No key means 401; the example is secured.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import openai
import pytest

from tests.support.servers import ServerThread, free_port, wait_ready
from vallum.providers.mock import MockModel, MockSettings, mock_asgi_app

ROOT = Path(__file__).resolve().parents[2]
VALLUM = Path(sys.executable).with_name("vallum")
_KEY_ARGS = ("--name", "my-app", "--role", "user", "--json")


def test_fresh_folder_to_a_secured_gateway(tmp_path: Path) -> None:
    provider = mock_asgi_app(MockModel(MockSettings(reply="from your provider")))
    with ServerThread(provider) as up:
        # the user's own copy of the example, pointed at their provider
        config = tmp_path / "vallum.yaml"
        text = (ROOT / "examples" / "vallum.yaml").read_text(encoding="utf-8")
        text = text.replace("https://api.openai.com/v1", f"{up.url}/v1")
        text = text.replace("https://api.anthropic.com", up.url)
        config.write_text(text, encoding="utf-8")
        port = free_port()
        env = {
            "PATH": f"{VALLUM.parent}:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "OPENAI_API_KEY": "sk-user-own-provider-key",
            "ANTHROPIC_API_KEY": "sk-ant-user-own-provider-key",
            "VALLUM_PORT": str(port),
            "VALLUM_KEY_PEPPER": "a-pepper-of-sixteen-or-more",
        }
        run = {"env": env, "capture_output": True, "text": True, "timeout": 60, "check": False}
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()

        # 1. check the configuration (from another folder: paths follow the file)
        checked = subprocess.run([str(VALLUM), "check-config", str(config)], cwd=elsewhere, **run)
        assert checked.returncode == 0, checked.stderr
        assert "warning" not in checked.stderr, "the example is not an open relay"
        # 2. create a key
        created = subprocess.run(
            [str(VALLUM), "keys", "create", "--config", str(config), *_KEY_ARGS],
            cwd=elsewhere,
            **run,
        )
        assert created.returncode == 0, created.stderr
        key = json.loads(created.stdout)["key"]
        # 3. serve
        proc = subprocess.Popen(
            [str(VALLUM), "serve", "--config", str(config)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_ready(f"http://127.0.0.1:{port}/readyz", proc, time.monotonic() + 60)
            base = f"http://127.0.0.1:{port}/v1"
            # 4. call it
            client = openai.OpenAI(base_url=base, api_key=key, max_retries=0)
            reply = client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
            )
            assert reply.choices[0].message.content == "from your provider"
            with pytest.raises(openai.AuthenticationError):
                openai.OpenAI(base_url=base, api_key="not-a-key", max_retries=0).models.list()
        finally:
            proc.terminate()
            _, stderr = proc.communicate(timeout=30)
        assert b"sk-user-own-provider-key" not in stderr and key.encode() not in stderr
        assert (tmp_path / ".vallum" / "vallum.db").exists(), "state sits beside the config"
        assert not (elsewhere / ".vallum").exists()
        assert shutil.which("vallum", path=env["PATH"]) is not None
