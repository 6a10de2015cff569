"""Fuzzing: a fixed example budget in CI, more with ``make fuzz`` (VALLUM_FUZZ_EXAMPLES)."""

from __future__ import annotations

import os
from collections import Counter

import pytest
from hypothesis import HealthCheck, settings

# How many examples each fuzz test draws; ``make fuzz`` raises it for long runs.
EXAMPLES = int(os.environ.get("VALLUM_FUZZ_EXAMPLES", "0")) or None
TALLY: Counter[str] = Counter()  # requests sent and responses >= 500, over the session


def fuzz_settings(ci_examples: int) -> settings:
    """``ci_examples`` per test in CI (VALLUM_FUZZ_EXAMPLES overrides); no deadline, no
    example database: each run draws afresh."""
    return settings(
        max_examples=EXAMPLES or ci_examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TALLY["requests"]:
        terminalreporter.write_line(
            f"fuzz: {TALLY['requests']} requests sent, {TALLY['server_errors']} answered >= 500"
        )
