"""The layer registry: one line per layer; a layer's name is its module and its config type.

Layers are imported only when a config names them, so a gateway running three layers does
not pay the start-up time and memory of the detectors it does not use.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from vallum.pipeline.layer import Layer

__all__ = ["layer_class", "layer_names", "layer_types"]

# name -> class name in vallum.layers.<name>, in the recommended order of a config.
_LAYERS: dict[str, str] = {
    "ipblock": "Ipblock",
    "anomaly": "Anomaly",
    "authn": "Authn",
    "authz": "Authz",
    "ratelimit": "Ratelimit",
    "validate": "Validate",
    "input_guard": "InputGuard",
    "tool_guard": "ToolGuard",
    "link_guard": "LinkGuard",
    "spotlight": "Spotlight",
    "output_filter": "OutputFilter",
    "audit": "Audit",
}


def layer_names() -> list[str]:
    """Every layer Vallum ships, by name, without importing any of them."""
    return list(_LAYERS)


def layer_class(name: str) -> type[Layer[Any]] | None:
    """The class of one layer (imported on first use); None for an unknown name."""
    class_name = _LAYERS.get(name)
    if class_name is None:
        return None
    cls: type[Layer[Any]] = getattr(import_module(f"vallum.layers.{name}"), class_name)
    return cls


def layer_types() -> dict[str, type[Layer[Any]]]:
    """Every layer class by name (imports them all: for tests and documentation)."""
    types: dict[str, type[Layer[Any]]] = {}
    for name in _LAYERS:
        cls = layer_class(name)
        if cls is not None:
            types[name] = cls
    return types
