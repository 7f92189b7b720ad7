"""The local workspace: one folder per env holding data assets, runs and MLflow.

Layout (under ``<workspace_root>/<env>/``)::

    data/<NAME>/<VERSION>/     MLTable + data.parquet + asset.json (immutable)
    mlflow.db, mlartifacts/    MLflow tracking store and model registry (SQLite)
    runs/<run-id>/             pipeline runs: run.json, per node log and outputs
    cache/                     node cache entries (reuse of unchanged nodes)
    endpoints/<endpoint>.json  batch endpoints: deployments (pinned model and components), the
                               default, its history, scoring runs
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from sensor_pipelines.backends.base import (
    AssetVersion,
    DataAsset,
    Deployment,
    DeploymentSpec,
    Endpoint,
    ModelVersion,
    PipelineRun,
    ScheduleSpec,
)
from sensor_pipelines.backends.local.runner import LocalRunner
from sensor_pipelines.core.errors import AssetConflictError, UserError
from sensor_pipelines.core.fileio import read_json, write_json_atomic

ASSET_FILE = "asset.json"
ASSET_FIELDS = ("name", "version", "content_hash", "rows", "columns", "first_timestamp", "last_timestamp",
                "created_at", "quality")


def _asset(meta: dict[str, Any], folder: Path) -> DataAsset:
    return DataAsset(**{k: meta.get(k) for k in ASSET_FIELDS if k in meta}, path=str(folder))


class LocalWorkspace:
    """Data assets, pipeline runs and the MLflow store of one local env."""

    backend = "local"

    def __init__(self, root: str | Path, experiment_name: str = "sensor-forecasting"):
        self.root = Path(root).resolve()
        self.experiment_name = experiment_name

    def check_settings(self, for_runs: bool = False) -> None:
        """Nothing to check: a local workspace needs no settings or credentials."""

    # -- paths --------------------------------------------------------------------------------
    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.root / 'mlflow.db'}"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def cache_dir(self) -> Path:
        return self.root / "cache"

    def data_asset_path(self, name: str, version: str) -> Path:
        return self.root / "data" / name / version

    # -- data assets --------------------------------------------------------------------------
    def get_data_asset(self, name: str, version: str) -> DataAsset | None:
        """The registered asset, or None when that name:version is not registered."""
        folder = self.data_asset_path(name, version)
        return _asset(read_json(folder / ASSET_FILE), folder) if (folder / ASSET_FILE).is_file() else None

    def list_data_asset_versions(self, name: str) -> list[str]:
        folder = self.root / "data" / name
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if (p / ASSET_FILE).is_file())

    def register_data_asset(self, name: str, version: str, frame, quality: dict) -> tuple[DataAsset, bool]:
        """Register an MLTable snapshot; returns (metadata, created).

        Same content again is a no-op; different content for an existing version is an
        error. The folder appears whole or not at all (written aside, then renamed).
        """
        from sensor_pipelines.core.data.mltable import write_mltable
        from sensor_pipelines.core.data.snapshot import content_hash

        digest = content_hash(frame)
        existing = self.get_data_asset(name, version)
        if existing is not None:
            return _same_snapshot(existing, digest), False
        final = self.data_asset_path(name, version)
        tmp = final.parent / f".tmp-{version}-{uuid.uuid4().hex[:8]}"
        meta = {
            "name": name,
            "version": version,
            "type": "mltable",
            "content_hash": digest,
            "rows": int(len(frame)),
            "columns": [str(c) for c in frame.columns],
            "first_timestamp": str(frame.iloc[0, 0]) if len(frame) else None,
            "last_timestamp": str(frame.iloc[-1, 0]) if len(frame) else None,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "quality": quality,
        }
        try:
            tmp.mkdir(parents=True)
            write_mltable(frame, tmp)
            write_json_atomic(tmp / ASSET_FILE, meta)
            try:
                os.rename(tmp, final)
            except OSError:  # another process registered it first
                existing = self.get_data_asset(name, version)
                if existing is None:
                    raise
                return _same_snapshot(existing, digest), False
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return _asset(meta, final), True

    def data_input(self, name: str, version: str):
        """The pipeline input for a registered asset: its local MLTable folder."""
        from azure.ai.ml import Input

        if self.get_data_asset(name, version) is None:
            raise UserError(f"Data asset {name}:{version} is not registered in {self.root}")
        return Input(type="mltable", path=str(self.data_asset_path(name, version)))

    # -- environment and components ----------------------------------------------------------
    def get_environment(self, name: str, version: str) -> AssetVersion | None:
        meta = self.root / "environments" / name / version / "environment.json"
        return AssetVersion("environment", name, version) if meta.is_file() else None

    def ensure_environment(self) -> tuple[AssetVersion, bool]:
        """Record the component environment spec under its hash-derived version, once."""
        from sensor_pipelines.core import runtime_env as spec

        name, version = spec.ENVIRONMENT_NAME, spec.environment_version()
        existing = self.get_environment(name, version)
        if existing is not None:
            return existing, False
        meta = {"name": name, "version": version, "image": spec.BASE_IMAGE, "conda_file": spec.CONDA_FILE.read_text()}
        self._write_whole(self.root / "environments" / name / version, "environment.json", meta)
        return AssetVersion("environment", name, version), True

    def _component_record(self, name: str, version: str) -> dict[str, Any] | None:
        meta = self.root / "components" / name / version / "component.json"
        return read_json(meta) if meta.is_file() else None

    def get_component(self, name: str, version: str) -> AssetVersion | None:
        return AssetVersion("component", name, version) if self._component_record(name, version) else None

    def ensure_component(self, component, fingerprint: dict[str, str]) -> tuple[AssetVersion, bool]:
        """Register a component version (its spec and fingerprint) unless it exists.

        Versions are immutable: the same version with other code or interface is an error.
        """
        name, version, now = component.name, str(component.version), fingerprint
        existing = self._component_record(name, version)
        if existing is not None:
            if existing["fingerprint"] != now:
                raise AssetConflictError(
                    f"Component {name}:{version} is already registered with other code or interface; bump its version"
                )
            return AssetVersion("component", name, version), False
        meta = {"name": name, "version": version, "fingerprint": now, "spec": component._to_dict()}
        self._write_whole(self.root / "components" / name / version, "component.json", meta)
        return AssetVersion("component", name, version), True

    def _write_whole(self, final: Path, filename: str, meta: dict) -> dict:
        """Write ``meta`` into a new folder that appears whole (temp folder, then rename)."""
        tmp = final.parent / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
        try:
            write_json_atomic(tmp / filename, meta)
            try:
                os.rename(tmp, final)
            except OSError:  # registered concurrently
                pass
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return read_json(final / filename)

    # -- pipelines ----------------------------------------------------------------------------
    def prepare_pipeline_runs(self) -> None:
        """Start the warm node worker now: it imports TensorFlow, MLflow... while the caller registers data."""
        from sensor_pipelines.backends.local.workers import NODE_PRELOAD, shared_worker, workers_enabled

        if workers_enabled():
            shared_worker(NODE_PRELOAD)

    def run_pipeline(self, job, run_id: str, tags: dict[str, str], force: bool = False, echo=print) -> PipelineRun:
        """Run a DSL pipeline here with the local runner."""
        return LocalRunner(self, echo=echo).run(job, run_id=run_id, tags=tags, force=force)

    def pipeline_output_json(self, run_id: str, node: str, port: str, filename: str) -> Any:
        """Read a JSON file from a node output of a finished pipeline run."""
        record = self.runs_dir / run_id / "run.json"
        if not record.is_file():
            raise UserError(f"no pipeline run {run_id} in {self.runs_dir}")
        found = next((n for n in read_json(record)["nodes"] if n["name"] == node), None)
        if found is None or port not in found["outputs"]:
            raise UserError(f"run {run_id} has no output {node}.{port}")
        return read_json(Path(found["outputs"][port]) / filename)

    # -- MLflow -------------------------------------------------------------------------------
    def ensure_tracking_store(self) -> str:
        """Create the MLflow store and experiment once; returns the experiment id.

        A file lock serialises first-time creation: SQLite schema migrations race
        when several processes open a new store at once.
        """
        from mlflow.tracking import MlflowClient

        self.root.mkdir(parents=True, exist_ok=True)
        with self._lock("mlflow"):
            client = MlflowClient(self.tracking_uri, self.tracking_uri)
            experiment = client.get_experiment_by_name(self.experiment_name)
            if experiment is not None:
                return experiment.experiment_id
            location = (self.root / "mlartifacts" / self.experiment_name).as_uri()
            return client.create_experiment(self.experiment_name, artifact_location=location)

    def set_model_version_tags(self, name: str, version: str, tags: dict[str, str]) -> None:
        """Set tags on a registered model version (retrying while SQLite is locked)."""
        from mlflow.tracking import MlflowClient

        from sensor_pipelines.core.tracking import retry_when_locked

        client = MlflowClient(self.tracking_uri, self.tracking_uri)
        for key, value in tags.items():
            retry_when_locked(client.set_model_version_tag, name, version, key, value)

    def latest_model_versions(self) -> dict[str, ModelVersion]:
        """The latest version of every registered model, by model name."""
        if not (self.root / "mlflow.db").is_file():
            return {}
        from mlflow.tracking import MlflowClient

        latest: dict[str, ModelVersion] = {}
        for mv in MlflowClient(self.tracking_uri, self.tracking_uri).search_model_versions(max_results=100000):
            if mv.name not in latest or int(mv.version) > latest[mv.name].version:
                latest[mv.name] = ModelVersion(mv.name, int(mv.version), dict(mv.tags))
        return latest

    def get_model_version(self, name: str, version: str) -> ModelVersion | None:
        """A registered model version and its tags, or None."""
        if not (self.root / "mlflow.db").is_file() or not str(version).isdigit():
            return None
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        try:
            mv = MlflowClient(self.tracking_uri, self.tracking_uri).get_model_version(name, str(version))
        except MlflowException:
            return None
        return ModelVersion(mv.name, int(mv.version), dict(mv.tags))

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        """Every registered version of a model, oldest first."""
        if not (self.root / "mlflow.db").is_file():
            return []
        from mlflow.tracking import MlflowClient

        found = MlflowClient(self.tracking_uri, self.tracking_uri).search_model_versions(f"name='{name}'")
        return sorted((ModelVersion(mv.name, int(mv.version), dict(mv.tags)) for mv in found), key=lambda v: v.version)

    def component_fingerprint(self, name: str, version: str) -> dict[str, str] | None:
        record = self._component_record(name, version)
        return record["fingerprint"] if record else None

    def model_content(self, name: str, version: str, dest: Path) -> tuple[str, str]:
        """Copy the model version's files to ``dest``; returns (content hash, the copied folder)."""
        import mlflow.artifacts

        from sensor_pipelines.core.fileio import hash_path

        dest = Path(dest)
        dest.mkdir(parents=True, exist_ok=True)
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        mlflow.set_registry_uri(self.tracking_uri)
        mlflow.set_tracking_uri(self.tracking_uri)
        path = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(dest))
        return hash_path(path)[:32], str(path)

    # -- batch endpoints (release) --------------------------------------------------------------
    @property
    def endpoints_dir(self) -> Path:
        return self.root / "endpoints"

    def _endpoint_file(self, name: str) -> Path:
        return self.endpoints_dir / f"{name}.json"

    def get_endpoint(self, name: str) -> Endpoint | None:
        path = self._endpoint_file(name)
        return _endpoint(read_json(path)) if path.is_file() else None

    def list_endpoints(self) -> list[Endpoint]:
        if not self.endpoints_dir.is_dir():
            return []
        return [_endpoint(read_json(p)) for p in sorted(self.endpoints_dir.glob("*.json"))]

    def _save_endpoint(self, endpoint: Endpoint) -> None:
        from dataclasses import asdict

        write_json_atomic(self._endpoint_file(endpoint.name), asdict(endpoint))

    def deploy(self, spec: DeploymentSpec, scoring_job=None) -> tuple[Endpoint, bool]:
        """Create the endpoint if missing, record the deployment if missing, make it the default.

        The local deployment is a record of what the scoring run binds: the promoted model's folder
        and the pinned component versions (checked against the registry's at every invocation).
        """
        now = _now()
        with self._lock(f"endpoint-{spec.endpoint}"):
            endpoint = self.get_endpoint(spec.endpoint) or Endpoint(spec.endpoint, self.root.name, spec.circuit)
            created = spec.deployment not in endpoint.deployments
            if created:
                endpoint.deployments[spec.deployment] = Deployment(
                    name=spec.deployment, endpoint=spec.endpoint, model_name=spec.model.name,
                    model_version=spec.model.version, source_version=spec.model.source_version,
                    components=dict(spec.components), tags=dict(spec.tags), created_at=now, model_uri=spec.model.uri,
                    scoring=dict(spec.scoring))
            else:
                endpoint.deployments[spec.deployment].tags.update(spec.tags)
            if endpoint.default_deployment != spec.deployment:
                endpoint.default_deployment = spec.deployment
                endpoint.history.append({"deployment": spec.deployment, "at": now, "action": "deploy"})
            self._save_endpoint(endpoint)
        return endpoint, created

    def set_default_deployment(self, endpoint: str, deployment: str, action: str) -> Endpoint:
        with self._lock(f"endpoint-{endpoint}"):
            found = self.get_endpoint(endpoint)
            if found is None or deployment not in found.deployments:
                raise UserError(f"endpoint {endpoint} has no deployment {deployment!r}")
            found.default_deployment = deployment
            found.history.append({"deployment": deployment, "at": _now(), "action": action})
            self._save_endpoint(found)
        return found

    def invoke_endpoint(self, endpoint: Endpoint, scoring_data: str, run_id: str, scoring_job, echo=print) -> PipelineRun:
        """Run ``batch_scoring`` here with the default deployment's pinned model and components."""
        from azure.ai.ml import Input

        deployment = endpoint.default
        if deployment is None:
            raise UserError(f"endpoint {endpoint.name} has no default deployment; run `make deploy` first")
        job = scoring_job(deployment, Input(type="uri_folder", path=str(scoring_data)))
        tags = {"endpoint": endpoint.name, "deployment": deployment.name, **deployment.tags}
        return self.run_pipeline(job, run_id=run_id, tags=tags, force=True, echo=echo)

    def record_score(self, endpoint: str, run: PipelineRun, summary: dict) -> None:
        with self._lock(f"endpoint-{endpoint}"):
            found = self.get_endpoint(endpoint)
            if found is None:
                return
            found.scores.append({"run_id": run.run_id, "status": str(run.status), "at": _now(),
                                 "deployment": found.default_deployment, **summary})
            found.scores = found.scores[-50:]
            self._save_endpoint(found)

    def create_schedule(self, spec: ScheduleSpec, job=None) -> str:
        """Locally the schedule is cron's: the line to install (see ``make schedule``)."""
        return spec.cron

    @contextlib.contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / f".{name}.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _endpoint(data: dict[str, Any]) -> Endpoint:
    deployments = {k: Deployment(**v) for k, v in data.get("deployments", {}).items()}
    return Endpoint(**{**data, "deployments": deployments})


def _same_snapshot(existing: DataAsset, digest: str, where: str = "") -> DataAsset:
    from sensor_pipelines.core.data.snapshot import ensure_same_snapshot

    ensure_same_snapshot(existing.name, existing.version, existing.content_hash, digest,
                         registered=f"registered {existing.created_at}, {existing.rows} rows", where=where)
    return existing
