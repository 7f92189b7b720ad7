"""The Azure ML workspace: the same operations as the local workspace, through ``MLClient``.

Every name and version follows the reference flow: data assets ``PLANT1_CIRC1:<cutoff>``
(MLTable, immutable), the environment ``sensor-forecasting-env:<spec hash>``, components
at their pinned semver, pipeline jobs named by the caller's run id and bound to the
registered component versions. Each asset is looked up before it is created, so running
a flow again changes nothing. Settings are checked before anything is built or sent, and
SDK errors surface as one UserError line naming the operation.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from sensor_pipelines.backends.azure.endpoints import AzureReleaseOperations
from sensor_pipelines.backends.azure.errors import azure_call, azure_error, first_line
from sensor_pipelines.backends.azure.job_yaml import bind_component_refs
from sensor_pipelines.backends.azure.runs import (
    TERMINAL,
    AzurePipelineRun,
    LazyOutputs,
    normalize_status,
    output_bindings,
)
from sensor_pipelines.backends.azure.settings import check_settings
from sensor_pipelines.backends.base import AssetVersion, DataAsset, ModelVersion, NodeRun, RunStatus
from sensor_pipelines.core.config.schema import AzureSettings, EnvConfig
from sensor_pipelines.core.errors import AssetConflictError, UserError
from sensor_pipelines.core.fileio import read_json, write_json_atomic

log = logging.getLogger(__name__)
JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")
_ASSET_REF = re.compile(r"(?:environments/([^/]+)/versions/([^/]+)$)|(?:^(?:azureml:)?([^:/]+):([^:/]+)$)")
RUN_RECORD = "run.json"
FINGERPRINT_TAGS = {"interface": "fingerprint_interface", "code": "fingerprint_code"}


class AzureWorkspace(AzureReleaseOperations):
    """Data assets, environment, components and pipeline jobs of one Azure ML workspace."""

    backend = "azure"

    def __init__(self, env: EnvConfig, env_file: str, ml_client: Any = None, runs_dir: Path | None = None):
        self.env = env
        self.env_file = str(env_file)
        self.experiment_name = env.experiment_name
        self.runs_dir = Path(runs_dir) if runs_dir is not None else Path(env.workspace_root) / env.name / "runs"
        self._ml_client = ml_client

    # -- settings and client ---------------------------------------------------------------------
    @property
    def settings(self) -> AzureSettings:
        return self.env.azure or AzureSettings()

    def check_settings(self, for_runs: bool = False) -> AzureSettings:
        """Subscription, resource group and workspace (and compute for runs) or one UserError line."""
        return check_settings(self.env, self.env_file, for_runs=for_runs)

    @property
    def ml_client(self) -> Any:
        """The MLClient of this workspace (created on first use, with DefaultAzureCredential)."""
        settings = self.check_settings()
        if self._ml_client is None:
            from azure.ai.ml import MLClient
            from azure.core.exceptions import AzureError
            from azure.identity import DefaultAzureCredential

            try:
                self._ml_client = MLClient(DefaultAzureCredential(), settings.subscription_id,
                                           settings.resource_group, settings.workspace_name)
            except (AzureError, ValueError) as exc:  # e.g. a malformed setting the client rejects
                raise azure_error("client setup", exc) from exc
        return self._ml_client

    @property
    def workspace_label(self) -> str:
        return f"{self.settings.workspace_name} ({self.env_file})"

    # -- data assets -----------------------------------------------------------------------------
    def get_data_asset(self, name: str, version: str) -> DataAsset | None:
        """The registered asset, or None when ``name:version`` is not registered (``az ml data show``)."""
        data = self._get("data", name, version)
        return None if data is None else _data_asset(data)

    def list_data_asset_versions(self, name: str) -> list[str]:
        """Every registered version (cutoff date) of a data asset, oldest first."""
        from azure.core.exceptions import ResourceNotFoundError

        client = self.ml_client
        with azure_call(f"data.list {name}"):
            try:
                return sorted(str(d.version) for d in client.data.list(name=name))
            except ResourceNotFoundError:
                return []

    def register_data_asset(self, name: str, version: str, frame, quality: dict) -> tuple[DataAsset, bool]:
        """Register an MLTable snapshot; returns (asset, created).

        Same content again is a no-op; different content for an existing version raises
        AssetConflictError. The MLTable folder is written to a temp folder and uploaded.
        """
        from azure.ai.ml.constants import AssetTypes
        from azure.ai.ml.entities import Data
        from azure.core.exceptions import AzureError

        from sensor_pipelines.core.data.mltable import write_mltable
        from sensor_pipelines.core.data.snapshot import content_hash

        digest = content_hash(frame)
        existing = self.get_data_asset(name, version)
        if existing is not None:
            return _same_snapshot(existing, digest), False
        rows = int(len(frame))
        tags = {
            "content_hash": digest,
            "cutoff_date": version,
            "rows": str(rows),
            "columns": ",".join(str(c) for c in frame.columns),
            "first_timestamp": str(frame.iloc[0, 0]) if rows else "",
            "last_timestamp": str(frame.iloc[-1, 0]) if rows else "",
        }
        operation = f"data.create_or_update {name}:{version}"
        with tempfile.TemporaryDirectory(prefix="sensor-pipelines-mltable-") as tmp:
            folder = write_mltable(frame, Path(tmp) / f"{name}_{version}")
            data = Data(name=name, version=version, type=AssetTypes.MLTABLE, path=str(folder),
                        description=f"{name} readings up to the cutoff date {version} ({rows} rows)",
                        tags=tags, properties={"quality": json.dumps(quality, sort_keys=True, default=str)})
            client = self.ml_client
            try:
                created = client.data.create_or_update(data)
            except AzureError as exc:
                raced = self.get_data_asset(name, version)  # registered concurrently by another job?
                if raced is None:
                    raise azure_error(operation, exc) from exc
                return _same_snapshot(raced, digest), False
        return _data_asset(created), True

    def data_input(self, name: str, version: str):
        """The pipeline input for a registered asset: ``azureml:NAME:VERSION`` (mltable)."""
        from azure.ai.ml import Input

        if self.get_data_asset(name, version) is None:
            raise UserError(f"Data asset {name}:{version} is not registered in Azure ML workspace "
                            f"{self.workspace_label}")
        return Input(type="mltable", path=f"azureml:{name}:{version}")

    # -- environment and components --------------------------------------------------------------
    def get_environment(self, name: str, version: str) -> AssetVersion | None:
        found = self._get("environments", name, version)
        return None if found is None else AssetVersion("environment", name, str(version))

    def ensure_environment(self) -> tuple[AssetVersion, bool]:
        """Register ``sensor-forecasting-env`` at its spec-hash version unless it exists."""
        from azure.ai.ml.entities import Environment

        from sensor_pipelines.core import runtime_env as spec

        conda_file, image = spec.CONDA_FILE, spec.BASE_IMAGE  # read now: the spec may have changed
        name, version = spec.ENVIRONMENT_NAME, spec.environment_version(conda_file, image)
        existing = self.get_environment(name, version)
        if existing is not None:
            return existing, False
        environment = Environment(name=name, version=version, image=image, conda_file=str(conda_file),
                                  description=f"Runtime of the sensor-pipelines components (spec hash {version})")
        with azure_call(f"environments.create_or_update {name}:{version}"):
            self.ml_client.environments.create_or_update(environment)
        return AssetVersion("environment", name, version), True

    def get_component(self, name: str, version: str) -> AssetVersion | None:
        found = self._get("components", name, version)
        return None if found is None else AssetVersion("component", name, str(version))

    def ensure_component(self, component, fingerprint: dict[str, str] | None = None) -> tuple[AssetVersion, bool]:
        """Register a component at its pinned version unless it exists; returns (component, created).

        Versions are immutable: a registered version that runs another environment, or whose
        recorded fingerprint differs from ``fingerprint``, raises AssetConflictError.
        """
        name, version = component.name, component.version
        if not version:
            raise UserError(f"component {name} has no version; pin one in its @command_component decorator")
        version = str(version)
        existing = self._get("components", name, version)
        if existing is not None:
            problems = _component_drift(existing, component, fingerprint)
            if problems:
                raise AssetConflictError(
                    f"Component {name}:{version} is already registered in Azure ML with {'; '.join(problems)}; "
                    f"bump its version (versions are immutable)"
                )
            return AssetVersion("component", name, version), False
        entity = copy.deepcopy(component)  # never mutate the shared mldesigner component
        recorded = {tag: fingerprint[key] for key, tag in FINGERPRINT_TAGS.items() if key in (fingerprint or {})}
        entity.tags = {**(component.tags or {}), **recorded}
        with azure_call(f"components.create_or_update {name}:{version}"):
            self.ml_client.components.create_or_update(entity)
        return AssetVersion("component", name, version), True

    # -- pipelines -------------------------------------------------------------------------------
    def prepare_pipeline_runs(self) -> None:
        """Nothing to start ahead: Azure ML runs the nodes."""

    def run_pipeline(self, job, run_id: str, tags: dict[str, str], force: bool = False,
                     echo: Callable[[str], None] = print) -> AzurePipelineRun:
        """Submit a DSL pipeline as job ``run_id``, stream its logs until it ends, return its result.

        Every node is bound to its registered component version (``azureml:NAME:VERSION``), so
        Azure ML runs exactly the registered code and environment. Never raises for a failed job.
        """
        from azure.core.exceptions import AzureError, ClientAuthenticationError

        settings = self.check_settings(for_runs=True)
        if not JOB_NAME.match(run_id):
            raise UserError(f"{run_id!r} is not a valid Azure ML job name (letters, digits, '-' and '_')")
        started = time.monotonic()
        client = self.ml_client
        nodes = self._bind_registered_components(job)
        job.name = run_id
        job.display_name = run_id
        job.experiment_name = self.env.experiment_name
        job.settings.default_compute = settings.compute
        job.settings.force_rerun = bool(force)
        job.tags = {**(job.tags or {}), **{k: str(v) for k, v in tags.items()}}
        bindings = output_bindings(job)
        local_dir = self.runs_dir / run_id
        pipeline = getattr(job, "component", None)
        pipeline_name = getattr(pipeline, "name", None) or "pipeline"

        with azure_call(f"jobs.create_or_update {run_id}"):
            submitted = client.jobs.create_or_update(job)
        studio_url = getattr(submitted, "studio_url", None)
        name = getattr(submitted, "name", None) or run_id
        echo(f"Submitted pipeline job {name} to {self.settings.workspace_name} (experiment "
             f"{self.env.experiment_name}, compute {settings.compute}): {studio_url or 'no studio URL'}")
        result = AzurePipelineRun(run_id=name, run_dir=studio_url or str(local_dir), pipeline=pipeline_name,
                                  status=normalize_status(getattr(submitted, "status", None) or "NotStarted"),
                                  tags=dict(job.tags), studio_url=studio_url)
        self._save(result, bindings)

        echo(f"Streaming logs of {name} until it ends (Ctrl-C stops watching, not the job)...")
        try:
            client.jobs.stream(name)
        except ClientAuthenticationError as exc:
            raise azure_error(f"jobs.stream {name}", exc) from exc
        except AzureError as exc:  # JobException for a failed job or an interrupted stream: the status tells
            log.debug("streaming %s ended with %s", name, first_line(exc))
        with azure_call(f"jobs.get {name}"):
            final = client.jobs.get(name)
        result.azure_status = str(getattr(final.status, "value", final.status))
        result.status = normalize_status(final.status)
        result.studio_url = getattr(final, "studio_url", None) or studio_url
        result.run_dir = result.studio_url or result.run_dir
        result.nodes = self._node_results(name, nodes, bindings, result.status)
        result.seconds = round(time.monotonic() - started, 2)
        self._save(result, bindings)
        if result.status not in TERMINAL:
            echo(f"Job {name} is still {result.azure_status}; follow it at {result.run_dir} "
                 f"or cancel it with `az ml job cancel -n {name}`")
        else:
            echo(f"Job {name} {result.status}: {result.run_dir}")
        return result

    def _bind_registered_components(self, job) -> dict[str, tuple[str, str, list[str]]]:
        """Point every node at ``azureml:NAME:VERSION`` after checking that version is registered.

        ``Command.component`` has no setter; ``_component`` is what azure-ai-ml itself sets
        when it resolves a node (``CachedNodeResolver``) and what it serialises as componentId.
        """
        nodes: dict[str, tuple[str, str, list[str]]] = {}
        checked: set[tuple[str, str]] = set()
        for node_name, node in job.jobs.items():
            component = node.component
            if isinstance(component, str):
                ref = _parse_ref(component)
                if ref is None:
                    raise UserError(f"node {node_name!r} references component {component!r}, not NAME:VERSION")
                name, version = ref
                ports = list(node.outputs)
            else:
                name, version, ports = component.name, component.version, list(component.outputs)
                if not version:
                    raise UserError(f"component {name} of node {node_name!r} has no version; pin one")
            version = str(version)
            if (name, version) not in checked:
                if self.get_component(name, version) is None:
                    raise UserError(
                        f"component {name}:{version} is not registered in Azure ML workspace {self.workspace_label}; "
                        f"run `make register ENV={self.env.name}` first"
                    )
                checked.add((name, version))
            nodes[node_name] = (name, version, ports)
        bind_component_refs(job, {n: (name, version) for n, (name, version, _) in nodes.items()})
        return nodes

    def _node_results(self, run_id: str, nodes: dict[str, tuple[str, str, list[str]]],
                      bindings: dict[str, dict[str, str | None]], status: RunStatus) -> list[NodeRun]:
        """Each node with its child job's status when Azure ML lists it, outputs downloadable."""
        children = self._child_jobs(run_id)
        results = []
        for node_name, (component, version, ports) in nodes.items():
            child = children.get(node_name)
            node = NodeRun(node_name, component, version, status=RunStatus.UNKNOWN,
                                   outputs=LazyOutputs(node_name, ports, self._downloader(run_id, bindings)))
            if child is not None:
                properties = getattr(child, "properties", None) or {}
                node.status = normalize_status(child.status)
                if node.status == RunStatus.COMPLETED and properties.get("azureml.isreused") == "true":
                    node.status = RunStatus.REUSED
                node.job_name = getattr(child, "name", None)
                node.log = getattr(child, "studio_url", None)
            elif status == RunStatus.COMPLETED:
                node.status = RunStatus.COMPLETED
            results.append(node)
        return results

    def _child_jobs(self, run_id: str) -> dict[str, Any]:
        """Child jobs by node name (their display name); empty when they cannot be listed."""
        from azure.core.exceptions import AzureError

        try:
            children = list(self.ml_client.jobs.list(parent_job_name=run_id))
        except AzureError:
            return {}
        return {str(getattr(c, "display_name", None) or c.name): c for c in children}

    def _downloader(self, run_id: str, bindings: dict[str, dict[str, str | None]]):
        return lambda node, port: self.download_output(run_id, node, port, bindings)

    def download_output(self, run_id: str, node: str, port: str,
                        bindings: dict[str, dict[str, str | None]] | None = None) -> str:
        """Download a node output of a finished job to ``runs/<run>/<node>/outputs/<port>``, once.

        Outputs bound to a pipeline output are taken from the pipeline job; others from the
        node's child job.
        """
        final = self.runs_dir / run_id / node / "outputs" / port
        if final.exists():
            return str(final)
        bindings = bindings if bindings is not None else self._bindings(run_id)
        output = (bindings.get(node) or {}).get(port)
        if output:
            job_name, output_name = run_id, output
        else:
            child = self._child_jobs(run_id).get(node)
            if child is None:
                raise UserError(f"run {run_id} has no child job for node {node!r} to download {port!r} from")
            job_name, output_name = child.name, port
        staging = final.parent / f".download-{port}-{uuid.uuid4().hex[:8]}"
        try:
            with azure_call(f"jobs.download {job_name} output {output_name}"):
                self.ml_client.jobs.download(job_name, download_path=str(staging), output_name=output_name)
            downloaded = staging / "named-outputs" / output_name
            if not downloaded.exists():
                raise UserError(f"run {run_id}: output {node}.{port} has no files in Azure ML (job {job_name})")
            try:
                downloaded.rename(final)
            except OSError:  # downloaded concurrently
                if not final.exists():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return str(final)

    def pipeline_output_json(self, run_id: str, node: str, port: str, filename: str) -> Any:
        """Read a JSON file from a node output of a finished pipeline job."""
        path = Path(self.download_output(run_id, node, port)) / filename
        if not path.is_file():
            raise UserError(f"run {run_id}: output {node}.{port} has no {filename}")
        return read_json(path)

    def _bindings(self, run_id: str) -> dict[str, dict[str, str | None]]:
        """Node output -> pipeline output bindings, from the local record or the job itself."""
        record = self.runs_dir / run_id / RUN_RECORD
        if record.is_file():
            return read_json(record).get("bindings", {})
        with azure_call(f"jobs.get {run_id}"):
            job = self.ml_client.jobs.get(run_id)
        return output_bindings(job) if getattr(job, "jobs", None) else {}

    def _save(self, result: AzurePipelineRun, bindings: dict[str, dict[str, str | None]]) -> None:
        write_json_atomic(self.runs_dir / result.run_id / RUN_RECORD, {**result.to_record(), "bindings": bindings})

    # -- models and tracking ---------------------------------------------------------------------
    @property
    def tracking_uri(self) -> str:
        """The workspace's MLflow tracking URI (``azureml://...``)."""
        name = self.check_settings().workspace_name
        with azure_call(f"workspaces.get {name}"):
            return self.ml_client.workspaces.get(name).mlflow_tracking_uri

    def ensure_tracking_store(self) -> str:
        """Nothing to create on Azure ML (experiments appear with their first job): the experiment name."""
        return self.env.experiment_name

    def set_model_version_tags(self, name: str, version: str, tags: dict[str, str]) -> None:
        """Set tags on a registered model version (``az ml model update --set tags.k=v``)."""
        model = self._get("models", name, version)
        if model is None:
            raise UserError(f"model {name}:{version} is not registered in Azure ML workspace {self.workspace_label}")
        model.tags = {**(model.tags or {}), **{k: str(v) for k, v in tags.items()}}
        with azure_call(f"models.create_or_update {name}:{version}"):
            self.ml_client.models.create_or_update(model)

    def latest_model_versions(self) -> dict[str, ModelVersion]:
        """The latest version of every registered model, by model name."""
        self.check_settings()
        latest: dict[str, dict[str, Any]] = {}
        with azure_call("models.list"):
            for model in self.ml_client.models.list():
                versions = [m for m in self.ml_client.models.list(name=model.name) if str(m.version).isdigit()]
                if versions:
                    best = max(versions, key=lambda m: int(m.version))
                    latest[model.name] = ModelVersion(model.name, int(best.version), dict(best.tags or {}))
        return latest

    # -- helpers ---------------------------------------------------------------------------------
    def _get(self, kind: str, name: str, version: str) -> Any | None:
        """``ml_client.<kind>.get(name, version)``; None when it does not exist."""
        from azure.core.exceptions import ResourceNotFoundError

        client = self.ml_client
        with azure_call(f"{kind}.get {name}:{version}"):
            try:
                return getattr(client, kind).get(name=name, version=str(version))
            except ResourceNotFoundError:
                return None


def _data_asset(data) -> DataAsset:
    """A registered Azure ML data asset as a DataAsset, from its tags and properties."""
    tags = dict(getattr(data, "tags", None) or {})
    properties = dict(getattr(data, "properties", None) or {})
    rows = tags.get("rows", "")
    try:
        quality = json.loads(properties.get("quality", "{}"))
    except ValueError:
        quality = {}
    created = getattr(getattr(data, "creation_context", None), "created_at", None)
    return DataAsset(
        name=data.name, version=str(data.version), content_hash=tags.get("content_hash"),
        rows=int(rows) if str(rows).isdigit() else None,
        columns=[c for c in tags.get("columns", "").split(",") if c],
        first_timestamp=tags.get("first_timestamp") or None, last_timestamp=tags.get("last_timestamp") or None,
        created_at=str(created) if created else None, quality=quality, path=str(getattr(data, "path", "") or ""),
    )


def _same_snapshot(existing: DataAsset, digest: str) -> DataAsset:
    from sensor_pipelines.core.data.snapshot import ensure_same_snapshot

    ensure_same_snapshot(existing.name, existing.version, existing.content_hash, digest,
                         registered=f"registered {existing.created_at}, {existing.rows} rows", where=" in Azure ML")
    return existing


def _parse_ref(reference: Any) -> tuple[str, str] | None:
    """(name, version) of ``azureml:NAME:VERSION``, ``NAME:VERSION`` or an ARM id ``.../NAME/versions/V``."""
    if not reference or not isinstance(reference, str):
        return None
    match = _ASSET_REF.search(reference.rstrip("/"))
    if not match:
        return None
    return (match.group(1), match.group(2)) if match.group(1) else (match.group(3), match.group(4))


def _component_drift(existing, component, fingerprint: dict[str, str] | None) -> list[str]:
    """How a registered component version differs from the code's (environment, fingerprint)."""
    problems = []
    have, want = _parse_ref(getattr(existing, "environment", None)), _parse_ref(component.environment)
    if have and want and have != want:
        problems.append(f"environment {have[0]}:{have[1]} (the code now uses {want[0]}:{want[1]})")
    tags = getattr(existing, "tags", None) or {}
    for key, tag in FINGERPRINT_TAGS.items():
        if fingerprint and key in fingerprint and tags.get(tag) and tags[tag] != fingerprint[key]:
            problems.append(f"other {key}")
    return problems
