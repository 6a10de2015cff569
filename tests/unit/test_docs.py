"""Docs code blocks are tests: config examples validate, marked Python examples run."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import ServerThread
from vallum.cli.serve import demo_config
from vallum.config import build_config, load_config, parse_config
from vallum.gateway import Gateway
from vallum.proxy.app import GatewayApp

ROOT = Path(__file__).resolve().parents[2]
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:[^}]*)?\}")
_API_KEY_ENV = re.compile(r"api_key_env:\s*['\"]?([A-Za-z_][A-Za-z0-9_]*)")


def _doc_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _blocks(language: str, marker: str) -> list[tuple[str, str]]:
    found = []
    for path in _doc_files():
        text = path.read_text(encoding="utf-8")
        for match in _FENCE.finditer(text):
            lang, code = match.group(1), match.group(2)
            first = code.lstrip().split("\n", 1)[0].strip()
            if lang == language and first == marker:
                line = text.count("\n", 0, match.start()) + 1
                found.append((f"{path.relative_to(ROOT)}:{line}", code))
    return found


YAML_BLOCKS = _blocks("yaml", "# vallum-config")
PYTHON_BLOCKS = _blocks("python", "# doctest: run")


def _dummy_env(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    """Set every variable the text needs (without a default) to a harmless dummy value."""
    for name, default in _ENV_REF.findall(text):
        if not default:
            monkeypatch.setenv(name, "dummy-value")
    for name in _API_KEY_ENV.findall(text):
        monkeypatch.setenv(name, "sk-dummy-not-a-secret")


def test_the_docs_have_config_and_python_examples() -> None:
    sources = {where.split(":")[0] for where, _ in YAML_BLOCKS}
    assert {"docs/configuration.md", "docs/layers/validate.md"} <= sources
    assert any(where.startswith("README.md") for where, _ in PYTHON_BLOCKS)


@pytest.mark.parametrize(("where", "code"), YAML_BLOCKS, ids=[w for w, _ in YAML_BLOCKS])
def test_config_blocks_validate(monkeypatch: pytest.MonkeyPatch, where: str, code: str) -> None:
    _dummy_env(monkeypatch, code)
    parse_config(code, source=where)


def test_example_config_validates_and_builds(monkeypatch: pytest.MonkeyPatch) -> None:
    path = ROOT / "examples" / "vallum.yaml"
    _dummy_env(monkeypatch, path.read_text(encoding="utf-8"))
    config = load_config(path)
    assert {p.type for p in config.providers} >= {"openai", "anthropic"}
    assert any(m.name.endswith("*") for m in config.models)
    assert any(m.upstream_model for m in config.models)
    assert [layer["type"] for layer in config.layers] == [
        "authn",
        "authz",
        "ratelimit",
        "validate",
        "input_guard",
        "output_filter",
        "audit",
    ]
    from vallum.config.advice import config_warnings

    assert config_warnings(config) == [], "the example is a secured gateway, not an open relay"
    Gateway(config)  # providers, credentials and layers are built as `vallum serve` would


def test_example_config_fails_without_its_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    from vallum.errors import ConfigError

    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "x")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        Gateway(load_config(ROOT / "examples" / "vallum.yaml"))


@pytest.fixture(scope="module")
def demo_gateway() -> Iterator[ServerThread]:
    """The demo's providers and models (the in-process mock) with the core validate layer."""
    raw: dict[str, Any] = demo_config().model_dump(
        include={"providers", "models"}, exclude_defaults=True
    )
    raw["storage"] = {"url": "memory://", "counters_url": "memory://"}
    raw["layers"] = [{"type": "validate"}]
    with ServerThread(GatewayApp(Gateway(build_config(raw)))) as server:
        yield server


@pytest.mark.parametrize(("where", "code"), PYTHON_BLOCKS, ids=[w for w, _ in PYTHON_BLOCKS])
def test_python_blocks_run_against_the_demo(
    monkeypatch: pytest.MonkeyPatch, demo_gateway: ServerThread, where: str, code: str
) -> None:
    monkeypatch.setenv("VALLUM_URL", f"{demo_gateway.url}/v1")
    monkeypatch.setenv("VALLUM_API_KEY", "docs-test")
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(code, where, "exec"), {"__name__": "__docs__"})  # noqa: S102 - our own docs
    for expected in re.findall(r"print\(.*\)\s*#\s*(.+)$", code, re.MULTILINE):
        assert expected.strip() in output.getvalue(), f"{where}: expected {expected!r}"
