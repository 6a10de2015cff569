"""Vallum: a security gateway for AI model APIs."""

from vallum.config import GatewayConfig, load_config
from vallum.errors import VallumError
from vallum.gateway import Gateway
from vallum.guard import Guard
from vallum.proxy.app import GatewayApp

__all__ = ["Gateway", "GatewayApp", "GatewayConfig", "Guard", "VallumError", "load_config"]
__version__ = "0.1.0"
