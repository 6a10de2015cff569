"""Key format, hashing and the pepper."""

from __future__ import annotations

from pathlib import Path

import pytest

from vallum.errors import ConfigError
from vallum.identity.keys import (
    SECRET_LENGTH,
    IssuedKey,
    KeyHasher,
    new_public_id,
    new_secret,
    parse_key,
    pepper_from_env,
    previous_peppers_from_env,
)


def test_format_round_trip_and_entropy() -> None:
    issued = IssuedKey(new_public_id(), new_secret())
    assert parse_key(issued.reveal()) == (issued.public_id, issued._secret)
    assert 62**SECRET_LENGTH >= 2**256
    assert len({new_secret() for _ in range(200)}) == 200
    assert issued._secret not in repr(issued) and issued._secret not in str(issued)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "vk_",
        "sk-abc",
        "vk_" + "a" * 16 + "_" + "b" * 42,
        "vk_" + "a" * 16 + "-" + "b" * 43,
        "vk_" + "a" * 16 + "_" + "b" * 42 + "!",
        "VK_" + "a" * 16 + "_" + "b" * 43,
        "x" * 10_000,
    ],
)
def test_malformed_keys(raw: str) -> None:
    assert parse_key(raw) is None


def test_hash_is_peppered_and_verified() -> None:
    one, two = KeyHasher(b"pepper-number-one-xx"), KeyHasher(b"pepper-number-two-xx")
    stored = one.digest("id", "secret")
    assert "secret" not in stored
    assert one.verify("id", "secret", stored)
    assert not one.verify("id", "secreT", stored)
    assert not one.verify("other", "secret", stored)
    assert not two.verify("id", "secret", stored)


def test_pepper_from_env() -> None:
    assert pepper_from_env({}) is None
    assert pepper_from_env({"VALLUM_KEY_PEPPER": "p" * 16}) == b"p" * 16
    with pytest.raises(ConfigError):
        pepper_from_env({"VALLUM_KEY_PEPPER": "short"})


def test_retired_pepper_still_verifies_its_hashes_until_the_key_is_rotated() -> None:
    old, new = b"pepper-number-one-xx", b"pepper-number-two-xx"
    stored_old = KeyHasher(old).digest("id", "secret")
    rotated = KeyHasher(new, previous=[old])
    assert rotated.verify("id", "secret", stored_old)
    assert not rotated.verify("id", "secreT", stored_old)
    assert not rotated.is_current(stored_old)
    fresh = rotated.digest("id", "secret")
    assert rotated.is_current(fresh) and rotated.verify("id", "secret", fresh)
    assert not KeyHasher(new).verify("id", "secret", stored_old), "retired means listed"
    assert "pepper-number" not in repr(rotated)


def test_previous_peppers_file(tmp_path: Path) -> None:
    assert previous_peppers_from_env({}) == ()
    path = tmp_path / "previous"
    path.write_text("first-retired-pepper\n\n  second-retired-pepper  \n")
    env = {"VALLUM_KEY_PEPPER_PREVIOUS_FILE": str(path)}
    assert previous_peppers_from_env(env) == (b"first-retired-pepper", b"second-retired-pepper")
    path.write_text("short\n")
    with pytest.raises(ConfigError):
        previous_peppers_from_env(env)
    with pytest.raises(ConfigError):
        previous_peppers_from_env({"VALLUM_KEY_PEPPER_PREVIOUS_FILE": str(tmp_path / "none")})
