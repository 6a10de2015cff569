"""Secret recognizers: one positive per supported kind, zero hits on hashes and ids in code."""

from __future__ import annotations

import pytest

from vallum.detectors.operators import Operator, OperatorState, apply_operator
from vallum.detectors.secrets import SecretDetector

DETECTOR = SecretDetector()

# Shapes from each provider's documented key format; values are random, not real keys.
POSITIVES = [
    "sk-proj-IzY5CRX_fT_s0i3Ib0qUDxmlhooIsnVdCzJ5L7Mvk6POp_I7",
    "sk-ant-api03-abcDEF123456ghiJKL789012mnoPQR345678",
    "AKIA3RTLUZZL3R8KVOBK",
    "AIzaFBLo3KY58coRkefsysZn_eyR1E3L96Bi136",
    "ghp_3QfgKHFvyfGtDTKRtiLSm7jknpcYw4jnn408",
    "glpat-abcdefghij0123456789",
    "xoxb-065847481143-6625977041479-c1jKmwfuALQ4tLwhYnva3mTd",
    "sk_live_4D2RdljSpXmk9gzHPWDM2NY8",
    "SK0123456789abcdef0123456789abcdef",
    "SG.abcdefghijklmnopqrstuv.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.9XN1hGF3oMzWnIln1Uh3Bfprjvw6o8wjVpdTdwmZ.iQhPWdnbSa",
]
NEGATIVES = [
    "git checkout e5ff3c1dde3dcce26a37f7807d586259725555fd",
    "id = '9548b5ed-460f-49cf-a7b9-f3de45d797f8'",
    "checksum = 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "md5: d41d8cd98f00b204e9800998ecf8427e",
    "token = None  # filled in later",
    "password is required",
]


@pytest.mark.parametrize("secret", POSITIVES)
def test_positive(secret: str) -> None:
    text = f"config: {secret} end"
    assert [text[m.start : m.end] for m in DETECTOR.detect(text)] == [secret]


@pytest.mark.parametrize("text", NEGATIVES)
def test_negative(text: str) -> None:
    assert DETECTOR.detect(text) == []


def test_context_secrets_and_pem() -> None:
    text = 'aws_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"'
    assert [m.kind for m in DETECTOR.detect(text)] == ["API_KEY_SECRET"]
    pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----"
    assert [m.kind for m in DETECTOR.detect("x " + pem)] == ["PRIVATE_KEY"]


def test_operators_redact_mask_hash() -> None:
    text = "key AKIA3RTLUZZL3R8KVOBK!"
    matches = DETECTOR.detect(text)
    state = OperatorState(key=b"k")
    assert apply_operator(text, matches, Operator.REDACT) == "key [API_KEY_SECRET]!"
    assert apply_operator(text, matches, Operator.MASK, state) == "key ****************VOBK!"
    hashed = apply_operator(text, matches, Operator.HASH, state)
    assert hashed == apply_operator(text, matches, Operator.HASH, state) != text
    assert apply_operator(text, matches, Operator.BLOCK) == text
