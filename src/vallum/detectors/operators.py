"""Actions on detected spans, kept apart from detection: redact, mask, hash, pseudonymise, block.

``splice`` is the one place spans are cut out of a text and replaced; every caller
(``apply_operator``, the input guard's per-detector operators, the output filter's edits
and pseudonym restores) goes through it. ``apply_operator(text, matches, operator)``
returns the new text; ``block`` leaves the text as it is: the caller refuses instead.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from vallum.detectors.base import Match, keyed_digest

__all__ = ["Operator", "OperatorState", "apply_operator", "replacement", "splice"]


class Operator(StrEnum):
    REDACT = "redact"  # [EMAIL_ADDRESS]
    MASK = "mask"  # ************4242
    HASH = "hash"  # <EMAIL_ADDRESS:3f2a9c01d4e7>
    PSEUDONYMISE = "pseudonymise"  # a realistic fake, the same for the same value
    BLOCK = "block"


_FIRST = ("Alex", "Sam", "Jordan", "Taylor", "Morgan", "Casey", "Robin", "Jamie", "Avery", "Riley")
_LAST = ("Smith", "Garcia", "Novak", "Berg", "Kowalski", "Rossi", "Dubois", "Meyer", "Silva")
_STREETS = ("Maple Street", "Oak Avenue", "Elm Road", "Cedar Lane", "Birch Way")


@dataclass(slots=True)
class OperatorState:
    """Key and memory of one scope (a response): same value, same replacement."""

    key: bytes
    mask_char: str = "*"
    keep_last: int = 4
    fakes: dict[str, str] = field(default_factory=dict)


def _fake(kind: str, seed: bytes) -> str:
    rng = random.Random(int.from_bytes(seed[:8], "big"))  # noqa: S311 - fakes, not secrets
    digits = "".join(rng.choice("0123456789") for _ in range(12))
    fakes = {
        "PERSON": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
        "EMAIL_ADDRESS": f"user{digits[:6]}@example.com",
        "PHONE_NUMBER": f"+1-555-01{digits[:2]}",
        "CREDIT_CARD": "4000 0000 0000 " + digits[:4],
        "IBAN_CODE": "GB00TEST" + digits + "00",
        "US_SSN": f"000-{digits[:2]}-{digits[2:6]}",
        "IP_ADDRESS": f"192.0.2.{int(digits[:2]) + 1}",
        "STREET_ADDRESS": f"{int(digits[:3]) + 1} {rng.choice(_STREETS)}",
        "ORGANIZATION": f"{rng.choice(_LAST)} Example Ltd",
    }
    return fakes.get(kind, f"[{kind}-{seed.hex()[:6]}]")


def replacement(value: str, kind: str, operator: Operator, state: OperatorState) -> str:
    """What replaces one matched value."""
    if operator is Operator.REDACT:
        return f"[{kind}]"
    if operator is Operator.MASK:
        keep = state.keep_last if len(value) > 2 * state.keep_last else 0
        return state.mask_char * (len(value) - keep) + (value[-keep:] if keep else "")
    if operator is Operator.HASH:
        return f"<{kind}:{keyed_digest(value, state.key)}>"
    if operator is Operator.PSEUDONYMISE:
        memo = f"{kind}\x00{value}"
        fake = state.fakes.get(memo)
        if fake is None:
            seed = hmac.new(state.key, memo.encode("utf-8"), hashlib.sha256).digest()
            fake = state.fakes[memo] = _fake(kind, seed)
        return fake
    return value


def splice(text: str, matches: Sequence[Match], replace: Callable[[Match, str], str]) -> str:
    """``text`` with each match replaced by ``replace(match, value)``.

    Matches are taken by start (the longer first at one start); one that overlaps a match
    already replaced is skipped and ``replace`` is not called for it.
    """
    if not matches:
        return text
    pieces: list[str] = []
    cursor = 0
    for match in sorted(matches, key=_splice_order):
        if match.start < cursor:
            continue
        pieces.append(text[cursor : match.start])
        pieces.append(replace(match, text[match.start : match.end]))
        cursor = match.end
    pieces.append(text[cursor:])
    return "".join(pieces)


def _splice_order(match: Match) -> tuple[int, int]:
    return (match.start, -match.end)


def apply_operator(
    text: str,
    matches: Sequence[Match],
    operator: Operator,
    state: OperatorState | None = None,
) -> str:
    """Replace every match by ``operator``; ``block`` returns ``text`` unchanged.

    Without a ``state`` a fresh random key is used: hashes and fakes are then stable only
    within this one call.
    """
    if operator is Operator.BLOCK or not matches:
        return text
    scope = state or OperatorState(key=os.urandom(32))
    return splice(text, matches, lambda m, value: replacement(value, m.kind, operator, scope))
