"""One event per completed call, and the similarity sketch of its prompt (no raw text kept)."""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Any

from vallum.pipeline.exchange import Exchange, Source
from vallum.pipeline.layer import Outcome

__all__ = [
    "SKETCH_SLOTS",
    "CallEvent",
    "Sketch",
    "event_from",
    "ip_range",
    "network_of",
    "similarity",
    "sketch_text",
]

SKETCH_SLOTS = 8  # MinHash slots of 16 bits: a 16-byte sketch
_MAX_SKETCH_CHARS = 1200
_MAX_SHINGLES = 96
_MASK16 = 0xFFFF
_MASK32 = 0xFFFFFFFF
_MIXERS = (
    (0x7F4A7C15, 0x9E3779B1),
    (0x2545F491, 0x85EBCA77),
    (0x94D049BB, 0xC2B2AE3D),
    (0x6A09E667, 0x27D4EB2F),
    (0xBB67AE85, 0x165667B1),
    (0x3C6EF372, 0xD3A2646D),
    (0xA54FF53A, 0xFD7046C5),
    (0x510E527F, 0xB55A4F09),
)
_WORD = re.compile(r"[a-z0-9]+")
_USER_SOURCES = frozenset({Source.USER, Source.EMBEDDING_INPUT})


@dataclass(frozen=True, slots=True)
class Sketch:
    """A prompt's fingerprint: MinHash over word 2-shingles (packed) and its 4-word opening."""

    minhash: int  # SKETCH_SLOTS x 16 bits
    shape: int  # crc32 of the first four words: the "template" a prompt starts with
    words: int


@dataclass(slots=True)
class CallEvent:
    """What the detectors see of one call. ``text`` is dropped once the sketch is made."""

    at: float
    request_id: str
    key_id: str | None
    principal: str | None
    team: str | None
    ip: str
    ip_range: str
    model: str
    input_tokens: int
    output_tokens: int
    latency: float
    status: int
    decided_by: str | None
    finding_kinds: tuple[str, ...]
    auth_failure: str | None
    logprobs: bool
    top_logprobs: int
    n: int
    temperature: float | None
    budget: float | None = None  # the key's tokens_per_day quota, for the cost trajectory
    guard_score: float = 0.0  # the highest score among the guard layers' attack findings
    text: str | None = None
    sketch: Sketch | None = None

    @property
    def params(self) -> int:
        """A small id of the sampling parameters that matter for extraction."""
        temp = -1 if self.temperature is None else round(self.temperature * 10)
        return hash((self.logprobs, self.top_logprobs, self.n, temp)) & _MASK16

    @property
    def guard_blocked(self) -> bool:
        return self.decided_by in ("input_guard", "output_filter") and self.status < 500


_GUARD_LAYERS = frozenset({"input_guard", "output_filter"})
# finding kinds that are attacks (not a pasted secret or personal data)
ATTACK_FINDINGS = ("injection", "prompt_injection", "jailbreak", "content")


def ip_range(ip: str) -> str:
    """The /24 (IPv4) or /64 (IPv6) a client address belongs to, as CIDR text."""
    if ":" not in ip:
        head = ip.rpartition(".")[0]
        return f"{head}.0/24" if head.count(".") == 2 else f"{ip}/32"
    import ipaddress

    try:
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    except ValueError:
        return f"{ip}/128"


def network_of(ip: str) -> str:
    """A coarse "unrelated network" bucket: the /16 (IPv4) or /32 (IPv6)."""
    if ":" not in ip:
        parts = ip.split(".")
        return f"{parts[0]}.{parts[1] if len(parts) > 1 else '0'}"
    return ":".join(ip.split(":")[:2])


def event_from(exchange: Exchange, outcome: Outcome, at: float) -> CallEvent:
    """Cheap: no hashing, no copying of text (the sketch is made off the request path)."""
    identity = exchange.identity
    request = exchange.request
    body: dict[str, Any] = request.body if request is not None else {}
    usage = exchange.usage
    auth_failure = None
    kinds: list[str] = []
    guard_score = 0.0
    for finding in exchange.findings:
        kinds.append(finding.kind)
        if finding.kind == "auth_failed":
            auth_failure = finding.detail[:40]
        elif finding.layer in _GUARD_LAYERS and finding.kind.startswith(ATTACK_FINDINGS):
            guard_score = max(guard_score, float(finding.score))
    text = None
    if request is not None:
        for part in request.parts:
            if part.source in _USER_SOURCES:
                text = part.text if text is None else text + "\n" + part.text
    temperature = body.get("temperature")
    return CallEvent(
        at=at,
        request_id=exchange.request_id,
        key_id=getattr(identity, "credential_id", None),
        principal=getattr(identity, "principal_id", None),
        team=getattr(identity, "team", None),
        ip=exchange.client_ip,
        ip_range=ip_range(exchange.client_ip),
        model=request.model[:128] if request is not None else "",
        input_tokens=usage.input_tokens if usage is not None else 0,
        output_tokens=usage.output_tokens if usage is not None else 0,
        latency=outcome.duration,
        status=outcome.status,
        decided_by=outcome.decided_by or exchange.decided_by,
        finding_kinds=tuple(kinds[:16]),
        auth_failure=auth_failure,
        logprobs=bool(body.get("logprobs")),
        top_logprobs=_int(body.get("top_logprobs")),
        n=_int(body.get("n"), 1),
        temperature=float(temperature) if isinstance(temperature, int | float) else None,
        budget=_budget(identity),
        guard_score=guard_score,
        text=text,
    )


def _budget(identity: Any) -> float | None:
    quota = getattr(identity, "quota_value", None)
    return None if quota is None else quota("tokens_per_day")


def _int(value: Any, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def sketch_text(text: str) -> Sketch:
    """MinHash (8 x 16 bits) over word 2-shingles of the first 1,200 characters."""
    words = _WORD.findall(text[:_MAX_SKETCH_CHARS].lower())
    shape = zlib.crc32(" ".join(words[:4]).encode())
    if len(words) < 2:
        shingles = {" ".join(words).encode()}
    else:
        shingles = {
            f"{words[i]} {words[i + 1]}".encode() for i in range(min(len(words) - 1, _MAX_SHINGLES))
        }
    base = [zlib.crc32(shingle) for shingle in shingles]
    packed = 0
    for slot, (salt, mult) in enumerate(_MIXERS):
        # xor-multiply mixing per slot (a seeded CRC alone is linear: its slots correlate)
        low = min(((value ^ salt) * mult) & _MASK32 for value in base)
        packed |= (low >> 16) << (16 * slot)
    return Sketch(minhash=packed, shape=shape, words=len(words))


def similarity(a: Sketch, b: Sketch) -> float:
    """Estimated Jaccard similarity of two prompts' shingle sets (fraction of equal slots)."""
    diff = a.minhash ^ b.minhash
    same = 0
    for _ in range(SKETCH_SLOTS):
        same += (diff & _MASK16) == 0
        diff >>= 16
    return same / SKETCH_SLOTS
