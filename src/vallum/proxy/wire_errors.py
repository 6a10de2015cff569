"""Error bodies in each wire format, with a stable code and the request id."""

from __future__ import annotations

import orjson

from vallum.pipeline.exchange import WireFormat
from vallum.pipeline.layer import Deny

__all__ = ["error_body"]

_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
}


def error_body(wire: WireFormat, deny: Deny, request_id: str) -> bytes:
    if wire is WireFormat.ANTHROPIC:
        error_type = _ANTHROPIC_TYPES.get(deny.status)
        if error_type is None:
            error_type = "api_error" if deny.status >= 500 else "invalid_request_error"
        return orjson.dumps(
            {
                "type": "error",
                "error": {"type": error_type, "message": deny.message, "code": deny.code},
                "request_id": request_id,
            }
        )
    return orjson.dumps(
        {
            "error": {
                "message": deny.message,
                "type": deny.error_type,
                "param": deny.param,
                "code": deny.code,
                "request_id": request_id,
            }
        }
    )
