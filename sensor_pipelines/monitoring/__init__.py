"""Monitoring: run a circuit's monitor (``monitor``), alerts with debounce (``alerts``), drift-triggered
retraining (``retrain``) and the env's monitors (``setup``).

Built on ``app``, ``pipelines``, ``backends`` and ``core`` only (the statistics live in the core so
components and notebooks share them); independent of ``fleet`` and ``release`` (import-linter
layers contract). See docs/architecture.md#monitoring.
"""
