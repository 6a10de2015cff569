"""The layer registry: one line per layer; a layer's name is its module and its config type."""

from __future__ import annotations

from typing import Any

from vallum.pipeline.layer import Layer

__all__ = ["layer_types"]


def layer_types() -> dict[str, type[Layer[Any]]]:
    """Every layer Vallum ships, by name (built fresh: no global mutable registry)."""
    from vallum.layers.validate import Validate

    classes: list[type[Layer[Any]]] = [
        Validate,
    ]
    return {cls.name: cls for cls in classes}
