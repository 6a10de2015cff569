"""The YAML loader: errors name the YAML path, ${ENV:default} substitution, strictness."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vallum.config import GatewayConfig, load_config, parse_config
from vallum.errors import ConfigError

VALLUM = Path(sys.executable).with_name("vallum")

GOOD = """\
server: {port: 9000}
providers:
  - {name: mock, type: mock}
  - {name: oa, type: openai, base_url: "http://127.0.0.1:1/v1"}
models:
  - {name: mock-echo, provider: mock}
  - {name: "gpt-*", provider: oa, upstream_model: gpt-4o-mini}
storage: {url: "memory://", counters_url: "memory://"}
layers:
  - {type: validate, max_n: 2}
"""


def _error(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="t.yaml")
    message = caught.value.public_message
    assert message.startswith("t.yaml: ")
    return message


def test_good_config_parses() -> None:
    config = parse_config(GOOD)
    assert isinstance(config, GatewayConfig)
    assert config.server.port == 9000
    assert [p.name for p in config.providers] == ["mock", "oa"]
    assert config.models[1].upstream_model == "gpt-4o-mini"
    assert config.layers == [{"type": "validate", "max_n": 2}]


def test_empty_file_gives_defaults() -> None:
    config = parse_config("")
    assert config.server.host == "127.0.0.1"
    assert config.layers == []
    assert config.limits.max_body_bytes == 8 * 1024 * 1024


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("layers: [{type: validate, max_n: 0}]", "layers[0].max_n: "),
        ("layers: [{type: validate}, {type: validate, max_n: x}]", "layers[1].max_n: "),
        ("layers: [{type: validate, bogus: 1}]", "layers[0].bogus: Extra inputs"),
        (
            "providers: [{name: a, type: mock}, {name: b, type: openai, base_url: 'ftp://x'}]",
            "providers[1].base_url: base_url must be an http(s) URL",
        ),
        (
            "providers: [{name: b, type: openai}]",
            "providers[0].base_url: base_url must be an http(s) URL",
        ),
        (
            "providers: [{name: b, type: openai, base_url: 'http://u:p@x/v1'}]",
            "providers[0].base_url: ",
        ),
        (
            "providers: [{name: b, type: openai, base_url: 'http://x/v1?k=1'}]",
            "providers[0].base_url: ",
        ),
        (
            "providers: [{name: b, type: openai, base_url: 'http://x', api_key_env: A,"
            " api_key_file: /f}]",
            "providers[0].api_key_file: give api_key_env or api_key_file, not both",
        ),
        ("providers: [{name: b, type: azure}]", "providers[0].type: "),
        ("server: {port: 70000}", "server.port: "),
        ("server: {trusted_proxies: [nonsense]}", "server.trusted_proxies: "),
        ("limits: {max_body_bytes: 10}", "limits.max_body_bytes: "),
        ("timeouts: {connect: 0}", "timeouts.connect: "),
        ("models: [{name: 'bad name', provider: a}]", "models[0].name: "),
        ("storage: {url: 'ftp://x'}", "storage.url: unknown storage URL scheme"),
        ("storage: {counters_url: 'memcached://x'}", "storage.counters_url: unknown storage"),
    ],
)
def test_errors_name_the_yaml_path(text: str, expected: str) -> None:
    assert f"\n  {expected}" in _error(text)


def test_every_problem_is_listed_at_once() -> None:
    message = _error("server: {port: -1, workers: 0}\nlimits: {max_messages: 0}")
    assert "server.port" in message
    assert "server.workers" in message
    assert "limits.max_messages" in message


@pytest.mark.parametrize(
    "text",
    [
        "bogus: 1",
        "server: {hots: 0.0.0.0}",
        "limits: {max_body: 1}",
        "providers: [{name: a, type: mock, mock: {replly: x}}]",
        "models: [{name: a, provider: a, upstream: b}]",
        "storage: {path: x}",
    ],
)
def test_unknown_fields_are_rejected(text: str) -> None:
    assert "Extra inputs are not permitted" in _error(text)


def test_unknown_layer_type_lists_the_known_ones() -> None:
    message = _error("layers: [{type: validate}, {type: firewall}]")
    assert "layers[1].type: unknown layer 'firewall'; known: " in message
    assert "validate" in message.rsplit("known: ", 1)[1]


def test_layer_without_type_is_rejected() -> None:
    assert "layers[0].type: " in _error("layers: [{max_n: 3}]")


def test_duplicate_provider_and_model_names() -> None:
    providers = _error("providers: [{name: a, type: mock}, {name: a, type: mock}]")
    assert "providers: duplicate provider names: ['a']" in providers
    models = _error(
        "providers: [{name: a, type: mock}]\n"
        "models: [{name: m, provider: a}, {name: m, provider: a}]"
    )
    assert "models: duplicate model names: ['m']" in models


def test_model_route_to_unknown_provider() -> None:
    message = _error("models: [{name: m, provider: nowhere}]")
    assert "\n  models[0]" in message
    assert "unknown provider 'nowhere'" in message
    assert "<root>" not in message


@pytest.mark.parametrize("scheme", ["memory://", "MEMORY://", "Memory://x", "sqlite:///c.db"])
def test_several_workers_refuse_in_process_counters(scheme: str) -> None:
    message = _error(f"server: {{workers: 2}}\nstorage: {{counters_url: '{scheme}'}}")
    assert "server.workers, storage.counters_url: " in message
    assert "shared counters" in message


@pytest.mark.parametrize("counters", ["memory://", "sqlite:///c.db"])
def test_per_process_counters_beside_a_shared_postgres_store_need_an_acknowledgement(
    counters: str,
) -> None:
    text = f"storage: {{url: 'postgresql://db/x', counters_url: '{counters}'}}"
    message = _error(text)
    assert "storage.counters_url, storage.url: " in message
    assert "server.single_instance: true" in message
    config = parse_config(text + "\nserver: {single_instance: true}")
    assert config.server.single_instance


def test_several_workers_with_redis_counters_are_fine() -> None:
    config = parse_config("server: {workers: 4}\nstorage: {counters_url: 'redis://127.0.0.1/0'}")
    assert config.server.workers == 4


def test_duplicate_yaml_keys_are_refused() -> None:
    # A second `layers:` would otherwise silently replace the first, dropping security layers.
    message = _error("layers: [{type: validate}]\nserver: {port: 1}\nlayers: []\n")
    assert "invalid YAML" in message
    assert "duplicate key 'layers'" in message
    assert "duplicate key 'port'" in _error("server: {port: 1, port: 2}")


def test_yaml_merge_keys_still_work() -> None:
    config = parse_config("layers:\n  - &v {type: validate, max_n: 3}\n  - {<<: *v, max_n: 5}\n")
    assert config.layers == [
        {"type": "validate", "max_n": 3},
        {"type": "validate", "max_n": 5},
    ]


def test_invalid_yaml_and_non_mapping() -> None:
    assert "invalid YAML" in _error("a: [")
    assert "the top level must be a mapping" in _error("- a\n- b")


def test_env_substitution(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VALLUM_T_PORT", "9123")
    monkeypatch.setenv("VALLUM_T_URL", "http://10.0.0.1:8000")
    monkeypatch.delenv("VALLUM_T_UNSET", raising=False)
    config = parse_config(
        "server: {port: '${VALLUM_T_PORT}', host: '${VALLUM_T_UNSET:0.0.0.0}'}\n"
        "providers: [{name: up, type: openai, base_url: '${VALLUM_T_URL}/v1'}]\n"
    )
    assert config.server.port == 9123
    assert config.server.host == "0.0.0.0"
    assert config.providers[0].base_url == "http://10.0.0.1:8000/v1"


def test_env_default_may_be_empty_and_value_is_not_resubstituted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VALLUM_T_NESTED", "${VALLUM_T_OTHER}")
    monkeypatch.delenv("VALLUM_T_NONE", raising=False)
    config = parse_config("server: {instance_id: 'a${VALLUM_T_NONE:}b'}")
    assert config.server.instance_id == "ab"
    config = parse_config("server: {instance_id: '${VALLUM_T_NESTED}'}")
    assert config.server.instance_id == "${VALLUM_T_OTHER}"


def test_missing_env_without_default_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VALLUM_T_MISSING", raising=False)
    message = _error("providers: [{name: a, type: openai, base_url: '${VALLUM_T_MISSING}'}]")
    assert "environment variable VALLUM_T_MISSING is not set and has no default" in message


def test_load_config_reads_files(tmp_path: Path) -> None:
    path = tmp_path / "vallum.yaml"
    path.write_text(GOOD, encoding="utf-8")
    assert load_config(path).server.port == 9000
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml")
    path.write_text("layers: [{type: nope}]", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.public_message.startswith(f"{path}: ")


def _check_config(
    path: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VALLUM), "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        check=False,
    )


def test_check_config_cli_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD, encoding="utf-8")
    result = _check_config(good)
    assert result.returncode == 0, result.stderr
    assert "OK (1 layers, 2 models)" in result.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text("layers: [{type: validate, max_n: 0}]\n", encoding="utf-8")
    result = _check_config(bad)
    assert result.returncode == 2
    assert "layers[0].max_n" in result.stderr
    assert "Traceback" not in result.stderr

    result = _check_config(tmp_path / "missing.yaml")
    assert result.returncode == 2
    assert "cannot read config" in result.stderr


def test_check_config_builds_providers_like_serve(tmp_path: Path) -> None:
    """A credential variable that is named but unset fails check-config, not the first call."""
    path = tmp_path / "creds.yaml"
    path.write_text(
        "providers: [{name: oa, type: openai, base_url: 'http://127.0.0.1:1/v1',"
        " api_key_env: VALLUM_T_KEY}]\n",
        encoding="utf-8",
    )
    missing = _check_config(path)
    assert missing.returncode == 2
    assert "VALLUM_T_KEY is not set" in missing.stderr
    present = _check_config(path, {"VALLUM_T_KEY": "sk-test-not-a-secret"})
    assert present.returncode == 0, present.stderr
    assert "sk-test-not-a-secret" not in present.stdout + present.stderr
