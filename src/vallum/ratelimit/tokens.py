"""Prompt token counts: exact for OpenAI models (offline BPE), a documented estimate otherwise.

The ``o200k_base`` and ``cl100k_base`` rank files ship gzipped in this package (OpenAI
publishes them under the MIT-licensed ``tiktoken``); they are checked against OpenAI's
published SHA-256 and handed to ``tiktoken.Encoding`` directly, so tiktoken never reaches
for the network. The estimate for other families is ``ceil(utf8_bytes / 4)`` per text
(see docs/layers/ratelimit.md for its measured error).
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import math
import re
from importlib import resources
from typing import Any

from vallum.errors import ConfigError, DependencyMissingError
from vallum.pipeline.exchange import NormalizedRequest

__all__ = ["TokenCounter", "encoding_for", "estimate_tokens"]

_SHA256 = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}
_PATTERNS = {
    "cl100k_base": (
        r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+"""
        r"""| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
    ),
    "o200k_base": "|".join(
        [
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
            r"""\p{N}{1,3}""",
            r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
            r"""\s*[\r\n]+""",
            r"""\s+(?!\S)""",
            r"""\s+""",
        ]
    ),
}
_SPECIAL = {
    "cl100k_base": {
        "<|endoftext|>": 100257,
        "<|fim_prefix|>": 100258,
        "<|fim_middle|>": 100259,
        "<|fim_suffix|>": 100260,
        "<|endofprompt|>": 100276,
    },
    "o200k_base": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
}
# OpenAI model families, most specific first (the cookbook's mapping)
_FAMILIES = (
    (
        re.compile(r"^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|o1|o3|o4|chatgpt-4o|gpt-oss|gpt-image)"),
        "o200k_base",
    ),
    (
        re.compile(r"^(gpt-4|gpt-3\.5|gpt-35|text-embedding-3|text-embedding-ada-002)"),
        "cl100k_base",
    ),
)
MESSAGE_OVERHEAD = 3  # tokens per chat message (role and separators), OpenAI cookbook
REPLY_PRIMING = 3  # every reply is primed with <|start|>assistant<|message|>


def encoding_for(model: str) -> str | None:
    """The BPE encoding of an OpenAI model, or ``None`` for other families."""
    name = model.rsplit("/", 1)[-1]
    for pattern, encoding in _FAMILIES:
        if pattern.match(name):
            return encoding
    return None


def estimate_tokens(text: str) -> int:
    """The estimate for non-OpenAI families: one token per four UTF-8 bytes, rounded up."""
    return math.ceil(len(text.encode("utf-8", "surrogatepass")) / 4)


def _load(name: str) -> Any:
    try:
        import tiktoken
    except ImportError as exc:
        raise DependencyMissingError(
            "exact token counting needs tiktoken: pip install 'vallum[tokens]'"
        ) from exc
    raw = resources.files("vallum.ratelimit").joinpath("encodings", f"{name}.tiktoken.gz")
    data = gzip.decompress(raw.read_bytes())
    if hashlib.sha256(data).hexdigest() != _SHA256[name]:
        raise ConfigError(f"the packaged {name} encoding is corrupt")
    ranks = {
        base64.b64decode(token): int(rank)
        for token, rank in (line.split() for line in data.splitlines() if line)
    }
    return tiktoken.Encoding(
        name, pat_str=_PATTERNS[name], mergeable_ranks=ranks, special_tokens=_SPECIAL[name]
    )


class TokenCounter:
    """Counts a request's prompt tokens; encodings load once, on first use or ``preload``."""

    def __init__(self, *, exact: bool = True) -> None:
        self.exact = exact
        self._encodings: dict[str, Any] = {}
        self._names: dict[str, str | None] = {}  # model -> encoding name, memoised (bounded)
        self._lock = asyncio.Lock()

    def _name(self, model: str) -> str | None:
        try:
            return self._names[model]
        except KeyError:
            if len(self._names) >= 4096:
                self._names.clear()
            name = self._names[model] = encoding_for(model) if self.exact else None
            return name

    def ready(self, model: str) -> bool:
        """Whether counting for ``model`` needs no encoding load (no ``ensure`` needed)."""
        name = self._name(model)
        return name is None or name in self._encodings

    def preload(self) -> None:
        if self.exact:
            for name in _SHA256:
                self._encoding(name)

    async def ensure(self, model: str) -> None:
        """Load the model's encoding off the event loop, once (the first such call waits)."""
        name = self._name(model)
        if name is None or name in self._encodings:
            return
        async with self._lock:
            if name not in self._encodings:
                self._encodings[name] = await asyncio.to_thread(_load, name)

    def _encoding(self, name: str) -> Any:
        encoding = self._encodings.get(name)
        if encoding is None:
            encoding = self._encodings[name] = _load(name)
        return encoding

    def encoding(self, model: str) -> Any | None:
        """The loaded BPE encoding of ``model``, or ``None`` where the estimate applies."""
        name = self._name(model)
        return None if name is None else self._encoding(name)

    def count_text(self, text: str, model: str) -> int:
        name = self._name(model)
        if name is None:
            return estimate_tokens(text)
        return len(self._encoding(name).encode_ordinary(text))

    def count(self, request: NormalizedRequest) -> int:
        """Prompt tokens of a request: its texts, plus per-message framing for chat."""
        name = self._name(request.model)
        if name is None:
            total = sum(estimate_tokens(part.text) for part in request.parts)
        else:
            encode = self._encoding(name).encode_ordinary
            total = sum(len(encode(part.text)) for part in request.parts)
        if request.message_count:
            total += MESSAGE_OVERHEAD * request.message_count + REPLY_PRIMING
        if request.tools:
            total += self.count_text(str(request.tools), request.model)
        return total
