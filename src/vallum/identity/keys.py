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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from vallum.errors import ConfigError

__all__ = [
    "KEY_PREFIX",
    "PEPPER_ENV",
    "PEPPER_FILE_ENV",
    "PREVIOUS_PEPPERS_FILE_ENV",
    "PUBLIC_ID_LENGTH",
    "SECRET_LENGTH",
    "IssuedKey",
    "KeyHasher",
    "new_public_id",
    "new_secret",
    "parse_key",
    "pepper_from_env",
    "previous_peppers_from_env",
]

KEY_PREFIX = "vk_"
PUBLIC_ID_LENGTH = 16  # base62: ~95 bits, enough that ids never collide
SECRET_LENGTH = 43  # base62: 62**43 > 2**256
PEPPER_ENV = "VALLUM_KEY_PEPPER"
PEPPER_FILE_ENV = "VALLUM_KEY_PEPPER_FILE"
PREVIOUS_PEPPERS_FILE_ENV = "VALLUM_KEY_PEPPER_PREVIOUS_FILE"  # one retired pepper a line
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
    """Hashes and verifies secrets with the server-side pepper.

    Retired peppers (``previous``) still verify the hashes made with them, so the pepper can
    be rotated without breaking keys: new and rotated secrets are hashed with the current one.
    Each stored hash names its pepper by id; an unknown id is checked against the current
    pepper, so every verification costs the same.
    """

    __slots__ = ("_pepper", "_previous", "pepper_id")

    def __init__(self, pepper: bytes | None = None, previous: Sequence[bytes] = ()) -> None:
        self._pepper = pepper or _DEFAULT_PEPPER
        self.pepper_id = _pepper_id(self._pepper)
        self._previous = {_pepper_id(old): old for old in previous if old != self._pepper}

    def __repr__(self) -> str:
        return f"KeyHasher(pepper_id={self.pepper_id}, previous={len(self._previous)})"

    def digest(self, public_id: str, secret: str) -> str:
        return _digest(self._pepper, self.pepper_id, public_id, secret)

    def verify(self, public_id: str, secret: str, stored: str) -> bool:
        """Constant-time comparison of the secret's hash with a stored hash."""
        parts = stored.split("$", 2)
        old = self._previous.get(parts[1]) if len(parts) == 3 else None
        if old is None:
            return hmac.compare_digest(self.digest(public_id, secret), stored)
        return hmac.compare_digest(_digest(old, parts[1], public_id, secret), stored)

    def is_current(self, stored: str) -> bool:
        """Whether ``stored`` was made with the current pepper (else: rotate the key)."""
        return stored.split("$", 2)[1:2] == [self.pepper_id]


def _pepper_id(pepper: bytes) -> str:
    return hashlib.sha256(b"vallum-pepper-id:" + pepper).hexdigest()[:12]


def _digest(pepper: bytes, pepper_id: str, public_id: str, secret: str) -> str:
    mac = hmac.new(pepper, f"{public_id}:{secret}".encode(), hashlib.sha256)
    return f"{_HASH_SCHEME}${pepper_id}${mac.hexdigest()}"


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


def previous_peppers_from_env(environ: Mapping[str, str] | None = None) -> tuple[bytes, ...]:
    """Retired peppers, one a line, from the file ``VALLUM_KEY_PEPPER_PREVIOUS_FILE`` names."""
    env = os.environ if environ is None else environ
    path = env.get(PREVIOUS_PEPPERS_FILE_ENV)
    if not path:
        return ()
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read {PREVIOUS_PEPPERS_FILE_ENV}") from exc
    peppers = tuple(line.strip().encode() for line in lines if line.strip())
    if any(len(p) < 16 for p in peppers):
        raise ConfigError(f"every pepper in {PREVIOUS_PEPPERS_FILE_ENV} needs 16+ characters")
    return peppers
