"""OpenAI streams and their usage block: ask for it, and know when one may be missing."""

from __future__ import annotations

from vallum.pipeline.exchange import Endpoint, Exchange, WireFormat

__all__ = ["ask_stream_usage", "may_lack_usage"]


def ask_stream_usage(exchange: Exchange) -> None:
    """OpenAI streams carry usage only when asked; ask, so settling uses real numbers."""
    request = exchange.request
    if (
        request is None
        or not request.stream
        or exchange.wire is not WireFormat.OPENAI
        or request.endpoint not in (Endpoint.CHAT, Endpoint.COMPLETIONS)
    ):
        return
    options = request.body.get("stream_options")
    if isinstance(options, dict) and options.get("include_usage") is True:
        return
    request.body["stream_options"] = {
        **(options if isinstance(options, dict) else {}),
        "include_usage": True,
    }
    request.dirty = True
    exchange.hide_usage_chunk = True  # the client did not ask: it must not see the extra chunk


def may_lack_usage(exchange: Exchange) -> bool:
    """Streams whose upstream may end without a usage block: OpenAI chat and completions
    (usage only under include_usage, which OpenAI-compatible servers may ignore)."""
    request = exchange.request
    return (
        request is not None
        and request.stream
        and exchange.wire is WireFormat.OPENAI
        and request.endpoint in (Endpoint.CHAT, Endpoint.COMPLETIONS)
    )
