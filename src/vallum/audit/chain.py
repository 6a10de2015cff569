"""The per-instance hash chain and its Ed25519-signed checkpoints.

Each record carries ``chain``, ``seq`` (1, 2, 3, ...), ``prev`` (the previous record's
hash) and ``hash`` = SHA-256 over ``prev`` and the record's JSON bytes as written (the
stored line minus its trailing ``,"hash":"..."``): verify never re-serializes. Every
``checkpoint_every`` records a checkpoint record is chained in, signed with the
instance's Ed25519 key, so a rewritten chain cannot be passed off as the original.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from vallum.errors import ConfigError

__all__ = [
    "GENESIS",
    "AuditEntry",
    "ChainHead",
    "Signer",
    "canonical",
    "checkpoint_payload",
    "entry_from_line",
    "key_id",
    "link",
    "load_public_key",
    "record_hash",
    "split_line",
    "verify_signature",
]

GENESIS = "0" * 64
_CANONICAL = orjson.OPT_SORT_KEYS


def canonical(data: dict[str, Any]) -> bytes:
    """Sorted-key JSON: the byte form a checkpoint signature covers."""
    return orjson.dumps(data, option=_CANONICAL)


def record_hash(prev: str, body: bytes) -> str:
    """SHA-256 over the previous hash and the record's bytes without its own ``hash``."""
    digest = hashlib.sha256(prev.encode("ascii", "replace"))
    digest.update(b"\n")
    digest.update(body)
    return digest.hexdigest()


_HASH_SUFFIX = len(b',"hash":"') + 64 + len(b'"}')


def split_line(line: bytes) -> tuple[bytes, str] | None:
    """A stored line as (the bytes its hash covers, the hash it claims); None if malformed."""
    if len(line) <= _HASH_SUFFIX or not line.endswith(b'"}'):
        return None
    tail = line[-_HASH_SUFFIX:]
    if not tail.startswith(b',"hash":"'):
        return None
    return line[:-_HASH_SUFFIX] + b"}", tail[9:-2].decode("ascii", "replace")


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One chained record: its place in the chain, its fields, and its exact bytes."""

    chain: str
    seq: int
    data: dict[str, Any]
    line: bytes

    @property
    def kind(self) -> str:
        return str(self.data.get("type", "request"))

    @property
    def hash(self) -> str:
        return str(self.data["hash"])

    @property
    def at(self) -> float:
        return float(self.data.get("at") or 0.0)


def entry_from_line(line: bytes) -> AuditEntry:
    data = orjson.loads(line)
    return AuditEntry(str(data["chain"]), int(data["seq"]), data, line)


@dataclass(slots=True)
class ChainHead:
    """Where a chain stands: the last seq written and its hash."""

    chain: str
    seq: int = 0
    hash: str = GENESIS


def link(head: ChainHead, record: dict[str, Any]) -> AuditEntry:
    """Append ``record`` to the chain (mutates ``record`` and ``head``)."""
    record.pop("hash", None)
    record["chain"] = head.chain
    record["seq"] = head.seq + 1
    record["prev"] = head.hash
    body = orjson.dumps(record)  # one serialization: the hash covers exactly these bytes
    digest = record_hash(head.hash, body)
    record["hash"] = digest
    head.seq += 1
    head.hash = digest
    line = body[:-1] + b',"hash":"' + digest.encode("ascii") + b'"}'
    return AuditEntry(head.chain, head.seq, record, line)


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def checkpoint_payload(record: dict[str, Any]) -> bytes:
    """The bytes a checkpoint's signature covers."""
    fields = ("chain", "seq", "prev", "at", "covers", "key_id", "records")
    return canonical({name: record.get(name) for name in fields})


class Signer:
    """Signs checkpoints with one Ed25519 private key."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = private.public_key()
        self.key_id = key_id(self.public)

    @classmethod
    def from_file(cls, path: str, *, create: bool = False) -> Signer:
        file = Path(path)
        if not file.exists() and create:
            _create_key(file)
        try:
            loaded = serialization.load_pem_private_key(file.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(
                "cannot read the audit signing key (an Ed25519 PEM private key)",
                context={"path": str(file)},
            ) from exc
        if not isinstance(loaded, Ed25519PrivateKey):
            raise ConfigError("the audit signing key is not an Ed25519 key", context={"path": path})
        return cls(loaded)

    def sign(self, record: dict[str, Any]) -> str:
        return base64.b64encode(self._private.sign(checkpoint_payload(record))).decode("ascii")

    def hash_key(self) -> bytes:
        """A key for prompt hashes, derived from the signing key (stable across restarts)."""
        raw = self._private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return hashlib.sha256(b"vallum-audit-text-hash\n" + raw).digest()


def _create_key(file: Path) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    private = Ed25519PrivateKey.generate()
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    public = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    file.with_name(file.name + ".pub").write_bytes(public)


def load_public_key(path: str) -> Ed25519PublicKey:
    """A PEM public key, or the public half of a PEM private key."""
    try:
        data = Path(path).read_bytes()
        if b"PRIVATE KEY" in data:
            private = serialization.load_pem_private_key(data, password=None)
            if isinstance(private, Ed25519PrivateKey):
                return private.public_key()
        else:
            public = serialization.load_pem_public_key(data)
            if isinstance(public, Ed25519PublicKey):
                return public
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError("cannot read the audit key", context={"path": path}) from exc
    raise ConfigError("the audit key is not an Ed25519 key", context={"path": path})


def verify_signature(public: Ed25519PublicKey, record: dict[str, Any]) -> bool:
    try:
        public.verify(base64.b64decode(str(record.get("sig", ""))), checkpoint_payload(record))
    except (InvalidSignature, ValueError):
        return False
    return True
