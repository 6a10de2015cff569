"""Configuration: strict models and the YAML loader."""

from vallum.config.loader import build_config, load_config, parse_config
from vallum.config.models import GatewayConfig

__all__ = ["GatewayConfig", "build_config", "load_config", "parse_config"]
