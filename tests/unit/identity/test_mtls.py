"""Forwarded client certificates (Envoy XFCC): trusted proxies only, mapped principals only."""

from __future__ import annotations

from vallum.identity.mtls import ForwardedCertConfig, identity_from_forwarded_cert, parse_xfcc

CONFIG = ForwardedCertConfig.model_validate(
    {
        "trusted_proxies": ["10.0.0.0/8"],
        "principals": [
            {"match": "uri:spiffe://corp/ns/ml/sa/batch", "principal": "svc:batch", "team": "ml"},
            {"match": "sha256:ABCDEF", "principal": "svc:legacy"},
        ],
    }
)
XFCC = 'By=spiffe://corp/gw;Hash=abcdef;Subject="CN=batch,O=Corp";URI=spiffe://corp/ns/ml/sa/batch'


def test_parse_xfcc_quoted_values() -> None:
    (element,) = parse_xfcc(XFCC)
    assert element["subject"] == ["CN=batch,O=Corp"]
    assert element["uri"] == ["spiffe://corp/ns/ml/sa/batch"]


def test_identity_from_trusted_proxy() -> None:
    identity, reason = identity_from_forwarded_cert(
        CONFIG, {"x-forwarded-client-cert": XFCC}, "10.1.1.1"
    )
    assert reason == "ok" and identity is not None and identity.principal_id == "svc:batch"


def test_forged_header_from_untrusted_address_and_unknown_cert() -> None:
    forged = identity_from_forwarded_cert(CONFIG, {"x-forwarded-client-cert": XFCC}, "203.0.113.9")
    assert forged == (None, "untrusted_proxy")
    unknown = identity_from_forwarded_cert(
        CONFIG, {"x-forwarded-client-cert": "Hash=00;URI=spiffe://evil"}, "10.1.1.1"
    )
    assert unknown == (None, "unknown_cert")
