"""Start-up advice: configurations that are valid but probably not what the operator meant."""

from __future__ import annotations

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
    return warnings
