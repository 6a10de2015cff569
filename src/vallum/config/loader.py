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

__all__ = [
    "build_config",
    "format_errors",
    "load_config",
    "parse_config",
    "resolve_paths",
    "validate_layers",
]

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")
_MAX_CONFIG_BYTES = 4 * 1024 * 1024


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: a second ``layers:`` must not silently win.

    Booleans are YAML 1.2's (``true`` / ``false`` only): YAML 1.1 reads ``off``, ``on``,
    ``yes`` and ``no`` as booleans, which turned ``pii: off`` into ``pii: false``. Those words
    stay strings here; a boolean field still accepts them (pydantic reads ``"off"`` as False).
    """

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


# YAML 1.2 booleans: the SafeLoader's resolver for bool, without yes/no/on/off.
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def load_config(path: str | Path) -> GatewayConfig:
    """Read, substitute, validate. Raises ConfigError with every problem listed.

    Relative file paths in the file (SQLite URLs, ``path``, ``directory`` and ``*_file``
    fields) are resolved against the folder of the config file, not the working directory.
    """
    file = Path(path)
    try:
        if file.stat().st_size > _MAX_CONFIG_BYTES:
            raise ConfigError(f"{file}: config file is larger than 4 MiB")
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read config ({exc.strerror})") from exc
    return parse_config(text, source=str(file), base_dir=file.resolve().parent)


def parse_config(
    text: str, *, source: str = "<config>", base_dir: Path | None = None
) -> GatewayConfig:
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: invalid YAML: {exc}") from exc
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping")
    missing: list[str] = []
    substituted = _substitute(raw, missing)
    if base_dir is not None:
        substituted = resolve_paths(substituted, base_dir)
    return build_config(substituted, source=source, problems=missing)


def build_config(
    raw: Mapping[str, Any], *, source: str = "<config>", problems: Sequence[str] = ()
) -> GatewayConfig:
    """Validate the whole file at once: every problem found is in the one ConfigError."""
    lines = list(problems)
    config: GatewayConfig | None = None
    try:
        config = GatewayConfig.model_validate(raw)
    except ValidationError as exc:
        lines.extend(_lines(exc, prefix=""))
    layers = raw.get("layers") if config is None else config.layers
    if isinstance(layers, list) and all(isinstance(entry, Mapping) for entry in layers):
        lines.extend(_layer_problems(layers))
    if lines or config is None:
        raise ConfigError(f"{source}: invalid configuration\n  " + "\n  ".join(lines))
    return config


def validate_layers(layers: Sequence[Mapping[str, Any]], *, source: str) -> list[BaseModel]:
    """Validate each layer entry against its own Config model (chosen by ``type``)."""
    configs: list[BaseModel] = []
    problems = _layer_problems(layers, configs)
    if problems:
        raise ConfigError(f"{source}: invalid configuration\n  " + "\n  ".join(problems))
    return configs


def _layer_problems(
    layers: Sequence[Mapping[str, Any]], configs: list[BaseModel] | None = None
) -> list[str]:
    from vallum.layers import layer_class, layer_names

    problems: list[str] = []
    for index, entry in enumerate(layers):
        kind = entry.get("type")
        cls = layer_class(kind) if isinstance(kind, str) else None
        if cls is None:
            known = ", ".join(sorted(layer_names()))
            problems.append(f"layers[{index}].type: unknown layer {kind!r}; known: {known}")
            continue
        try:
            validated = cls.Config.model_validate(entry)
        except ValidationError as exc:
            problems.extend(_lines(exc, prefix=f"layers[{index}]"))
            continue
        if configs is not None:
            configs.append(validated)
    return problems


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


def _substitute(value: Any, missing: list[str], path: str = "") -> Any:
    if isinstance(value, str):
        return _ENV.sub(lambda m: _env(m, missing, path), value)
    if isinstance(value, list):
        return [_substitute(item, missing, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, dict):
        return {
            key: _substitute(item, missing, f"{path}.{key}" if path else str(key))
            for key, item in value.items()
        }
    return value


def _env(match: re.Match[str], missing: list[str], path: str) -> str:
    name, default = match.group(1), match.group(2)
    value = os.environ.get(name)
    if value is not None:
        return value
    if default is None:
        missing.append(f"{path}: environment variable {name} is not set and has no default")
        return ""
    return default


_PATH_KEYS = ("path", "directory")
_PATH_SUFFIXES = ("_file", "_dir", "_path")


def resolve_paths(value: Any, base: Path, key: str = "") -> Any:
    """Relative file paths made absolute against ``base`` (the config file's folder)."""
    if isinstance(value, dict):
        return {k: resolve_paths(v, base, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_paths(item, base, key) for item in value]
    if not isinstance(value, str) or not value:
        return value
    if value.startswith("sqlite:///") and key.endswith("url"):
        rest = value[len("sqlite:///") :]
        if rest.startswith(("/", ":memory:")):
            return value
        return "sqlite:///" + str(base / rest)
    if (key in _PATH_KEYS or key.endswith(_PATH_SUFFIXES)) and "://" not in value:
        path = Path(value).expanduser()
        return value if path.is_absolute() else str(base / path)
    return value
