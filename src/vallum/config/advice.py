"""Start-up advice: configurations that are valid but probably not what the operator meant."""

from __future__ import annotations

import ipaddress

from vallum.config.models import GatewayConfig

__all__ = ["config_warnings"]


def config_warnings(config: GatewayConfig) -> list[str]:
    """One sentence per risky choice; ``vallum serve`` and ``check-config`` print them."""
    warnings: list[str] = []
    layers = [str(layer.get("type")) for layer in config.layers]
    real = sorted(p.name for p in config.providers if p.type != "mock")
    if real and "authn" not in layers:
        warnings.append(
            "no authn layer: anyone who can reach "
            f"{config.server.host}:{config.server.port} uses provider(s) {', '.join(real)} "
            "with Vallum's credentials (an open relay); add `- type: authn` and `- type: authz`"
        )
    elif "authn" in layers and "authz" not in layers:
        warnings.append("authn without authz: every authenticated key may call every model")
    warnings.extend(_self_blocks(config))
    return warnings


def _self_blocks(config: GatewayConfig) -> list[str]:
    """Static blocks that would cut off loopback or a trusted proxy (and all behind it)."""
    protected = [ipaddress.ip_network(c, strict=False) for c in ("127.0.0.0/8", "::1/128")]
    protected += [ipaddress.ip_network(c, strict=False) for c in config.server.trusted_proxies]
    found = []
    for index, layer in enumerate(config.layers):
        if layer.get("type") != "ipblock":
            continue
        for cidr in layer.get("static") or ():
            try:
                network = ipaddress.ip_network(str(cidr), strict=False)
            except ValueError:
                continue  # the layer's own validation reports it
            hit = next(
                (p for p in protected if p.version == network.version and p.overlaps(network)),
                None,
            )
            if hit is not None:
                found.append(
                    f"layers[{index}].static blocks {network}, which covers {hit} (loopback or "
                    "a trusted proxy): every client behind it would be refused"
                )
    return found
