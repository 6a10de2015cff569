"""Helpers shared by the backends: URL redaction, namespace checks, packaged SQL and Lua."""

from __future__ import annotations

import re
from importlib import resources
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from vallum.errors import ConfigError, StorageError

__all__ = [
    "check_namespace",
    "load_lua",
    "load_migrations",
    "redact_url",
    "unavailable",
]

_NAMESPACE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
_SECRET_PARAMS = frozenset({"password", "pass", "passwd", "secret", "token", "sslpassword"})


def redact_url(url: str) -> str:
    """``url`` with any password (userinfo or query parameter) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, sep, _password = userinfo.partition(":")
        netloc = f"{user}:***@{hostport}" if sep else f"{userinfo}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, "***" if k.lower() in _SECRET_PARAMS else v) for k, v in pairs], safe="*"
        )
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    if "://" not in url:
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    # built by hand: urlunsplit drops the "//" of an empty authority (sqlite:///path)
    rebuilt = f"{parts.scheme}://{netloc}{parts.path}"
    rebuilt += f"?{query}" if query else ""
    return rebuilt + (f"#{parts.fragment}" if parts.fragment else "")


def check_namespace(namespace: str) -> str:
    """A namespace becomes a key prefix, schema or table prefix: keep it a plain identifier."""
    if not _NAMESPACE.fullmatch(namespace):
        raise ConfigError(
            "storage namespace must be 1-40 characters of letters, digits and '_', "
            "not starting with a digit",
            context={"namespace": namespace[:60]},
        )
    return namespace


def unavailable(backend: str, op: str) -> StorageError:
    """The one error every wrapped driver failure becomes (raise it ``from exc``)."""
    return StorageError("storage backend unavailable", context={"backend": backend, "op": op})


def load_migrations(dialect: str) -> list[tuple[int, str]]:
    """Packaged ``sql/<dialect>/NNNN_name.sql`` files as (version, text), in order."""
    folder = resources.files("vallum.storage").joinpath("sql", dialect)
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.read_text(encoding="utf-8")))
    return sorted(found)


def load_lua(name: str) -> str:
    """A packaged Lua script ``lua/<name>.lua``."""
    return resources.files("vallum.storage").joinpath("lua", f"{name}.lua").read_text("utf-8")
