"""Many circuits at once: which changed, what would retrain, the parallel fan-out, the gate.

Independent of ``release`` and ``monitoring`` (import-linter layers contract).
"""
