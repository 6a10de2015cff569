"""mTLS identities: a client certificate presented to Vallum's own TLS listener, or one
forwarded by a trusted TLS-terminating proxy (Envoy XFCC).

The ``x-forwarded-client-cert`` header is believed only from configured proxy addresses
(the TCP peer, never an address taken from ``X-Forwarded-For``);
from anyone else it is a forgery and the request is refused. The certificate maps to a
principal by SPIFFE/URI SAN, DNS SAN, subject or SHA-256 fingerprint, as configured.
A directly presented certificate (``Exchange.client_cert``) is one the handshake verified
against ``tls.client_ca_file``; it is mapped by the same rules.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vallum.identity.model import AuthMethod, Identity, PrincipalKind

__all__ = [
    "CertPrincipal",
    "ForwardedCertConfig",
    "cert_names",
    "identity_from_client_cert",
    "identity_from_forwarded_cert",
    "identity_from_mtls",
    "parse_xfcc",
]

_MAX_HEADER = 16_384


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CertPrincipal(_Strict):
    """Maps one certificate to a principal."""

    match: str = Field(
        pattern=r"^(uri|dns|subject|sha256):.{1,1024}$",
        description="'uri:spiffe://…', 'dns:host', 'subject:CN=…' or 'sha256:<hex>'.",
    )
    principal: str = Field(max_length=256, description="Principal id.")
    kind: Literal["user", "service"] = Field("service", description="Kind of principal.")
    team: str | None = Field(None, max_length=64, description="Team.")
    roles: tuple[str, ...] = Field((), max_length=64, description="Roles.")


class ForwardedCertConfig(_Strict):
    trusted_proxies: tuple[str, ...] = Field(
        (),
        max_length=64,
        description="CIDRs of the proxies that may forward certs (empty: direct certs only).",
    )
    header: str = Field("x-forwarded-client-cert", max_length=64, description="Header name.")
    principals: tuple[CertPrincipal, ...] = Field(
        min_length=1, max_length=4096, description="Certificate → principal mapping."
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(str(ipaddress.ip_network(v, strict=False)) for v in value)


def parse_xfcc(value: str) -> list[dict[str, list[str]]]:
    """Envoy's XFCC: elements split by ``,``, pairs by ``;``, values optionally quoted."""
    elements: list[dict[str, list[str]]] = []
    current: dict[str, list[str]] = {}
    key, buf, quoted, in_value = "", [], False, False
    for ch in value + ",":
        if quoted:
            if ch == '"':
                quoted = False
            else:
                buf.append(ch)
        elif ch == '"' and in_value:
            quoted = True
        elif ch == "=" and not in_value:
            key, buf, in_value = "".join(buf).strip().lower(), [], True
        elif ch in ";,":
            if in_value:
                current.setdefault(key, []).append("".join(buf).strip())
            key, buf, in_value = "", [], False
            if ch == "," and current:
                elements.append(current)
                current = {}
        else:
            buf.append(ch)
    return elements


def _trusted(config: ForwardedCertConfig, peer_ip: str) -> bool:
    try:
        address = ipaddress.ip_address(peer_ip)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(c) for c in config.trusted_proxies)


def _candidates(element: dict[str, list[str]]) -> set[str]:
    out = {f"uri:{v}" for v in element.get("uri", [])}
    out |= {f"dns:{v}" for v in element.get("dns", [])}
    out |= {f"subject:{v}" for v in element.get("subject", [])}
    out |= {f"sha256:{v.lower()}" for v in element.get("hash", [])}
    return out


def identity_from_forwarded_cert(
    config: ForwardedCertConfig, headers: dict[str, str], peer_ip: str
) -> tuple[Identity | None, str]:
    """The identity, or None and a reason: ``absent``, ``untrusted_proxy``, ``unknown_cert``.

    ``peer_ip`` is the TCP peer that sent the request (the proxy), not the client address.
    """
    value = headers.get(config.header)
    if value is None:
        return None, "absent"
    if not _trusted(config, peer_ip):
        return None, "untrusted_proxy"
    if len(value) > _MAX_HEADER:
        return None, "malformed_cert_header"
    elements = parse_xfcc(value)
    if not elements:
        return None, "malformed_cert_header"
    names = _candidates(elements[-1])  # the element the nearest (trusted) proxy added
    fingerprint = next(iter(elements[-1].get("hash", [""])))[:64]
    return _identity(config, names, fingerprint)


def cert_names(der: bytes) -> set[str] | None:
    """Match candidates of a DER certificate: ``uri:``/``dns:`` SANs, ``subject:`` (RFC 4514)
    and ``sha256:`` fingerprint; None when the bytes are not a certificate."""
    from cryptography import x509

    try:
        cert = x509.load_der_x509_certificate(der)
        subject = cert.subject.rfc4514_string()
    except ValueError:
        return None
    names = {f"sha256:{hashlib.sha256(der).hexdigest()}", f"subject:{subject}"}
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return names
    names |= {f"uri:{v}" for v in san.get_values_for_type(x509.UniformResourceIdentifier)}
    names |= {f"dns:{v}" for v in san.get_values_for_type(x509.DNSName)}
    return names


def identity_from_client_cert(
    config: ForwardedCertConfig, der: bytes, names: set[str] | None = None
) -> tuple[Identity | None, str]:
    """The identity of a certificate verified by Vallum's handshake, or None and a reason
    (``malformed_cert``, ``unknown_cert``). ``names`` may be passed from a cache."""
    if names is None:
        names = cert_names(der)
    if names is None:
        return None, "malformed_cert"
    return _identity(config, names, hashlib.sha256(der).hexdigest())


def identity_from_mtls(
    config: ForwardedCertConfig,
    headers: dict[str, str],
    peer_ip: str,
    client_cert: bytes | None,
    names: set[str] | None = None,
) -> tuple[Identity | None, str]:
    """Either certificate: a forwarded one when a trusted proxy sent the header, else the one
    our handshake verified (a forwarded header from anyone else is then ignored), else the
    forwarded-header rules (``absent``, or a forgery refused as ``untrusted_proxy``)."""
    forwarded = config.header in headers and _trusted(config, peer_ip)
    if client_cert is not None and not forwarded:
        return identity_from_client_cert(config, client_cert, names)
    return identity_from_forwarded_cert(config, headers, peer_ip)


def _identity(
    config: ForwardedCertConfig, names: set[str], fingerprint: str
) -> tuple[Identity | None, str]:
    for entry in config.principals:
        match = entry.match.lower() if entry.match.startswith("sha256:") else entry.match
        if match in names:
            return (
                Identity(
                    principal_id=entry.principal,
                    kind=PrincipalKind(entry.kind),
                    method=AuthMethod.MTLS,
                    credential_id=f"cert:{fingerprint}" if fingerprint else f"cert:{entry.match}",
                    team=entry.team,
                    roles=frozenset(entry.roles),
                ),
                "ok",
            )
    return None, "unknown_cert"


class TlsConfig(_Strict):
    """Vallum terminating TLS itself (TLS 1.2+), optionally asking for client certificates."""

    cert_file: str = Field(max_length=4096, description="Server certificate chain (PEM).")
    key_file: str = Field(max_length=4096, description="Server private key (PEM).")
    client_ca_file: str | None = Field(
        None, max_length=4096, description="CA bundle that client certificates must chain to."
    )
    client_cert: Literal["none", "optional", "required"] = Field(
        "none", description="Whether clients must present a certificate."
    )

    def uvicorn_options(self) -> dict[str, object]:
        import ssl

        reqs = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}
        return {
            "ssl_certfile": self.cert_file,
            "ssl_keyfile": self.key_file,
            "ssl_ca_certs": self.client_ca_file,
            "ssl_cert_reqs": reqs[self.client_cert],
            "ssl_version": ssl.PROTOCOL_TLS_SERVER,
        }
