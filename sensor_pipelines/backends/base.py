"""The one backend interface: what a workspace does, and the typed results both backends return.

``open_workspace`` (``backends/__init__.py``) returns a :class:`Workspace`; the local
(``backends/local``) and Azure ML (``backends/azure``) workspaces implement it and return
these same types, so callers never ask which backend they got.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Callable, Protocol

import pandas as pd

Echo = Callable[[str], None]


class RunStatus(StrEnum):
    """Status of a pipeline run or of one of its nodes (written to JSON as its value)."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    REUSED = "reused"  # nodes only: an earlier run's outputs were reused
    FAILED = "failed"
    SKIPPED = "skipped"  # nodes only: an upstream node did not finish
    CANCELED = "canceled"
    UNKNOWN = "unknown"

    @property
    def finished_ok(self) -> bool:
        return self in (RunStatus.COMPLETED, RunStatus.REUSED)


@dataclass
class NodeRun:
    """One node of a pipeline run."""

    name: str
    component: str
    version: str
    status: RunStatus = RunStatus.PENDING
    seconds: float = 0.0
    outputs: Mapping[str, str] = field(default_factory=dict)  # port -> local folder
    log: str | None = None  # a log file (local) or the child job's studio URL (Azure)
    error_tail: list[str] = field(default_factory=list)
    started: str | None = None
    ended: str | None = None
    reused_from: str | None = None
    job_name: str | None = None  # Azure: the child job
    mlflow_run_id: str | None = None


@dataclass
class PipelineRun:
    """A pipeline run: overall status and every node's result."""

    run_id: str
    run_dir: str  # the local run folder, or the job's studio URL
    pipeline: str
    status: RunStatus
    tags: dict[str, str]
    nodes: list[NodeRun] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def succeeded(self) -> bool:
        return self.status == RunStatus.COMPLETED

    @property
    def reused_all(self) -> bool:
        """Every node reused an earlier run's outputs (False for a run without nodes)."""
        return bool(self.nodes) and all(n.status == RunStatus.REUSED for n in self.nodes)

    def node(self, name: str) -> NodeRun:
        found = next((n for n in self.nodes if n.name == name), None)
        if found is None:
            raise KeyError(f"run {self.run_id} has no node {name!r} (nodes: {', '.join(n.name for n in self.nodes)})")
        return found

    @property
    def failed_node(self) -> NodeRun | None:
        return next((n for n in self.nodes if n.status == RunStatus.FAILED), None)


@dataclass
class DataAsset:
    """A registered data snapshot (MLTable) ``name:version``; version = the cutoff date."""

    name: str
    version: str
    content_hash: str | None
    rows: int | None = None
    columns: list[str] = field(default_factory=list)
    first_timestamp: str | None = None
    last_timestamp: str | None = None
    created_at: str | None = None
    quality: dict[str, Any] = field(default_factory=dict)
    path: str = ""  # local folder, or the asset's azureml:// path


@dataclass
class AssetVersion:
    """A registered environment or component version."""

    kind: str  # environment | component
    name: str
    version: str


@dataclass
class ModelVersion:
    """A registered model version and its tags."""

    name: str
    version: int
    tags: dict[str, str] = field(default_factory=dict)


class Workspace(Protocol):
    """What every backend's workspace does."""

    backend: str
    experiment_name: str
    runs_dir: Path

    def check_settings(self, for_runs: bool = False) -> None:
        """Raise one UserError line when settings or credentials needed are missing."""

    # data assets
    def get_data_asset(self, name: str, version: str) -> DataAsset | None: ...
    def list_data_asset_versions(self, name: str) -> list[str]: ...
    def register_data_asset(self, name: str, version: str, frame: pd.DataFrame,
                            quality: dict[str, Any]) -> tuple[DataAsset, bool]:
        """(asset, created); same content again is a no-op, other content an AssetConflictError."""
    def data_input(self, name: str, version: str) -> Any:
        """The pipeline ``Input`` of a registered data asset."""

    # environment and components
    def get_environment(self, name: str, version: str) -> AssetVersion | None: ...
    def ensure_environment(self) -> tuple[AssetVersion, bool]: ...
    def get_component(self, name: str, version: str) -> AssetVersion | None: ...
    def ensure_component(self, component: Any, fingerprint: dict[str, str]) -> tuple[AssetVersion, bool]: ...

    # pipeline runs
    def prepare_pipeline_runs(self) -> None:
        """Start ahead what running pipelines here needs, while the caller does other work (local: the warm
        node worker importing the heavy libraries); nothing where there is nothing to start."""
    def run_pipeline(self, job: Any, run_id: str, tags: dict[str, str], force: bool = False,
                     echo: Echo = print) -> PipelineRun:
        """Run a DSL pipeline job to its end; never raises for a failed node."""
    def pipeline_output_json(self, run_id: str, node: str, port: str, filename: str) -> Any: ...

    # models and tracking
    @property
    def tracking_uri(self) -> str: ...
    def ensure_tracking_store(self) -> str:
        """Create the MLflow store and experiment if missing (locally: before any fan-out, as SQLite
        schema migrations race); returns the experiment id or name."""
    def set_model_version_tags(self, name: str, version: str, tags: dict[str, str]) -> None: ...
    def latest_model_versions(self) -> dict[str, ModelVersion]: ...

    # models as a release source
    def get_model_version(self, name: str, version: str) -> ModelVersion | None: ...
    def list_model_versions(self, name: str) -> list[ModelVersion]: ...
    def model_content(self, name: str, version: str, dest: Path) -> tuple[str, str]:
        """(content hash, reference) of a model version: locally its files are copied to ``dest``;
        on Azure the reference is the version's asset id and the hash its ``model_hash`` tag."""

    # batch endpoints and deployments (release)
    def get_endpoint(self, name: str) -> Endpoint | None: ...
    def list_endpoints(self) -> list[Endpoint]: ...
    def deploy(self, spec: DeploymentSpec, scoring_job: Callable[[], Any]) -> tuple[Endpoint, bool]:
        """Create the endpoint if missing and the deployment if missing, make it the default;
        returns (endpoint, deployment created)."""
    def set_default_deployment(self, endpoint: str, deployment: str, action: str) -> Endpoint: ...
    def invoke_endpoint(self, endpoint: Endpoint, scoring_data: str, run_id: str,
                        scoring_job: Callable[[Deployment, Any], Any], echo: Echo = print) -> PipelineRun:
        """Score with the endpoint's default deployment; never raises for a failed run."""
    def record_score(self, endpoint: str, run: PipelineRun, summary: dict[str, Any]) -> None: ...
    def create_schedule(self, spec: ScheduleSpec, job: Callable[[], Any]) -> str: ...


@dataclass
class PromotedModel:
    """A model version in the shared registry (promoted from a workspace), its aliases and tags."""

    name: str
    version: str  # the registry's version
    source_version: str  # the version in the workspace it was promoted from
    content_hash: str
    uri: str  # a local folder, or azureml://registries/<reg>/models/<name>/versions/<v>
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)


@dataclass
class DeploymentSpec:
    """What to deploy: a promoted model version with the pinned scoring components and environment."""

    endpoint: str
    deployment: str
    circuit: str
    model: PromotedModel
    components: dict[str, str]  # name -> pinned version (batch_score, validate_predictions)
    environment: str  # name:version
    registry: str  # the shared registry's name or folder
    tags: dict[str, str]
    scoring: dict[str, Any] = field(default_factory=dict)  # horizon, frequency, min/max value


@dataclass
class Deployment:
    """A deployment of an endpoint, as recorded by the backend."""

    name: str
    endpoint: str
    model_name: str
    model_version: str
    source_version: str
    components: dict[str, str]
    tags: dict[str, str] = field(default_factory=dict)
    created_at: str | None = None
    model_uri: str = ""
    scoring: dict[str, Any] = field(default_factory=dict)


@dataclass
class Endpoint:
    """A batch endpoint, its deployments and which one is the default."""

    name: str
    env: str
    circuit: str
    default_deployment: str | None = None
    deployments: dict[str, Deployment] = field(default_factory=dict)
    history: list[dict[str, str]] = field(default_factory=list)  # default changes, oldest first
    scores: list[dict[str, Any]] = field(default_factory=list)  # scoring runs, oldest first

    @property
    def default(self) -> Deployment | None:
        return self.deployments.get(self.default_deployment) if self.default_deployment else None


@dataclass
class ScheduleSpec:
    """A recurring job (daily scoring, a monitor): name, cron, time zone and the circuits it covers.

    Its pipeline's components come from ``registry`` (the shared registry) when set, else from the
    env's workspace, always by registered name and version."""

    name: str
    cron: str
    time_zone: str
    circuits: list[str]
    tags: dict[str, str] = field(default_factory=dict)
    registry: str = ""
    description: str = ""


class Registry(Protocol):
    """The shared registry every env deploys from: environment, components and promoted models."""

    name: str

    def get_environment(self, name: str, version: str) -> AssetVersion | None: ...
    def ensure_environment(self) -> tuple[AssetVersion, bool]: ...
    def get_component(self, name: str, version: str) -> AssetVersion | None: ...
    def component_fingerprint(self, name: str, version: str) -> dict[str, str] | None: ...
    def ensure_component(self, component: Any, fingerprint: dict[str, str]) -> tuple[AssetVersion, bool]: ...
    def find_model(self, name: str, source_version: str) -> PromotedModel | None: ...
    def get_model(self, name: str, version: str) -> PromotedModel | None: ...
    def latest_model(self, name: str) -> PromotedModel | None: ...
    def promote_model(self, name: str, source_version: str, content_hash: str, content: str,
                      tags: dict[str, str]) -> PromotedModel: ...
    def model_by_alias(self, name: str, alias: str) -> PromotedModel | None: ...
    def set_alias(self, name: str, alias: str, version: str) -> None: ...
    def set_model_tags(self, name: str, version: str, tags: dict[str, str]) -> None: ...
