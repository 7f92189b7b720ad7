"""Monitoring (not built yet): drift and quality monitors, alerts, the retraining policy.

Contract: built on ``app``, ``pipelines``, ``backends`` and ``core`` only (the statistics
live in the core so components and notebooks share them); independent of ``fleet`` and
``release`` (import-linter layers contract). See docs/architecture.md.
"""
