"""One error tree for Vallum.

::

    VallumError                       public message + stable code + HTTP status
    ├── ConfigError                   bad YAML / settings, raised at start-up
    ├── StorageError                  a backend failed (wraps the driver's error)
    ├── DependencyMissingError        an optional extra is not installed
    ├── ServiceUnavailable            a layer used a service it did not declare (a bug)
    ├── RequestRejected               the request is refused (4xx), by parsing or by a layer
    │   ├── BadRequest                400
    │   ├── Unauthenticated           401
    │   ├── Forbidden                 403
    │   ├── NotFound                  404
    │   ├── MethodNotAllowed          405
    │   ├── PayloadTooLarge           413
    │   ├── UnsupportedMediaType      415
    │   ├── Unprocessable             422
    │   └── RateLimited               429
    └── UpstreamError                 502: the model provider failed
        └── UpstreamTimeout           504

Every error carries a *public* message (safe to send to the client) and a private
``context`` mapping for logs. Neither ever holds a credential or raw prompt text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "BadRequest",
    "ConfigError",
    "DependencyMissingError",
    "Forbidden",
    "MethodNotAllowed",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "RequestRejected",
    "ServiceUnavailable",
    "StorageError",
    "Unauthenticated",
    "Unprocessable",
    "UnsupportedMediaType",
    "UpstreamError",
    "UpstreamTimeout",
    "VallumError",
]


class VallumError(Exception):
    """Base of every error Vallum raises."""

    status: ClassVar[int] = 500
    default_code: ClassVar[str] = "internal_error"
    error_type: ClassVar[str] = "server_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        context: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.public_message = message
        self.code = code or self.default_code
        self.param = param
        self.context: dict[str, Any] = dict(context or {})
        self.headers: dict[str, str] = dict(headers or {})


class ConfigError(VallumError):
    """The configuration is invalid; the message names the YAML path."""

    default_code = "invalid_config"


class StorageError(VallumError):
    """A storage backend failed; the driver's exception is chained as ``__cause__``."""

    default_code = "storage_unavailable"


class DependencyMissingError(VallumError):
    """An optional dependency is missing; the message names the pip extra."""

    default_code = "dependency_missing"


class ServiceUnavailable(VallumError):
    """A layer asked for a gateway service it did not declare in ``needs``, or none is lent."""

    default_code = "service_unavailable"


class RequestRejected(VallumError):
    """The request is refused with a 4xx status."""

    status = 400
    default_code = "invalid_request"
    error_type = "invalid_request_error"


class BadRequest(RequestRejected):
    status = 400


class Unauthenticated(RequestRejected):
    status = 401
    default_code = "invalid_api_key"
    error_type = "authentication_error"


class Forbidden(RequestRejected):
    status = 403
    default_code = "permission_denied"
    error_type = "permission_error"


class NotFound(RequestRejected):
    status = 404
    default_code = "not_found"
    error_type = "not_found_error"


class MethodNotAllowed(RequestRejected):
    status = 405
    default_code = "method_not_allowed"


class PayloadTooLarge(RequestRejected):
    status = 413
    default_code = "request_too_large"
    error_type = "request_too_large"


class UnsupportedMediaType(RequestRejected):
    status = 415
    default_code = "unsupported_media_type"


class Unprocessable(RequestRejected):
    status = 422
    default_code = "unprocessable_entity"


class RateLimited(RequestRejected):
    status = 429
    default_code = "rate_limit_exceeded"
    error_type = "rate_limit_error"


class UpstreamError(VallumError):
    """The upstream model provider failed or answered garbage."""

    status = 502
    default_code = "upstream_error"
    error_type = "api_error"


class UpstreamTimeout(UpstreamError):
    status = 504
    default_code = "upstream_timeout"
