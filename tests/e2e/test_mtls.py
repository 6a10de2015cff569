"""Vallum terminating mTLS itself: a real TLS handshake on loopback, certificate → identity."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.e2e.conftest import gateway_config
from tests.support.servers import ServerThread, free_port
from vallum.config import build_config
from vallum.gateway import Gateway
from vallum.proxy.app import GatewayApp
from vallum.proxy.server_protocol import VallumHttpProtocol

BATCH = "spiffe://corp/ns/ml/sa/batch"
OTHER = "spiffe://corp/ns/ml/sa/other"  # same CA, not mapped
EVIL = "spiffe://corp/ns/ml/sa/evil"  # mapped, but with no roles: only a forgery would use it
CHAT = {"model": "gpt-echo", "messages": [{"role": "user", "content": "hi"}]}


class TlsServerThread(ServerThread):
    """ServerThread with Vallum's own HTTP protocol and uvicorn's TLS options."""

    def __init__(self, app: Any, tls: dict[str, Any]) -> None:
        self.port = free_port()
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            loop="uvloop",
            http=VallumHttpProtocol,
            lifespan="on",
            access_log=False,
            log_level="critical",  # refused handshakes are expected here
            **tls,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
    san: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = issuer or (_name(subject), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(directory: Path, name: str, cert: x509.Certificate, key: Any) -> tuple[str, str]:
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A CA, a server certificate, two clients of that CA and one of an unknown CA."""
    directory = tmp_path_factory.mktemp("pki")
    ca_key, rogue_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca = _issue("Vallum Test CA", ca_key, None)
    rogue = _issue("Rogue CA", rogue_key, None)
    out: dict[str, Any] = {"ca": _write(directory, "ca", ca, ca_key)[0]}
    specs = {
        "server": (
            "localhost",
            (ca.subject, ca_key),
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))],
        ),
        "batch": ("batch", (ca.subject, ca_key), [x509.UniformResourceIdentifier(BATCH)]),
        "other": ("other", (ca.subject, ca_key), [x509.UniformResourceIdentifier(OTHER)]),
        # the unknown CA's certificate claims the mapped identity: only the handshake stops it
        "rogue": ("batch", (rogue.subject, rogue_key), [x509.UniformResourceIdentifier(BATCH)]),
    }
    for name, (cn, issuer, san) in specs.items():
        key = ec.generate_private_key(ec.SECP256R1())
        out[name] = _write(directory, name, _issue(cn, key, issuer, san), key)
    return out


def _gateway(upstream: ServerThread) -> GatewayApp:
    mtls = {
        "trusted_proxies": ["10.0.0.0/8"],  # loopback is not a trusted proxy
        "principals": [
            {"match": f"uri:{BATCH}", "principal": "svc:batch", "team": "ml", "roles": ["user"]},
            {"match": f"uri:{EVIL}", "principal": "svc:evil"},
        ],
    }
    layers = [
        {"type": "authn", "methods": ["mtls"], "mtls": mtls},
        {"type": "authz"},
        {"type": "validate"},
    ]
    return GatewayApp(Gateway(build_config(gateway_config(upstream.url, layers=layers))))


def _serve(upstream: ServerThread, pki: dict[str, Any], reqs: ssl.VerifyMode) -> Iterator[Any]:
    tls = {
        "ssl_certfile": pki["server"][0],
        "ssl_keyfile": pki["server"][1],
        "ssl_ca_certs": pki["ca"],
        "ssl_cert_reqs": reqs,
    }
    with TlsServerThread(_gateway(upstream), tls) as server:
        yield server


@pytest.fixture(scope="module")
def optional_tls(upstream: ServerThread, pki: dict[str, Any]) -> Iterator[TlsServerThread]:
    yield from _serve(upstream, pki, ssl.CERT_OPTIONAL)


@pytest.fixture(scope="module")
def required_tls(upstream: ServerThread, pki: dict[str, Any]) -> Iterator[TlsServerThread]:
    yield from _serve(upstream, pki, ssl.CERT_REQUIRED)


def _client(server: TlsServerThread, pki: dict[str, Any], cert: str | None) -> httpx.Client:
    context = ssl.create_default_context(cafile=pki["ca"])
    if cert is not None:
        context.load_cert_chain(*pki[cert])
    return httpx.Client(base_url=server.url, verify=context, timeout=5)


def test_verified_client_cert_becomes_the_mapped_identity(
    optional_tls: TlsServerThread, pki: dict[str, Any]
) -> None:
    with _client(optional_tls, pki, "batch") as client:
        reply = client.post("/v1/chat/completions", json=CHAT)
        assert reply.status_code == 200, reply.text
        # keep-alive: the second request on the same connection carries the certificate too
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 200


def test_no_client_cert_gets_401_when_optional(
    optional_tls: TlsServerThread, pki: dict[str, Any]
) -> None:
    with _client(optional_tls, pki, None) as client:
        reply = client.post("/v1/chat/completions", json=CHAT)
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "invalid_api_key"


def test_cert_of_the_ca_but_not_mapped_gets_401(
    optional_tls: TlsServerThread, pki: dict[str, Any]
) -> None:
    with _client(optional_tls, pki, "other") as client:
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 401


@pytest.mark.parametrize("mode", ["optional_tls", "required_tls"])
def test_cert_of_an_unknown_ca_fails_the_handshake(
    mode: str, request: pytest.FixtureRequest, pki: dict[str, Any]
) -> None:
    server: TlsServerThread = request.getfixturevalue(mode)
    with _client(server, pki, "rogue") as client, pytest.raises(httpx.TransportError):
        client.post("/v1/chat/completions", json=CHAT)


def test_no_client_cert_fails_the_handshake_when_required(
    required_tls: TlsServerThread, pki: dict[str, Any]
) -> None:
    with _client(required_tls, pki, None) as client, pytest.raises(httpx.TransportError):
        client.post("/v1/chat/completions", json=CHAT)
    with _client(required_tls, pki, "batch") as client:
        assert client.post("/v1/chat/completions", json=CHAT).status_code == 200


def test_forged_forwarded_cert_header_from_untrusted_peer_is_not_believed(
    optional_tls: TlsServerThread, pki: dict[str, Any]
) -> None:
    forged = {"x-forwarded-client-cert": f"Hash=00;URI={EVIL}"}
    # with a verified certificate: the header is ignored, the handshake's certificate counts
    # (were the forged svc:evil used, it has no roles and authz would answer 403)
    with _client(optional_tls, pki, "batch") as client:
        reply = client.post("/v1/chat/completions", json=CHAT, headers=forged)
    assert reply.status_code == 200, reply.text
    # a certificate the handshake did not verify cannot be smuggled in: the forgery is a 401
    with _client(optional_tls, pki, None) as client:
        batch = {"x-forwarded-client-cert": f"Hash=00;URI={BATCH}"}
        assert client.post("/v1/chat/completions", json=CHAT, headers=batch).status_code == 401
