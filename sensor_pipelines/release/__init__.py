"""Release (not built yet): promotion to the shared registry, batch endpoints, scoring, approvals.

Contract: built on ``app``, ``pipelines``, ``backends`` and ``core`` only; independent of
``fleet`` and ``monitoring`` (import-linter layers contract). See docs/architecture.md.
"""
