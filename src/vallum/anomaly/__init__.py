"""Anomaly detection and automatic response: events, baselines, detectors, actions, incidents."""
