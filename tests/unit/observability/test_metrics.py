"""Metrics: the Prometheus text, bounded labels, and never a key id."""

from __future__ import annotations

from tests.unit.audit.helpers import FakeIdentity, finding, make_exchange, make_outcome
from vallum.observability.metrics import GatewayMetrics, metrics_render
from vallum.observability.registry import Registry


def test_a_call_is_counted_by_route_model_decision_status_and_team() -> None:
    metrics = GatewayMetrics()
    exchange = make_exchange(1)
    exchange.findings.append(finding("secret"))
    metrics.observe(exchange, make_outcome())
    metrics.observe(make_exchange(2), make_outcome(429, error_code="rate_limit_exceeded"))
    metrics.observe(make_exchange(3), make_outcome(504, error_code="upstream_timeout"))
    text = metrics.render().decode()
    assert (
        'vallum_requests_total{route="/v1/chat/completions",model="gpt-echo",decision="allow",'
        'status="200",error_code="",team="research"} 1' in text
    )
    assert 'vallum_tokens_total{direction="in",model="gpt-echo",team="research"} 9' in text
    assert (
        'vallum_rate_limit_rejections_total{route="/v1/chat/completions",team="research"} 1' in text
    )
    assert 'vallum_detector_hits_total{layer="input_guard",kind="secret"} 1' in text
    assert 'vallum_upstream_errors_total{provider="local-openai",code="upstream_timeout"} 1' in text
    assert 'vallum_layer_duration_seconds_bucket{layer="validate",le="2.5e-05"} 3' in text
    assert "vk_pub123" not in text


def test_unknown_routes_and_models_do_not_grow_labels() -> None:
    metrics = GatewayMetrics()
    for n in range(50):
        exchange = make_exchange(n, path=f"/random/{n}", provider=None)
        exchange.identity = FakeIdentity(team=None)
        metrics.observe(exchange, make_outcome(404))
    assert len(metrics.requests.values) == 1


def test_series_are_capped() -> None:
    registry = Registry()
    counter = registry.counter("c_total", "help", ("team",), max_series=3)
    for n in range(10):
        counter.inc((f"team{n}",))
    assert len(counter.values) == 4 and counter.values[("other",)] == 7


def test_render_without_the_layer() -> None:
    assert metrics_render(object()).startswith(b"# no metrics")
