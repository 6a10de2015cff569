"""OpenTelemetry spans: one per request, a child per layer and for the upstream, GenAI names."""

from __future__ import annotations

import pytest

from tests.unit.audit.helpers import make_exchange, make_outcome

sdk = pytest.importorskip("opentelemetry.sdk.trace")
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)

from vallum.observability.tracing import Tracer  # noqa: E402


def test_spans_follow_the_genai_conventions_and_the_incoming_trace() -> None:
    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    exchange = make_exchange(1)
    exchange.headers["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    Tracer(provider).record(exchange, make_outcome(), 1_700_000_000.0)
    spans = {span.name: span for span in exporter.get_finished_spans()}
    assert set(spans) == {"chat gpt-echo", "layer validate"}
    assert len(exporter.get_finished_spans()) == 3  # request, layer, upstream call
    root = next(
        s
        for s in exporter.get_finished_spans()
        if s.parent and s.parent.span_id == 0xB7AD6B7169203331
    )
    assert root.context.trace_id == 0x0AF7651916CD43DD8448EB211C80319C
    assert root.attributes["gen_ai.request.model"] == "gpt-echo"
    assert root.attributes["gen_ai.usage.input_tokens"] == 3
    assert root.attributes["gen_ai.usage.output_tokens"] == 5
    assert "authorization" not in str(root.attributes).lower()
