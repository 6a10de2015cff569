"""Detectors: pure, synchronous, fast functions usable without the proxy."""
