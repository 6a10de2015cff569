"""Loader behaviour an operator relies on: one run lists every problem, YAML 1.1 words stay
words, paths are relative to the config file, and risky configurations are called out."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vallum.admin.config import AdminConfig, require_admin_credentials
from vallum.config import load_config, parse_config
from vallum.config.advice import config_warnings
from vallum.errors import ConfigError

VALLUM = Path(sys.executable).with_name("vallum")


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="t.yaml")
    return caught.value.public_message.splitlines()[1:]


def test_environment_schema_and_layer_problems_come_in_one_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VALLUM_T_UNSET", raising=False)
    problems = _problems(
        "server: {port: 99999}\n"
        "providers: [{name: a, type: openai, base_url: '${VALLUM_T_UNSET}'}]\n"
        "layers: [{type: validate, max_n: 0}, {type: firewall}]\n"
    )
    text = "\n".join(problems)
    assert "providers[0].base_url: environment variable VALLUM_T_UNSET is not set" in text
    assert "server.port" in text
    assert "layers[0].max_n" in text
    assert "layers[1].type: unknown layer 'firewall'" in text


@pytest.mark.parametrize("word", ["off", "on", "yes", "no", "Off", "NO"])
def test_yaml_1_1_boolean_words_stay_strings(word: str) -> None:
    config = parse_config(f"server: {{instance_id: {word}}}")
    assert config.server.instance_id == word


def test_pii_off_unquoted_reads_as_the_action_name() -> None:
    config = parse_config("layers: [{type: input_guard, pii: off, secrets: block}]")
    assert config.layers[0]["pii"] == "off"


def test_booleans_still_parse_and_bool_fields_accept_the_words() -> None:
    config = parse_config("layers: [{type: validate, allow_logprobs: false}]")
    assert config.layers[0]["allow_logprobs"] is False
    config = parse_config("layers: [{type: validate, allow_logprobs: off}]")
    assert config.layers[0]["allow_logprobs"] == "off"  # the layer's model reads it as False


def test_relative_paths_resolve_against_the_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    path = folder / "vallum.yaml"
    path.write_text(
        "storage: {url: 'sqlite:///state/v.db', counters_url: 'sqlite:////abs/c.db'}\n"
        "layers:\n"
        "  - type: audit\n"
        "    sinks: [{type: sqlite, path: audit.db}, {type: jsonl, directory: /var/log/v}]\n"
        "    signing_key_file: keys/audit.key\n"
        "    spool: {directory: spool}\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    config = load_config("etc/vallum.yaml")
    assert config.storage.url == f"sqlite:///{folder}/state/v.db"
    assert config.storage.counters_url == "sqlite:////abs/c.db"
    audit = config.layers[0]
    assert audit["sinks"][0]["path"] == str(folder / "audit.db")
    assert audit["sinks"][1]["directory"] == "/var/log/v"
    assert audit["signing_key_file"] == str(folder / "keys" / "audit.key")
    assert audit["spool"]["directory"] == str(folder / "spool")


def test_no_authn_in_front_of_a_real_provider_is_an_open_relay_warning() -> None:
    relay = parse_config(
        "providers: [{name: oa, type: openai, base_url: 'http://127.0.0.1:1/v1'}]\n"
        "layers: [{type: validate}]\n"
    )
    (warning,) = config_warnings(relay)
    assert "open relay" in warning and "oa" in warning
    secured = parse_config(
        "providers: [{name: oa, type: openai, base_url: 'http://127.0.0.1:1/v1'}]\n"
        "layers: [{type: authn}, {type: authz}]\n"
    )
    assert config_warnings(secured) == []
    mock_only = parse_config("providers: [{name: m, type: mock}]\n")
    assert config_warnings(mock_only) == []


def test_admin_listener_without_any_credential_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VALLUM_ADMIN_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="VALLUM_ADMIN_TOKEN is not set"):
        require_admin_credentials(AdminConfig(enabled=True))
    require_admin_credentials(AdminConfig(enabled=False))
    monkeypatch.setenv("VALLUM_ADMIN_TOKEN", "a-long-admin-token")
    require_admin_credentials(AdminConfig(enabled=True))


def test_check_config_prints_the_open_relay_warning(tmp_path: Path) -> None:
    path = tmp_path / "relay.yaml"
    path.write_text(
        "providers: [{name: oa, type: openai, base_url: 'http://127.0.0.1:1/v1'}]\n",
        encoding="utf-8",
    )
    result = subprocess.run(
        [str(VALLUM), "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "warning: no authn layer" in result.stderr


def test_a_static_block_over_a_trusted_proxy_or_loopback_is_called_out() -> None:
    config = parse_config(
        "server: {trusted_proxies: [10.0.0.0/24]}\n"
        "layers: [{type: ipblock, static: [10.0.0.0/16, 203.0.113.0/24, 127.0.0.1/32]}]\n"
    )
    warnings = config_warnings(config)
    assert len(warnings) == 2
    assert "10.0.0.0/16" in warnings[0] and "trusted proxy" in warnings[0]
    assert "127.0.0.1/32" in warnings[1]
