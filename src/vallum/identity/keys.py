"""Vallum API keys: ``vk_<public id>_<secret>``; only a peppered hash of the secret is stored.

The secret carries 256 bits of randomness, so a fast keyed hash (HMAC-SHA-256 with a
server-side pepper) is enough: slow hashes (argon2, scrypt) protect guessable secrets,
and a 256-bit random secret cannot be guessed. Comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from vallum.errors import ConfigError

__all__ = [
    "KEY_PREFIX",
    "PEPPER_ENV",
    "PEPPER_FILE_ENV",
    "PUBLIC_ID_LENGTH",
    "SECRET_LENGTH",
    "IssuedKey",
    "KeyHasher",
    "new_public_id",
    "new_secret",
    "parse_key",
    "pepper_from_env",
]

KEY_PREFIX = "vk_"
PUBLIC_ID_LENGTH = 16  # base62: ~95 bits, enough that ids never collide
SECRET_LENGTH = 43  # base62: 62**43 > 2**256
PEPPER_ENV = "VALLUM_KEY_PEPPER"
PEPPER_FILE_ENV = "VALLUM_KEY_PEPPER_FILE"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_KEY = re.compile(
    rf"^{KEY_PREFIX}([0-9A-Za-z]{{{PUBLIC_ID_LENGTH}}})_([0-9A-Za-z]{{{SECRET_LENGTH}}})$"
)
_PUBLIC_ID = re.compile(rf"^[0-9A-Za-z]{{{PUBLIC_ID_LENGTH}}}$")
_DEFAULT_PEPPER = b"vallum/api-key/v1"  # domain separation when no pepper is configured
_HASH_SCHEME = "hmac-sha256"


def _base62(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        value, digit = divmod(value, 62)
        out.append(_ALPHABET[digit])
    return "".join(reversed(out))


def new_public_id() -> str:
    return _base62(secrets.randbelow(62**PUBLIC_ID_LENGTH), PUBLIC_ID_LENGTH)


def new_secret() -> str:
    return _base62(secrets.randbelow(62**SECRET_LENGTH), SECRET_LENGTH)


def is_public_id(value: str) -> bool:
    return _PUBLIC_ID.match(value) is not None


def parse_key(raw: str) -> tuple[str, str] | None:
    """``(public_id, secret)`` of a well-formed key, else None (length-checked first)."""
    if len(raw) != len(KEY_PREFIX) + PUBLIC_ID_LENGTH + 1 + SECRET_LENGTH:
        return None
    match = _KEY.match(raw)
    return None if match is None else (match.group(1), match.group(2))


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key as issued: shown to its owner once. ``repr`` never shows the secret."""

    public_id: str
    _secret: str

    def reveal(self) -> str:
        """The full key, for showing once at creation."""
        return f"{KEY_PREFIX}{self.public_id}_{self._secret}"

    def __repr__(self) -> str:
        return f"IssuedKey({KEY_PREFIX}{self.public_id}_********)"

    __str__ = __repr__


class KeyHasher:
    """Hashes and verifies secrets with the server-side pepper."""

    __slots__ = ("_pepper", "pepper_id")

    def __init__(self, pepper: bytes | None = None) -> None:
        self._pepper = pepper or _DEFAULT_PEPPER
        self.pepper_id = hashlib.sha256(b"vallum-pepper-id:" + self._pepper).hexdigest()[:12]

    def __repr__(self) -> str:
        return f"KeyHasher(pepper_id={self.pepper_id})"

    def digest(self, public_id: str, secret: str) -> str:
        mac = hmac.new(self._pepper, f"{public_id}:{secret}".encode(), hashlib.sha256)
        return f"{_HASH_SCHEME}${self.pepper_id}${mac.hexdigest()}"

    def verify(self, public_id: str, secret: str, stored: str) -> bool:
        """Constant-time comparison of the secret's hash with a stored hash."""
        return hmac.compare_digest(self.digest(public_id, secret), stored)


def pepper_from_env(environ: Mapping[str, str] | None = None) -> bytes | None:
    """The pepper from ``VALLUM_KEY_PEPPER`` or the file ``VALLUM_KEY_PEPPER_FILE`` names."""
    env = os.environ if environ is None else environ
    value = env.get(PEPPER_ENV)
    path = env.get(PEPPER_FILE_ENV)
    if value and path:
        raise ConfigError(f"set {PEPPER_ENV} or {PEPPER_FILE_ENV}, not both")
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"cannot read {PEPPER_FILE_ENV}") from exc
    if not value:
        return None
    if len(value) < 16:
        raise ConfigError(f"the key pepper ({PEPPER_ENV}) must be at least 16 characters")
    return value.encode()
