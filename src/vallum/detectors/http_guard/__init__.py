"""HTTP guard tiers: OpenAI moderation, Llama Guard, Azure AI Content Safety / Prompt Shields
and Lakera Guard, each a small adapter behind one cached, pooled tier."""

from vallum.detectors.http_guard.config import GuardApi, HttpGuardConfig
from vallum.detectors.http_guard.tier import HttpGuardTier

__all__ = ["GuardApi", "HttpGuardConfig", "HttpGuardTier"]
