"""The audit record: what one call leaves behind, built from its Exchange and Outcome.

Built by the writer, off the request path. Never holds a header, a credential or (unless
``capture_text``) prompt or completion text: text is kept as its length plus a keyed hash.
"""

from __future__ import annotations

import hashlib
from typing import Any

from vallum.observability.scrub import scrub
from vallum.pipeline.exchange import Exchange
from vallum.pipeline.layer import Outcome

__all__ = ["RECORD_VERSION", "RecordBuilder", "decision_of"]

RECORD_VERSION = 1
_MAX_ROUTE = 256
_MAX_FORWARDED = 512
_MAX_DETAIL = 256
_MAX_FINDINGS = 64
_KNOWN_ROUTES = frozenset(
    {
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/responses",
        "/v1/models",
        "/v1/messages",
    }
)


def decision_of(status: int, decided_by: str | None) -> str:
    """allow | deny (a layer refused) | reject (refused before the layers) | error."""
    if decided_by is not None:
        return "deny"
    if status == 0 or status >= 500 or status == 499:
        return "error"
    if status >= 400:
        return "reject"
    return "allow"


class RecordBuilder:
    """Turns (exchange, outcome, wall time) into a JSON-ready dict."""

    def __init__(self, *, instance_id: str, hash_key: bytes, capture_text: bool) -> None:
        self.instance_id = instance_id
        # BLAKE2b keyed mode (a MAC by design, faster than HMAC); keys are at most 64 bytes.
        self._key = hash_key if len(hash_key) <= 64 else hashlib.sha512(hash_key).digest()
        self.capture_text = capture_text

    def text_digest(self, text: str) -> str:
        """A keyed hash: equal prompts can be matched without the text being stored."""
        digest = hashlib.blake2b(text.encode("utf-8", "replace"), key=self._key, digest_size=16)
        return digest.hexdigest()

    def build(self, exchange: Exchange, outcome: Outcome, at: float) -> dict[str, Any]:
        request = exchange.request
        status = outcome.status or exchange.status or 0
        decided_by = outcome.decided_by or exchange.decided_by
        route = (
            exchange.path if exchange.path in _KNOWN_ROUTES else scrub(exchange.path[:_MAX_ROUTE])
        )
        record: dict[str, Any] = {
            "type": "request",
            "v": RECORD_VERSION,
            "at": round(at, 6),
            "request_id": exchange.request_id,
            "instance": self.instance_id,
            "identity": _identity(exchange.identity),
            "client_ip": exchange.client_ip,
            "forwarded_for": _forwarded(exchange.headers),
            "method": exchange.method[:16],
            "route": route,
            "endpoint": str(exchange.endpoint) if exchange.endpoint is not None else None,
            "model": _served_model(exchange),
            "requested_model": request.model[:256] if request is not None else None,
            "provider": exchange.provider,
            "routing": exchange.routing[:16],  # deployments tried and outcomes, in order
            "stream": bool(request.stream) if request is not None else False,
            "decision": decision_of(status, decided_by),
            "decided_by": decided_by,
            "findings": [_finding(f) for f in exchange.findings[:_MAX_FINDINGS]],
            "status": status,
            "error_code": outcome.error_code or exchange.error_code,
            "tokens": _tokens(exchange),
            "latency_ms": round(outcome.duration * 1000.0, 3),
            "layers_ms": {k: round(v * 1000.0, 3) for k, v in exchange.layer_timings.items()},
            "stream_outcome": exchange.stream_outcome,
            "prompt": self._prompt(exchange),
            "completion": self._completion(exchange),
            "cost_usd": exchange.cost_usd,
        }
        return record

    def _prompt(self, exchange: Exchange) -> dict[str, Any] | None:
        request = exchange.request
        if request is None or not request.parts:
            return None
        text = "\n".join(part.text for part in request.parts)
        if self.capture_text:
            return {"chars": len(text), "text": text}
        return {"chars": len(text), "mac": self.text_digest(text)}

    def _completion(self, exchange: Exchange) -> dict[str, Any] | None:
        """What the client got, as the response layers left it; ``{"chars": None}`` for a
        stream no reader parsed (the text was never seen), None when nothing was answered."""
        texts = exchange.completion_text
        if texts is None:
            return {"chars": None} if exchange.stream_outcome is not None else None
        text = "\n".join(texts)
        if self.capture_text:
            return {"chars": len(text), "text": text}
        return {"chars": len(text), "mac": self.text_digest(text)}


def _identity(identity: Any) -> dict[str, Any] | None:
    # Read by name: vallum.identity.model.Identity, or any object with the same fields.
    if identity is None:
        return None
    roles = getattr(identity, "roles", None) or ()
    scopes = getattr(identity, "scopes", None) or ()
    return {
        "principal": _text(getattr(identity, "principal_id", None)),
        "kind": _text(getattr(identity, "kind", None)),
        "method": _text(getattr(identity, "method", None)),
        "credential_id": _text(getattr(identity, "credential_id", None)),
        "team": _text(getattr(identity, "team", None)),
        "roles": sorted(str(r)[:128] for r in roles)[:64],
        "scopes": sorted(str(s)[:128] for s in scopes)[:64],
    }


def _text(value: Any) -> str | None:
    return None if value is None else str(value)[:256]


def _forwarded(headers: dict[str, str]) -> str | None:
    value = headers.get("x-forwarded-for")
    return None if value is None else scrub(value[:_MAX_FORWARDED])


def _finding(finding: Any) -> dict[str, Any]:
    return {
        "layer": finding.layer,
        "kind": finding.kind,
        "score": round(float(finding.score), 4),
        "span": list(finding.span) if finding.span is not None else None,
        "detail": scrub(finding.detail[:_MAX_DETAIL]),
    }


def _tokens(exchange: Exchange) -> dict[str, int] | None:
    usage = exchange.usage
    if usage is None:
        return None
    return {"in": usage.input_tokens, "out": usage.output_tokens}


def _served_model(exchange: Exchange) -> str | None:
    """The model that served the call (a fallback, when one answered), else the one asked for."""
    request = exchange.request
    model = exchange.served_model or (request.model if request is not None else None)
    return model[:256] if model is not None else None
