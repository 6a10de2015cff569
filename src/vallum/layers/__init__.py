"""The layer registry: one line per layer; a layer's name is its module and its config type."""

from __future__ import annotations

from typing import Any

from vallum.pipeline.layer import Layer

__all__ = ["layer_types"]


def layer_types() -> dict[str, type[Layer[Any]]]:
    """Every layer Vallum ships, by name (built fresh: no global mutable registry)."""
    from vallum.layers.anomaly import Anomaly
    from vallum.layers.audit import Audit
    from vallum.layers.authn import Authn
    from vallum.layers.authz import Authz
    from vallum.layers.ipblock import Ipblock
    from vallum.layers.output_filter import OutputFilter
    from vallum.layers.ratelimit import Ratelimit
    from vallum.layers.validate import Validate

    classes: list[type[Layer[Any]]] = [
        Ipblock,
        Authn,
        Authz,
        Ratelimit,
        Validate,
        OutputFilter,
        Audit,
        Anomaly,
    ]
    return {cls.name: cls for cls in classes}
