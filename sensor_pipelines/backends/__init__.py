"""Backends: one workspace interface, a local and an Azure ML implementation."""

from __future__ import annotations

from pathlib import Path

from sensor_pipelines.core.config.schema import RunConfig
from sensor_pipelines.core.errors import UserError


def open_workspace(config: RunConfig):
    """The workspace of the configured env (the CLI's only backend switch)."""
    env = config.env
    root = Path(env.workspace_root)
    if not root.is_absolute():
        root = Path(config.project_root) / root
    if env.backend == "local":
        from sensor_pipelines.backends.local.workspace import LocalWorkspace

        return LocalWorkspace(root / env.name, experiment_name=env.experiment_name)
    if env.backend == "azure":
        from sensor_pipelines.backends.azure.workspace import AzureWorkspace

        env_file = Path(config.project_root) / "conf" / "env" / f"{env.name}.yaml"
        try:
            env_file = env_file.relative_to(Path.cwd())
        except ValueError:
            pass
        return AzureWorkspace(env, str(env_file), runs_dir=root / env.name / "runs")
    raise UserError(f"env {env.name!r}: unknown backend {env.backend!r} (local or azure)")


def open_registry(config: RunConfig):
    """The shared registry every env promotes to and deploys from.

    Local: ``<workspace_root>/registry/`` (one folder for all local envs). Azure: the Azure ML
    registry named by ``azure.registry_name`` (``AZUREML_REGISTRY``).
    """
    env = config.env
    root = Path(env.workspace_root)
    if not root.is_absolute():
        root = Path(config.project_root) / root
    if env.backend == "local":
        from sensor_pipelines.backends.local.registry import LocalRegistry

        return LocalRegistry(root / "registry")
    if env.backend == "azure":
        from sensor_pipelines.backends.azure.registry import AzureRegistry

        env_file = Path(config.project_root) / "conf" / "env" / f"{env.name}.yaml"
        return AzureRegistry(env, str(env_file))
    raise UserError(f"env {env.name!r}: unknown backend {env.backend!r} (local or azure)")
