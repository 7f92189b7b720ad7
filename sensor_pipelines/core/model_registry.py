"""Model registration and lineage tags (MLflow model registry, either backend)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sensor_pipelines.core.fileio import hash_path
from sensor_pipelines.core.tracking import component_run

log = logging.getLogger(__name__)

def model_version_tags(*, cutoff_date: str, data_asset_name: str, data_asset_version: str, component_version: str,
                       build_id: str, git_sha: str, config_hash: str, verdict: dict[str, Any]) -> dict[str, str]:
    """The tags every model version carries: lineage, validation status and the checked metrics."""
    from sensor_pipelines.core.runtime_env import environment_version

    tags = {
        "cutoff_date": cutoff_date,
        "environment_version": environment_version(),
        "data_asset_name": data_asset_name,
        "data_asset_version": data_asset_version,
        "component_version": component_version,
        "build_id": build_id,
        "git_sha": git_sha,
        "config_hash": config_hash,
        "validated": "true" if verdict.get("passed") is True else "false",
    }
    for check in verdict.get("checks", []):
        tags[str(check["metric"])] = f"{check['value']:.6g}" if isinstance(check.get("value"), (int, float)) else "nan"
    return tags


def register_model_version(model_dir: str | Path, model_name: str, tags: dict[str, str]) -> dict[str, Any]:
    """Register ``model_dir`` (an MLflow model) as the next version of ``model_name``.

    Idempotent: when a version with the same model content exists, it is returned
    and nothing new is registered.
    """
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    model_hash = hash_path(model_dir)[:32]
    try:
        versions = client.search_model_versions(f"name='{model_name}'")
    except MlflowException:
        versions = []
    for version in versions:
        if version.tags.get("model_hash") == model_hash:
            return {"name": model_name, "version": int(version.version), "created": False, "tags": dict(version.tags)}
    with component_run() as run:
        mlflow.log_artifacts(str(model_dir), artifact_path="model")
        registered = mlflow.register_model(f"runs:/{run.info.run_id}/model", model_name, tags={**tags, "model_hash": model_hash})
    version = client.get_model_version(model_name, registered.version)
    return {"name": model_name, "version": int(version.version), "created": True, "tags": dict(version.tags)}


def register_circuit_model(config, *, model_dir: Path, verdict_dir: Path, registration_dir: Path,
                           data_asset_name: str, data_asset_version: str, component_version: str,
                           build_id: str, git_sha: str) -> dict[str, Any]:
    """Register a circuit's trained model with its tags; write registration.json.

    A model that failed validation is registered too, tagged ``validated=false``.
    """
    from sensor_pipelines.core.config.files import config_hash
    from sensor_pipelines.core.fileio import read_json, write_json_atomic

    verdict = read_json(Path(verdict_dir) / "verdict.json")
    tags = model_version_tags(
        cutoff_date=config.circuit.cutoff_date, data_asset_name=data_asset_name,
        data_asset_version=data_asset_version, component_version=component_version, build_id=build_id,
        git_sha=git_sha, config_hash=config_hash(config), verdict=verdict,
    )
    registered = register_model_version(model_dir, config.circuit.model_name, tags)
    log.info("%s version %s %s (validated=%s)", registered["name"], registered["version"],
             "registered" if registered["created"] else "already registered (same model)", tags["validated"])
    write_json_atomic(Path(registration_dir) / "registration.json", registered)
    return registered
