"""Events for detector tests."""

from __future__ import annotations

from typing import Any

from vallum.anomaly.events import CallEvent, ip_range


def event(at: float, **fields: Any) -> CallEvent:
    ip = fields.pop("ip", "10.0.0.5")
    values: dict[str, Any] = {
        "at": at,
        "request_id": f"req_{at}",
        "key_id": "key0000000000001",
        "principal": "p",
        "team": None,
        "ip": ip,
        "ip_range": ip_range(ip),
        "model": "m",
        "input_tokens": 50,
        "output_tokens": 50,
        "latency": 0.1,
        "status": 200,
        "decided_by": None,
        "finding_kinds": (),
        "auth_failure": None,
        "logprobs": False,
        "top_logprobs": 0,
        "n": 1,
        "temperature": 0.0,
        "text": "hello",
    }
    values.update(fields)
    return CallEvent(**values)
