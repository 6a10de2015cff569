"""The gateway's Prometheus metrics: requests, latency per layer, tokens, findings, audit health.

Labels are bounded: route (known routes or ``other``), model (the configured model route
that served, never a client-chosen name: a ``prefix*`` route is labelled by its pattern),
decision, status, error code and team; never a key id. Every metric also caps its label
sets. Observation happens in the audit writer, off the request path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from vallum.audit.record import decision_of
from vallum.observability.registry import Labels, Registry
from vallum.pipeline.exchange import Exchange
from vallum.pipeline.layer import Outcome

__all__ = ["GatewayMetrics", "metrics_render"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_LAYER_BUCKETS = (1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 0.01, 0.05, 0.25, 1)
_ROUTES = frozenset(
    {
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/responses",
        "/v1/models",
        "/v1/messages",
    }
)


class GatewayMetrics:
    """One gateway's metrics; ``observe`` takes a finished call."""

    def __init__(self, *, team_label: bool = True, model_label: bool = True) -> None:
        self.registry = Registry()
        self.team_label = team_label
        self.model_label = model_label
        r = self.registry
        self.requests = r.counter(
            "vallum_requests_total",
            "Requests by route, model, decision, status, error code and team.",
            ("route", "model", "decision", "status", "error_code", "team"),
        )
        self.latency = r.histogram(
            "vallum_request_duration_seconds",
            "Time from the first byte to the end of the response.",
            ("route", "decision"),
            _LATENCY_BUCKETS,
        )
        self.layer_latency = r.histogram(
            "vallum_layer_duration_seconds", "Time spent in each layer.", ("layer",), _LAYER_BUCKETS
        )
        self.tokens = r.counter(
            "vallum_tokens_total", "Model tokens by direction.", ("direction", "model", "team")
        )
        self.cost = r.counter(
            "vallum_cost_usd_total",
            "What calls cost at the configured and shipped list prices, in USD.",
            ("model", "team"),
        )
        self.rate_limited = r.counter(
            "vallum_rate_limit_rejections_total", "Requests refused with 429.", ("route", "team")
        )
        self.findings = r.counter(
            "vallum_detector_hits_total", "Findings by layer and kind.", ("layer", "kind")
        )
        self.upstream_errors = r.counter(
            "vallum_upstream_errors_total",
            "Upstream failures and timeouts by provider and code.",
            ("provider", "code"),
        )

    def add_gauge(
        self,
        name: str,
        help_text: str,
        labels: tuple[str, ...],
        read: Callable[[], Iterable[tuple[Labels, float]]],
    ) -> None:
        self.registry.gauge(name, help_text, labels, read)

    def observe(self, exchange: Exchange, outcome: Outcome) -> None:
        status = outcome.status or exchange.status or 0
        decided_by = outcome.decided_by or exchange.decided_by
        decision = decision_of(status, decided_by)
        route = exchange.path if exchange.path in _ROUTES else "other"
        served = exchange.served_route if self.model_label else None
        model = served[:128] if served is not None and exchange.provider is not None else "-"
        team = _team(exchange.identity) if self.team_label else "-"
        code = outcome.error_code or exchange.error_code or ""
        self.requests.inc((route, model, decision, str(status), code, team))
        self.latency.observe((route, decision), outcome.duration)
        for layer, seconds in exchange.layer_timings.items():
            self.layer_latency.observe((layer,), seconds)
        usage = exchange.usage
        if usage is not None:
            self.tokens.inc(("in", model, team), usage.input_tokens)
            self.tokens.inc(("out", model, team), usage.output_tokens)
        if exchange.cost_usd:
            self.cost.inc((model, team), exchange.cost_usd)
        if status == 429:
            self.rate_limited.inc((route, team))
        for finding in exchange.findings:
            self.findings.inc((finding.layer, finding.kind))
        if code.startswith("upstream") or status in (502, 504):
            self.upstream_errors.inc((exchange.provider or "-", code or str(status)))

    def render(self) -> bytes:
        return self.registry.render()


def _team(identity: Any) -> str:
    team = getattr(identity, "team", None) if identity is not None else None
    return str(team)[:64] if team else "-"


def metrics_render(gateway: Any) -> bytes:
    """The Prometheus text of ``gateway`` (its ``metrics`` attribute, set by the audit layer)."""
    metrics = getattr(gateway, "metrics", None)
    if not isinstance(metrics, GatewayMetrics):
        return b"# no metrics: add the audit layer to the configuration\n"
    return metrics.render()
