"""Backends: one workspace interface, a local and an Azure ML implementation."""

from __future__ import annotations

from pathlib import Path

from sensor_pipelines.config.schema import RunConfig
from sensor_pipelines.errors import UserError


def open_workspace(config: RunConfig):
    """The workspace of the configured env (the CLI's only backend switch)."""
    env = config.env
    if env.backend == "local":
        from sensor_pipelines.backends.local.workspace import LocalWorkspace

        root = Path(env.workspace_root)
        if not root.is_absolute():
            root = Path(config.project_root) / root
        return LocalWorkspace(root / env.name, experiment_name=env.experiment_name)
    raise UserError(
        f"env {env.name!r} uses backend {env.backend!r}, which this version cannot run yet; "
        f"use ENV=local (conf/env/local.yaml)"
    )
