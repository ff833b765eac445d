"""Detectors: pure functions of (store data, now, options), registered by kebab-case name."""
