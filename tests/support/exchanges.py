"""An Exchange for a request body, parsed the way the proxy parses it (for layer unit tests)."""

from __future__ import annotations

from typing import Any

from vallum.pipeline.exchange import Endpoint, Exchange, WireFormat
from vallum.providers import anthropic, openai


def exchange_for(endpoint: Endpoint, body: dict[str, Any]) -> Exchange:
    if endpoint is Endpoint.MESSAGES:
        request = anthropic.normalize_request(body)
        wire = WireFormat.ANTHROPIC
    else:
        request = openai.normalize_request(endpoint, body)
        wire = WireFormat.OPENAI
    return Exchange(
        request_id="req_test",
        method="POST",
        path="/",
        client_ip="127.0.0.1",
        headers={},
        started=0.0,
        wire=wire,
        endpoint=endpoint,
        request=request,
    )
