"""Crypto wallet addresses: Bitcoin base58check and bech32/bech32m (checksums), Ethereum."""

from __future__ import annotations

import hashlib
import re

from vallum.detectors.base import TextIndex
from vallum.detectors.patterns import PatternRecognizer, context_pattern, literal_starts

__all__ = ["base58check_valid", "bech32_valid", "crypto_recognizers"]

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {ch: i for i, ch in enumerate(_B58)}
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
# the boundary check follows the first character so ``re`` can skip ahead to a 1 or 3
_BTC_LEGACY = re.compile(r"[13](?<![\w][13])[1-9A-HJ-NP-Za-km-z]{25,34}(?![\w])")
_BTC_BECH32 = re.compile(r"(?<![\w])(?:bc|tb)1[ac-hj-np-z02-9]{8,87}(?![\w])", re.IGNORECASE)
_ETH = re.compile(r"(?<![\w])0x[0-9a-fA-F]{40}(?![\w])")
_ETH_CONTEXT = context_pattern(["wallet", "eth", "ethereum", "address", "send", "crypto", "usdt"])


def base58check_valid(value: str) -> bool:
    number = 0
    for ch in value:
        number = number * 58 + _B58_INDEX[ch]
    pad = len(value) - len(value.lstrip("1"))
    raw = b"\x00" * pad + number.to_bytes((number.bit_length() + 7) // 8, "big")
    if len(raw) != 25:
        return False
    payload, checksum = raw[:-4], raw[-4:]
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] == checksum


def _polymod(values: list[int]) -> int:
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            check ^= generator[i] if (top >> i) & 1 else 0
    return check


def bech32_valid(value: str) -> bool:
    if value.lower() != value and value.upper() != value:
        return False
    lowered = value.lower()
    hrp, _, data = lowered.rpartition("1")
    if not hrp or len(data) < 6:
        return False
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    checksum = _polymod(expanded + [_BECH32.index(c) for c in data])
    return checksum in (1, 0x2BC830A3)  # bech32, bech32m


def _seek_legacy(index: TextIndex) -> list[int]:
    """The 1s and 3s of whitespace-free tokens of 26+ characters: a legacy address is 26
    to 35 characters with no space, so it lies in such a token and begins there."""
    text = index.text
    starts: list[int] = []
    for lo, hi in index.long_tokens:
        if hi - lo < 26:
            continue
        for digit in "13":
            pos = text.find(digit, lo, hi)
            while pos >= 0:
                starts.append(pos)
                pos = text.find(digit, pos + 1, hi)
    return sorted(starts)


def crypto_recognizers() -> list[PatternRecognizer]:
    return [
        PatternRecognizer(
            "CRYPTO", _BTC_LEGACY, 0.9, "pii.btc", validator=base58check_valid, seek=_seek_legacy
        ),
        PatternRecognizer(
            "CRYPTO",
            _BTC_BECH32,
            0.9,
            "pii.btc_bech32",
            validator=bech32_valid,
            seek=literal_starts("bc1", "tb1", lower=True),
        ),
        PatternRecognizer(
            "CRYPTO",
            _ETH,
            0.5,
            "pii.eth",
            context=_ETH_CONTEXT,
            needs_context=True,
            context_score=0.85,
            gate=("wallet", "eth", "address", "send", "crypto", "usdt"),
            seek=literal_starts("0x"),
        ),
    ]
