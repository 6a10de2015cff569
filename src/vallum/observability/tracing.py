"""Optional OpenTelemetry traces (``pip install 'vallum[otel]'``), GenAI semantic conventions.

One span per request (``chat gpt-4o``), a child span per layer and one for the upstream
call. Spans are made after the call, off the request path, from the exchange's
timings; the parent comes from the incoming ``traceparent`` header. The exporter is
whatever tracer provider the process installed (e.g. ``opentelemetry-instrument``).
"""

from __future__ import annotations

import time
from typing import Any

from vallum.errors import DependencyMissingError
from vallum.pipeline.exchange import Endpoint, Exchange
from vallum.pipeline.layer import Outcome

__all__ = ["Tracer", "operation_name"]

_OPERATIONS = {
    Endpoint.CHAT: "chat",
    Endpoint.MESSAGES: "chat",
    Endpoint.COMPLETIONS: "text_completion",
    Endpoint.RESPONSES: "chat",
    Endpoint.EMBEDDINGS: "embeddings",
    Endpoint.MODELS: "list_models",
}
_NS = 1_000_000_000


def operation_name(endpoint: Endpoint | None) -> str:
    return _OPERATIONS.get(endpoint, "http") if endpoint is not None else "http"


class Tracer:
    """Builds the spans of one finished call."""

    def __init__(self, tracer_provider: Any = None) -> None:
        try:
            from opentelemetry import propagate, trace
        except ImportError as exc:
            raise DependencyMissingError(
                "tracing needs the OpenTelemetry extra: pip install 'vallum[otel]'",
                context={"extra": "otel", "module": exc.name},
            ) from exc
        self._trace = trace
        self._propagate = propagate
        provider = tracer_provider or trace.get_tracer_provider()
        self._tracer = provider.get_tracer("vallum")

    def record(self, exchange: Exchange, outcome: Outcome, end_wall: float | None = None) -> None:
        end = int((end_wall if end_wall is not None else time.time()) * _NS)
        start = end - int(outcome.duration * _NS)
        parent = self._propagate.extract(_carrier(exchange.headers))
        request = exchange.request
        operation = operation_name(exchange.endpoint)
        model = request.model if request is not None else None
        name = f"{operation} {model}" if model else operation
        span = self._tracer.start_span(
            name, context=parent, kind=self._trace.SpanKind.SERVER, start_time=start
        )
        for key, value in _attributes(exchange, outcome, operation).items():
            if value is not None:
                span.set_attribute(key, value)
        if outcome.status >= 500 or outcome.status == 0:
            span.set_status(self._trace.Status(self._trace.StatusCode.ERROR))
        child_ctx = self._trace.set_span_in_context(span)
        cursor = start
        for layer, seconds in exchange.layer_timings.items():
            length = int(seconds * _NS)
            child = self._tracer.start_span(f"layer {layer}", context=child_ctx, start_time=cursor)
            child.set_attribute("vallum.layer", layer)
            child.end(end_time=cursor + length)
            cursor += length
        if exchange.provider is not None:
            upstream = self._tracer.start_span(
                f"{operation} {model}" if model else operation,
                context=child_ctx,
                kind=self._trace.SpanKind.CLIENT,
                start_time=cursor,
            )
            upstream.set_attribute("gen_ai.provider.name", exchange.provider)
            upstream.set_attribute("gen_ai.operation.name", operation)
            upstream.end(end_time=max(cursor, end))
        span.end(end_time=end)


def _carrier(headers: dict[str, str]) -> dict[str, str]:
    # Only the propagation headers: the rest (Authorization!) never reaches the tracer.
    return {k: v for k, v in headers.items() if k in ("traceparent", "tracestate", "baggage")}


def _attributes(exchange: Exchange, outcome: Outcome, operation: str) -> dict[str, Any]:
    request = exchange.request
    usage = exchange.usage
    return {
        "gen_ai.operation.name": operation,
        "gen_ai.request.model": request.model if request is not None else None,
        "gen_ai.provider.name": exchange.provider,
        "gen_ai.usage.input_tokens": usage.input_tokens if usage is not None else None,
        "gen_ai.usage.output_tokens": usage.output_tokens if usage is not None else None,
        "http.request.method": exchange.method,
        "http.route": exchange.path if exchange.endpoint is not None else None,
        "http.response.status_code": outcome.status,
        "error.type": outcome.error_code,
        "vallum.request_id": exchange.request_id,
        "vallum.decided_by": outcome.decided_by,
        "vallum.stream_outcome": exchange.stream_outcome,
    }
