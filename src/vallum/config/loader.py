"""Load YAML config with ${ENV:default} substitution; errors name the YAML path."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from vallum.config.models import GatewayConfig
from vallum.errors import ConfigError

__all__ = ["build_config", "format_errors", "load_config", "parse_config", "validate_layers"]

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")
_MAX_CONFIG_BYTES = 4 * 1024 * 1024


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: a second ``layers:`` must not silently win."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:
                continue  # an unhashable key: SafeLoader reports it
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_config(path: str | Path) -> GatewayConfig:
    """Read, substitute, validate. Raises ConfigError with every problem listed."""
    file = Path(path)
    try:
        if file.stat().st_size > _MAX_CONFIG_BYTES:
            raise ConfigError(f"{file}: config file is larger than 4 MiB")
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read config ({exc.strerror})") from exc
    return parse_config(text, source=str(file))


def parse_config(text: str, *, source: str = "<config>") -> GatewayConfig:
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping")
    return build_config(_substitute(raw, source), source=source)


def build_config(raw: Mapping[str, Any], *, source: str = "<config>") -> GatewayConfig:
    try:
        config = GatewayConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(format_errors(source, exc)) from exc
    validate_layers(config.layers, source=source)
    return config


def validate_layers(layers: Sequence[Mapping[str, Any]], *, source: str) -> list[BaseModel]:
    """Validate each layer entry against its own Config model (chosen by ``type``)."""
    from vallum.layers import layer_class, layer_names

    configs: list[BaseModel] = []
    problems: list[str] = []
    for index, entry in enumerate(layers):
        kind = entry.get("type")
        cls = layer_class(kind) if isinstance(kind, str) else None
        if cls is None:
            known = ", ".join(sorted(layer_names()))
            problems.append(f"layers[{index}].type: unknown layer {kind!r}; known: {known}")
            continue
        try:
            configs.append(cls.Config.model_validate(entry))
        except ValidationError as exc:
            problems.extend(_lines(exc, prefix=f"layers[{index}]"))
    if problems:
        raise ConfigError(f"{source}: invalid configuration\n  " + "\n  ".join(problems))
    return configs


def format_errors(source: str, exc: ValidationError) -> str:
    return f"{source}: invalid configuration\n  " + "\n  ".join(_lines(exc, prefix=""))


def _lines(exc: ValidationError, *, prefix: str) -> list[str]:
    lines = []
    for error in exc.errors():
        path = prefix
        for step in error["loc"]:
            path += f"[{step}]" if isinstance(step, int) else (f".{step}" if path else str(step))
        message = error["msg"].removeprefix("Value error, ")
        # Cross-field checks (model validators) have no location: their message names the path.
        lines.append(f"{path}: {message}" if path else message)
    return lines


def _substitute(value: Any, source: str) -> Any:
    if isinstance(value, str):
        return _ENV.sub(lambda m: _env(m, source), value)
    if isinstance(value, list):
        return [_substitute(item, source) for item in value]
    if isinstance(value, dict):
        return {key: _substitute(item, source) for key, item in value.items()}
    return value


def _env(match: re.Match[str], source: str) -> str:
    name, default = match.group(1), match.group(2)
    value = os.environ.get(name)
    if value is not None:
        return value
    if default is None:
        raise ConfigError(f"{source}: environment variable {name} is not set and has no default")
    return default
