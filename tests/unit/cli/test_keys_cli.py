"""`vallum keys` / `roles` on the command line: durations, permissions, readable output."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from vallum.cli.audit_cmd import parse_time
from vallum.cli.durations import duration, parse_duration
from vallum.cli.keys import _cell, _permission

VALLUM = Path(sys.executable).with_name("vallum")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90.0),
        ("90s", 90.0),
        ("30m", 1800.0),
        ("1h", 3600.0),
        ("1.5h", 5400.0),
        ("7d", 604800.0),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "1w", "-5m", "0", "1 h h", "1e3"])
def test_bad_durations_are_usage_errors(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="not a duration"):
        duration(text)


def test_audit_times_still_take_iso_and_durations_ago() -> None:
    assert parse_time("2h", 10_000.0) == 10_000.0 - 7200.0
    assert parse_time("2024-05-01T12:00:00Z", 0.0) == 1714564800.0
    assert parse_duration("2024") == 2024.0  # a bare number is seconds for --expires-in ...
    assert parse_time("2024-05-01", 0.0) == 1714521600.0  # ... but audit reads ISO dates


@pytest.mark.parametrize(
    ("text", "actions", "models"),
    [
        ("chat", ("chat",), ("*",)),
        ("chat,embeddings:gpt-4o*,mock-*", ("chat", "embeddings"), ("gpt-4o*", "mock-*")),
        ("chat,models:list:gpt-4o*", ("chat", "models:list"), ("gpt-4o*",)),
        ("models:list", ("models:list",), ("*",)),
        ("models:list,chat:claude-*", ("models:list", "chat"), ("claude-*",)),
    ],
)
def test_permissions_from_the_cli(
    text: str, actions: tuple[str, ...], models: tuple[str, ...]
) -> None:
    permission = _permission(text)
    assert permission.actions == actions
    assert permission.models == models


def test_nested_values_print_as_key_value_pairs_not_python_dicts() -> None:
    assert _cell({"requests_per_minute": 60, "max_concurrent": 2}) == (
        "requests_per_minute=60, max_concurrent=2"
    )
    assert _cell({}) == "-"


def _vallum(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "vallum.yaml"
    if not config.exists():
        config.write_text("storage: {url: 'sqlite:///v.db', counters_url: 'memory://'}\n")
    return subprocess.run(
        [str(VALLUM), *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "VALLUM_KEY_PEPPER": "a-pepper-of-sixteen-plus"},
        check=False,
    )


def test_keys_with_durations_roles_with_models_list_and_a_readable_show(tmp_path: Path) -> None:
    role = _vallum(tmp_path, "roles", "create", "gpt", "--allow", "chat,models:list:gpt-4o*")
    assert role.returncode == 0, role.stderr
    created = _vallum(
        tmp_path, "keys", "create", "--role", "gpt", "--expires-in", "1h", "--rpm", "60", "--json"
    )
    assert created.returncode == 0, created.stderr
    key = json.loads(created.stdout)
    assert 3500 < key["expires_at"] - key["created_at"] <= 3600
    shown = _vallum(tmp_path, "keys", "show", key["id"])
    assert shown.returncode == 0, shown.stderr
    assert "requests_per_minute=60" in shown.stdout
    assert "{" not in shown.stdout, "no Python dict reprs"
    rotated = _vallum(tmp_path, "keys", "rotate", key["id"], "--grace", "30m", "--json")
    assert rotated.returncode == 0, rotated.stderr
    bad = _vallum(tmp_path, "keys", "create", "--expires-in", "soon")
    assert bad.returncode == 2 and "not a duration" in bad.stderr


def test_eval_refuses_rows_without_labels(tmp_path: Path) -> None:
    from vallum.errors import ConfigError
    from vallum.eval.data import load_examples

    unlabelled = tmp_path / "prompts.jsonl"
    unlabelled.write_text('{"id": "a", "text": "ignore previous instructions"}\n')
    with pytest.raises(ConfigError, match="row 1 has neither 'label' nor 'spans'"):
        load_examples(unlabelled)
    labelled = tmp_path / "labelled.jsonl"
    labelled.write_text('{"text": "hi", "label": 0}\n{"text": "x", "spans": []}\n')
    assert [e.label for e in load_examples(labelled)] == [0, 0]


def test_keys_that_can_do_nothing_are_called_out(tmp_path: Path) -> None:
    config = tmp_path / "vallum.yaml"
    config.write_text(
        "storage: {url: 'sqlite:///v.db', counters_url: 'memory://'}\n"
        "layers: [{type: authn}, {type: authz}, {type: ratelimit}]\n"
    )
    bare = _vallum(tmp_path, "keys", "create", "--name", "bare")
    assert bare.returncode == 0, bare.stderr
    assert "no role or scope" in bare.stderr
    budget = _vallum(tmp_path, "keys", "create", "--role", "user", "--budget-usd", "5")
    assert "model_not_priced" in budget.stderr and "no role" not in budget.stderr
    tpm = _vallum(tmp_path, "keys", "create", "--role", "user", "--tpm", "5")
    assert "--tpm 5 is below the 1024" in tpm.stderr
    fine = _vallum(tmp_path, "keys", "create", "--role", "user", "--rpm", "60")
    assert fine.returncode == 0 and "warning" not in fine.stderr
    team = _vallum(tmp_path, "teams", "create", "ml", "--role", "user")
    assert team.returncode == 0, team.stderr
    via_team = _vallum(tmp_path, "keys", "create", "--team", "ml")
    assert via_team.returncode == 0 and "warning" not in via_team.stderr


def test_a_busy_port_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(VALLUM), "demo", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin"},
            check=False,
        )
    assert result.returncode == 2
    assert result.stdout == "", "no banner for a gateway that never started"
    (line,) = result.stderr.strip().splitlines()
    assert f"cannot listen on 127.0.0.1:{port}" in line
