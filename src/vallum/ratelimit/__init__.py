"""Rate limits, token quotas, concurrency and budgets: specs, resolution and backends."""

from __future__ import annotations

from vallum.ratelimit.backend import Adjustment, LimitBackend, open_backend
from vallum.ratelimit.spec import Charge, CounterState, Limit, Measure, Quota, Verdict

__all__ = [
    "Adjustment",
    "Charge",
    "CounterState",
    "Limit",
    "LimitBackend",
    "Measure",
    "Quota",
    "Verdict",
    "open_backend",
]
