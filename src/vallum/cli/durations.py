"""Durations on the command line: ``90``, ``90s``, ``30m``, ``2h``, ``7d``, ``1.5h``."""

from __future__ import annotations

import argparse
import re

__all__ = ["UNITS", "duration", "parse_duration"]

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhd]?)$")


def parse_duration(text: str) -> float | None:
    """Seconds, or None when ``text`` is not a duration."""
    match = _DURATION.match(text.strip())
    if match is None:
        return None
    return float(match[1]) * UNITS[match[2] or "s"]


def duration(text: str) -> float:
    """An argparse ``type=``: a positive duration in seconds."""
    seconds = parse_duration(text)
    if seconds is None or seconds <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a duration; use seconds or 90s, 30m, 2h, 7d"
        )
    return seconds
