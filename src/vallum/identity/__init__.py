"""Identity: who is calling (API keys, JWTs, mTLS) and the store of keys, teams and roles."""

from vallum.identity.model import AuthMethod, Identity, PrincipalKind

__all__ = ["AuthMethod", "Identity", "PrincipalKind"]
