"""Every module's ``__all__`` is sorted and every name in it resolves."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import vallum

_OPTIONAL = {"redis", "asyncpg"}  # optional extras: a module needing one may be absent


def _modules() -> list[str]:
    names = ["vallum"]
    for info in pkgutil.walk_packages(vallum.__path__, prefix="vallum."):
        names.append(info.name)
    return sorted(names)


MODULES = _modules()


def test_the_walk_finds_the_core() -> None:
    assert {"vallum.errors", "vallum.config.loader", "vallum.layers.validate"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_resolves(name: str) -> None:
    try:
        module = importlib.import_module(name)
    except ImportError as exc:  # pragma: no cover - only without an optional extra
        if exc.name in _OPTIONAL:
            pytest.skip(f"{name} needs the optional {exc.name}")
        raise
    public = getattr(module, "__all__", None)
    if public is None:
        assert name.endswith("__main__") or not _public_definitions(module), (
            f"{name} defines public names but no __all__"
        )
        return
    assert list(public) == sorted(public, key=_isort_key), f"{name}.__all__ is not sorted"
    assert len(set(public)) == len(public), f"{name}.__all__ has duplicates"
    missing = [item for item in public if not hasattr(module, item)]
    assert not missing, f"{name}.__all__ names missing attributes: {missing}"


def _isort_key(item: str) -> tuple[int, str]:
    """ruff RUF022's order: SCREAMING_CASE constants, then CamelCase, then the rest."""
    if len(item) > 1 and item.isupper():
        return (0, item)
    return (1, item) if item[:1].isupper() else (2, item)


def _public_definitions(module: object) -> list[str]:
    """Public functions and classes defined in the module itself."""
    found = []
    for key, value in vars(module).items():
        if key.startswith("_"):
            continue
        if getattr(value, "__module__", None) == getattr(module, "__name__", None) and callable(
            value
        ):
            found.append(key)
    return found


def test_top_level_api() -> None:
    assert vallum.__all__ == [
        "Gateway",
        "GatewayApp",
        "GatewayConfig",
        "Guard",
        "VallumError",
        "load_config",
    ]
    assert isinstance(vallum.__version__, str)
