"""Regression: real-looking credentials fed through every log path never come out.

Key shapes from the providers' documentation: OpenAI project/service keys (sk-proj-,
sk-svcacct-), Anthropic (sk-ant-api03-), AWS's documented example keys, a JWT (jwt.io),
Vallum keys (vk_<id>_<secret>), bearer headers and passwords in URLs.
"""

from __future__ import annotations

import io
import logging

import orjson
import pytest

from vallum.observability.logging import JsonLogging
from vallum.observability.scrub import scrub, scrub_headers

SECRETS = [
    "sk-proj-4fG7hJ2kL9mN3pQ6rS8tV1wX5yZ0aB2cD4eF6gH8iJ0kL2mN4",
    "sk-svcacct-Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz1Xc3Vb5Nm7",
    "sk-ant-api03-Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0Uv1Wx2Yz3-AbCdEfAA",
    "vk_k7x2m9_Hs8Jd7Kf6Lg5Mh4Nj3Pk2Ql1",
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0."
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    "Tr0ub4dor&3horse",
    "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
]
CARRIERS = [
    "Authorization: Bearer {s}",
    "upstream said: invalid api key {s}",
    "GET /v1/models?api_key={s} HTTP/1.1",
    "postgresql://vallum:{s}@db.internal:5432/vallum",
    '{{"password": "{s}"}}',
    "aws_secret_access_key={s}",
    "token={s}",
    "x-api-key: {s}",
]


def _fragment(secret: str) -> str:
    """The secret part that must never appear (a Vallum key may keep its public id)."""
    return secret.rsplit("_", 1)[-1] if secret.startswith("vk_") else secret


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("carrier", CARRIERS)
def test_scrub_removes_the_secret_from_every_carrier(secret: str, carrier: str) -> None:
    text = carrier.format(s=secret)
    assert _fragment(secret) not in scrub(text)


@pytest.mark.parametrize(
    "benign",
    [
        "prompt had 1532 tokens",
        "model gpt-4o-mini answered in 0.2s",
        "route /v1/chat/completions status 200",
        "max_tokens=4096",
        "request req_0123456789abcdef",
    ],
)
def test_ordinary_text_is_left_alone(benign: str) -> None:
    assert scrub(benign) == benign


def test_headers_lose_credentials_but_keep_the_rest() -> None:
    headers = {
        "Authorization": f"Bearer {SECRETS[0]}",
        "x-api-key": SECRETS[2],
        "cookie": "session=abc",
        "user-agent": "openai-python/1.40",
        "x-debug": f"key {SECRETS[3]}",
    }
    clean = scrub_headers(headers)
    assert clean["user-agent"] == "openai-python/1.40"
    assert clean["Authorization"] == clean["x-api-key"] == clean["cookie"] == "[REDACTED]"
    assert "vk_k7x2m9_" in clean["x-debug"] and _fragment(SECRETS[3]) not in clean["x-debug"]


def _capture() -> tuple[JsonLogging, io.StringIO]:
    stream = io.StringIO()
    return JsonLogging("DEBUG", stream), stream


@pytest.mark.parametrize("secret", SECRETS)
def test_no_log_path_lets_a_secret_through(secret: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("vallum.proxy", "uvicorn.access", "uvicorn.error"):  # other tests' leftovers
        monkeypatch.setattr(logging.getLogger(name), "disabled", False)
        monkeypatch.setattr(logging.getLogger(name), "level", logging.NOTSET)
    logs, stream = _capture()
    try:
        log = logging.getLogger("vallum.proxy")
        log.warning("message with %s", f"Bearer {secret}", extra={"request_id": "req_1"})
        log.info(f"f-string password={secret}")
        log.warning(
            "extras", extra={"headers": {"authorization": secret}, "url": f"http://u:{secret}@h/"}
        )
        try:
            raise RuntimeError(f"driver failed: token={secret}")
        except RuntimeError:
            log.exception("unhandled error", extra={"request_id": "req_2"})
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1", "GET", f"/v1/models?key={secret}", "1.1", 200
        )
        logging.getLogger("uvicorn.error").error(f"ASGI app failed: bad credentials {secret}")
    finally:
        logs.close()
    output = stream.getvalue()
    lines = [orjson.loads(line) for line in output.splitlines()]
    assert len(lines) == 6
    assert lines[0]["request_id"] == "req_1"
    assert "RuntimeError" in lines[3]["exception"]
    assert _fragment(secret) not in output


def test_close_restores_uvicorn_logging() -> None:
    access = logging.getLogger("uvicorn.access")
    before = (list(access.handlers), access.propagate)
    logs, _ = _capture()
    logs.close()
    assert (list(access.handlers), access.propagate) == before
