"""One-circuit use cases (train one circuit, register its data, register assets), typed results.

Built from the core, a backend workspace and the DSL pipelines; never composes Hydra and
never asks which backend it got.
"""
