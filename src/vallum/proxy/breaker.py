"""A circuit breaker per upstream deployment: closed → open → half-open trial → closed."""

from __future__ import annotations

from enum import StrEnum

from vallum.clock import Clock

__all__ = ["BreakerState", "CircuitBreaker"]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Opens after ``threshold`` straight failures; after ``open_seconds`` lets one trial through.

    A failed trial re-opens it with the open period doubled (up to ``max_open_seconds``), so a
    dead upstream is probed carefully rather than hammered.
    """

    __slots__ = (
        "_clock",
        "_failures",
        "_open_for",
        "_opened_at",
        "_trial_in_flight",
        "base_open_seconds",
        "max_open_seconds",
        "state",
        "threshold",
    )

    def __init__(
        self,
        clock: Clock,
        *,
        threshold: int = 3,
        open_seconds: float = 5.0,
        max_open_seconds: float = 60.0,
    ) -> None:
        self._clock = clock
        self.threshold = threshold
        self.base_open_seconds = open_seconds
        self.max_open_seconds = max_open_seconds
        self.state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._open_for = open_seconds
        self._trial_in_flight = False

    def available(self) -> bool:
        """May a request be sent now? (Read-only: use ``acquire`` to actually take the slot.)"""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            return self._clock.monotonic() - self._opened_at >= self._open_for
        return not self._trial_in_flight

    def acquire(self) -> bool:
        """Take permission to send; in half-open state only one trial at a time."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN:
            if self._clock.monotonic() - self._opened_at < self._open_for:
                return False
            self.state = BreakerState.HALF_OPEN
            self._trial_in_flight = False
        if self._trial_in_flight:
            return False
        self._trial_in_flight = True
        return True

    def success(self) -> None:
        self.state = BreakerState.CLOSED
        self._failures = 0
        self._open_for = self.base_open_seconds
        self._trial_in_flight = False

    def failure(self) -> None:
        if self.state is BreakerState.HALF_OPEN:
            longer = max(self._open_for, self.base_open_seconds) * 2
            self._open_for = min(longer, self.max_open_seconds)
            self._open(trial_failed=True)
            return
        self._failures += 1
        if self._failures >= self.threshold:
            self._open(trial_failed=False)

    def allow_trial(self) -> None:
        """An active probe saw the upstream alive: let the next request be the trial now."""
        if self.state is BreakerState.OPEN:
            self._open_for = 0.0

    def force_open(self, seconds: float) -> None:
        """Open for a given time (e.g. an upstream 429's Retry-After)."""
        self.state = BreakerState.OPEN
        self._opened_at = self._clock.monotonic()
        self._open_for = seconds
        self._trial_in_flight = False

    def _open(self, *, trial_failed: bool) -> None:
        self.state = BreakerState.OPEN
        self._opened_at = self._clock.monotonic()
        self._trial_in_flight = False
        if not trial_failed:
            self._open_for = self.base_open_seconds
