"""Model routing: alias → deployments → a healthy upstream, with retries and fallback models."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson

from vallum.clock import Clock
from vallum.config.models import GatewayConfig, ModelRoute
from vallum.errors import BadRequest, NotFound, UpstreamError
from vallum.pipeline.attachments import MODEL_ACCESS
from vallum.pipeline.exchange import Endpoint, Exchange
from vallum.providers.base import UpstreamRequest, UpstreamResponse
from vallum.proxy.balancer import Balancer, Deployment, Strategy
from vallum.proxy.breaker import CircuitBreaker
from vallum.proxy.failover import RetryPolicy, send_with_failover
from vallum.proxy.http_client import HttpClient
from vallum.proxy.upstreams import Provider

__all__ = ["ModelRouter", "Route"]

_MAX_CONCRETE_ROUTES = 4096


@dataclass(frozen=True, slots=True)
class Route:
    """One configured alias, ready to send.

    ``name`` is the model name it serves; ``pattern`` the configured route it comes from
    (the same name, or the ``prefix*`` that matched it).
    """

    name: str
    balancer: Balancer
    retry: RetryPolicy
    fallbacks: tuple[str, ...]
    pattern: str

    @property
    def deployments(self) -> list[Deployment]:
        return self.balancer.deployments


class ModelRouter:
    """Exact model names first, then the longest matching ``prefix*`` route."""

    def __init__(self, config: GatewayConfig, client: HttpClient, clock: Clock) -> None:
        self.providers: dict[str, Provider] = {}
        self._breaker_settings: dict[str, tuple[int, float, float]] = {}
        # One breaker per deployment: provider x the model name sent upstream, so one model's
        # failures never take down other models served by the same provider.
        self.breakers: dict[tuple[str, str], CircuitBreaker] = {}
        self._clock = clock
        for provider_config in config.providers:
            mock = None
            if provider_config.type == "mock":
                from vallum.providers.mock import MockModel, MockSettings

                m = provider_config.mock
                mock = MockModel(
                    MockSettings(m.reply, m.chunks, m.chunk_gap, m.latency, dict(m.scripts))
                )
            self.providers[provider_config.name] = Provider(provider_config, client, mock)
            b = provider_config.breaker
            self._breaker_settings[provider_config.name] = (
                b.failure_threshold,
                b.open_seconds,
                b.max_open_seconds,
            )
        self._exact: dict[str, Route] = {}
        self._prefixes: list[tuple[str, ModelRoute]] = []
        self._concrete: dict[str, Route] = {}  # routes made for names matched by a prefix
        for model in config.models:
            if model.name.endswith("*"):
                self._prefixes.append((model.name[:-1], model))
            else:
                self._exact[model.name] = self._route(model, model.name)
        self._prefixes.sort(key=lambda item: len(item[0]), reverse=True)

    def _breaker(self, provider: str, model: str) -> CircuitBreaker:
        breaker = self.breakers.get((provider, model))
        if breaker is None:
            threshold, open_seconds, max_open = self._breaker_settings[provider]
            breaker = CircuitBreaker(
                self._clock,
                threshold=threshold,
                open_seconds=open_seconds,
                max_open_seconds=max_open,
            )
            self.breakers[(provider, model)] = breaker
        return breaker

    def _route(self, model: ModelRoute, name: str) -> Route:
        deployments = [
            Deployment(
                self.providers[target.provider],
                target.upstream_model,
                target.weight,
                self._breaker(target.provider, target.upstream_model or name),
            )
            for target in model.targets()
        ]
        retry = RetryPolicy(model.retry.attempts, model.retry.backoff, model.retry.max_backoff)
        balancer = Balancer(deployments, Strategy(model.strategy), sticky=model.sticky)
        return Route(name, balancer, retry, tuple(model.fallbacks), model.name)

    def model_names(self) -> list[str]:
        return list(self._exact)

    def find(self, model: str) -> Route | None:
        route = self._exact.get(model) or self._concrete.get(model)
        if route is not None:
            return route
        config = next((r for prefix, r in self._prefixes if model.startswith(prefix)), None)
        if config is None:
            return None
        if len(self._concrete) >= _MAX_CONCRETE_ROUTES:
            # Bounded: client-chosen names must not grow memory (routes and their breakers).
            self._concrete.clear()
            keep = {d.breaker for r in self._exact.values() for d in r.deployments}
            self.breakers = {k: b for k, b in self.breakers.items() if b in keep}
        route = self._concrete[model] = self._route(config, model)
        return route

    def resolve(self, model: str, endpoint: Endpoint) -> Route:
        route = self.find(model)
        if route is None:
            raise NotFound(
                "The model does not exist or you do not have access to it.",
                code="model_not_found",
                param="model",
            )
        if not any(d.provider.supports(endpoint) for d in route.deployments):
            raise BadRequest(
                "This model is not available on this endpoint.",
                code="unsupported_endpoint",
                param="model",
            )
        return route

    async def send(
        self,
        exchange: Exchange,
        route: Route,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> UpstreamResponse:
        """Send the exchange's request via ``route``, then via its permitted fallbacks.

        A fallback the caller may not use (authz's ``MODEL_ACCESS``) is skipped, so failing
        over never widens what a credential reaches.
        """
        request = exchange.request
        assert request is not None  # noqa: S101 - only POST routes are forwarded
        try:
            response = await self._send_alias(exchange, route, None, sleep)
        except UpstreamError:
            if not route.fallbacks:
                raise
            response = None
        if response is not None and not _failed(response):
            return response
        access = exchange.attached(MODEL_ACCESS)
        for fallback in route.fallbacks:
            target = self.find(fallback)
            if target is None:
                continue
            if access is not None and not access.permits(fallback):
                exchange.routing.append(f"fallback:{fallback}:not_permitted")
                continue
            try:
                candidate = await self._send_alias(exchange, target, fallback, sleep)
            except UpstreamError:
                continue
            if not _failed(candidate):
                exchange.routing.append(f"fallback:{fallback}")
                return candidate
            response = candidate
        if response is None:
            raise UpstreamError("No upstream could serve this model.", code="no_healthy_upstream")
        return response

    async def _send_alias(
        self,
        exchange: Exchange,
        route: Route,
        rename: str | None,
        sleep: Callable[[float], Awaitable[None]],
    ) -> UpstreamResponse:
        """Send via one alias; ``rename`` is the model name to send for a fallback alias."""
        request = exchange.request
        assert request is not None  # noqa: S101 - checked by send()
        bodies: dict[str | None, bytes] = {}

        def build(deployment: Deployment) -> UpstreamRequest:
            name = deployment.upstream_model or rename
            if name not in bodies:
                if name is None:
                    # Always the parsed body, re-encoded: what the layers saw is exactly what
                    # goes upstream (raw bytes could differ, e.g. by a duplicate JSON key).
                    bodies[name] = orjson.dumps(request.body)
                else:
                    bodies[name] = orjson.dumps({**request.body, "model": name})
            return deployment.provider.build(
                request.endpoint, bodies[name], request.stream, exchange.headers
            )

        identity = exchange.identity
        sticky_key = getattr(identity, "principal_id", None) or exchange.client_ip
        result = await send_with_failover(
            route.balancer, build, route.retry, sleep=sleep, sticky_key=sticky_key
        )
        exchange.provider = result.deployment.provider.name
        exchange.served_model, exchange.served_route = route.name, route.pattern
        exchange.routing.extend(f"{a.deployment}:{a.outcome}" for a in result.attempts)
        return result.response


def _failed(response: UpstreamResponse) -> bool:
    return response.status >= 500 or response.status == 429
