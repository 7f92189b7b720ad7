"""Release operations of the Azure ML workspace: model source, batch endpoints, deployments, schedules.

Deployment type: ``PipelineComponentBatchDeployment``. Its component is a pipeline component
``batch_scoring_<circuit>`` at version ``<model version>-<batch_score version>`` registered in
the workspace, whose nodes are the registry's ``batch_score`` and ``validate_predictions``
versions and whose model input is fixed to the registry's model version: the deployment pins
model, components and (through them) the environment, and runs our validation. A
``ModelBatchDeployment`` would pin the model only, call the MLflow model per file and skip
``validate_predictions``.

The endpoint's default history (for rollback) is kept in its ``default_history`` tag.
"""

from __future__ import annotations

from typing import Any, Callable

from sensor_pipelines.backends.azure.errors import azure_call
from sensor_pipelines.backends.azure.registry import registry_component_uri
from sensor_pipelines.backends.azure.runs import AzurePipelineRun, normalize_status
from sensor_pipelines.backends.base import Deployment, DeploymentSpec, Endpoint, ModelVersion, ScheduleSpec
from sensor_pipelines.core.errors import UserError

HISTORY_TAG = "default_history"


def pipeline_component_name(circuit: str) -> str:
    return f"batch_scoring_{circuit.lower()}"


class AzureReleaseOperations:
    """Mixed into ``AzureWorkspace`` (which provides ``ml_client``, ``_get``, ``env``, ``settings``)."""

    ml_client: Any
    env: Any

    # -- models as a release source ---------------------------------------------------------------
    def get_model_version(self, name: str, version: str) -> ModelVersion | None:
        model = self._get("models", name, str(version))
        return None if model is None else ModelVersion(model.name, int(model.version), dict(model.tags or {}))

    def list_model_versions(self, name: str) -> list[ModelVersion]:
        from azure.core.exceptions import ResourceNotFoundError

        client = self.ml_client
        with azure_call(f"models.list {name}"):
            try:
                models = [m for m in client.models.list(name=name) if str(m.version).isdigit()]
            except ResourceNotFoundError:
                return []
        return sorted((ModelVersion(m.name, int(m.version), dict(m.tags or {})) for m in models), key=lambda v: v.version)

    def model_content(self, name: str, version: str, dest) -> tuple[str, str]:
        """(``model_hash`` tag, the version's asset id): the registry copies the files itself."""
        model = self._get("models", name, str(version))
        if model is None:
            raise UserError(f"model {name}:{version} is not registered in Azure ML workspace {self.workspace_label}")
        digest = (model.tags or {}).get("model_hash")
        if not digest:
            raise UserError(f"model {name}:{version} has no model_hash tag: register it through the training pipeline")
        s = self.settings
        return digest, (f"azureml://subscriptions/{s.subscription_id}/resourceGroups/{s.resource_group}/workspaces/"
                        f"{s.workspace_name}/models/{name}/versions/{version}")

    # -- endpoints ----------------------------------------------------------------------------------
    def _endpoint(self, entity: Any) -> Endpoint:
        from azure.core.exceptions import ResourceNotFoundError

        tags = dict(entity.tags or {})
        with azure_call(f"batch_deployments.list {entity.name}"):
            try:
                found = list(self.ml_client.batch_deployments.list(endpoint_name=entity.name))
            except ResourceNotFoundError:
                found = []
        deployments = {d.name: Deployment(
            name=d.name, endpoint=entity.name, model_name=(d.tags or {}).get("model_name", ""),
            model_version=(d.tags or {}).get("registry_version", ""), source_version=(d.tags or {}).get("model_version", ""),
            components={k: v for k, v in (("batch_score", (d.tags or {}).get("component_version")),
                                          ("validate_predictions", (d.tags or {}).get("validate_predictions_version")))
                        if v},
            tags=dict(d.tags or {}), created_at=(d.tags or {}).get("deployed_at"),
            scoring=_scoring(d.tags or {})) for d in found}
        default = _default_of(entity)
        history = [{"deployment": n, "at": "", "action": ""} for n in tags.get(HISTORY_TAG, "").split(",") if n]
        return Endpoint(entity.name, self.env.name, tags.get("circuit", ""), default, deployments, history)

    def get_endpoint(self, name: str) -> Endpoint | None:
        from azure.core.exceptions import ResourceNotFoundError

        client = self.ml_client
        with azure_call(f"batch_endpoints.get {name}"):
            try:
                entity = client.batch_endpoints.get(name)
            except ResourceNotFoundError:
                return None
        return self._endpoint(entity)

    def list_endpoints(self) -> list[Endpoint]:
        with azure_call("batch_endpoints.list"):
            return [self._endpoint(e) for e in self.ml_client.batch_endpoints.list()]

    def deploy(self, spec: DeploymentSpec, scoring_job: Callable[[], Any]) -> tuple[Endpoint, bool]:
        """Endpoint if missing, the pinned pipeline component and deployment if missing, then the default."""
        from azure.ai.ml.entities import BatchEndpoint, PipelineComponentBatchDeployment

        settings = self.check_settings(for_runs=True)
        client = self.ml_client
        endpoint = self.get_endpoint(spec.endpoint)
        if endpoint is None:
            entity = BatchEndpoint(name=spec.endpoint, description=f"Batch scoring of {spec.circuit} ({self.env.name})",
                                   tags={"circuit": spec.circuit, "env": self.env.name})
            with azure_call(f"batch_endpoints.begin_create_or_update {spec.endpoint}"):
                client.batch_endpoints.begin_create_or_update(entity).result()
            endpoint = self.get_endpoint(spec.endpoint)
        created = spec.deployment not in endpoint.deployments
        if created:
            component_name = pipeline_component_name(spec.circuit)
            component_version = f"{spec.model.source_version}-{spec.components['batch_score']}"
            if self._get("components", component_name, component_version) is None:
                component = self.pinned_pipeline_component(spec, scoring_job(), component_name, component_version)
                with azure_call(f"components.create_or_update {component_name}:{component_version}"):
                    client.components.create_or_update(component)
            deployment = PipelineComponentBatchDeployment(
                name=spec.deployment, endpoint_name=spec.endpoint,
                component=f"azureml:{component_name}:{component_version}",
                settings={"default_compute": settings.compute, "continue_on_step_failure": False},
                tags={k: str(v) for k, v in spec.tags.items()},
                description=f"{spec.model.name} version {spec.model.source_version} with batch_score "
                            f"{spec.components['batch_score']}")
            with azure_call(f"batch_deployments.begin_create_or_update {spec.endpoint}/{spec.deployment}"):
                client.batch_deployments.begin_create_or_update(deployment).result()
        return self._make_default(spec.endpoint, spec.deployment), created

    def pinned_pipeline_component(self, spec: DeploymentSpec, job: Any, name: str, version: str) -> Any:
        """The deployment's pipeline component: registry components by version, model fixed inside."""
        component = job.component
        for node in component.jobs.values():
            pinned = spec.components[node.component.name]
            node._component = registry_component_uri(spec.registry, node.component.name, pinned)  # noqa: SLF001
        component.name, component.version = name, version
        component.tags = {k: str(v) for k, v in spec.tags.items()}
        return component

    def _make_default(self, endpoint_name: str, deployment: str) -> Endpoint:
        client = self.ml_client
        with azure_call(f"batch_endpoints.get {endpoint_name}"):
            entity = client.batch_endpoints.get(endpoint_name)
        if _default_of(entity) != deployment:
            history = [n for n in (entity.tags or {}).get(HISTORY_TAG, "").split(",") if n] + [deployment]
            _set_default(entity, deployment)
            entity.tags = {**(entity.tags or {}), HISTORY_TAG: ",".join(history[-20:])}
            with azure_call(f"batch_endpoints.begin_create_or_update {endpoint_name} (default {deployment})"):
                client.batch_endpoints.begin_create_or_update(entity).result()
        return self.get_endpoint(endpoint_name)

    def set_default_deployment(self, endpoint: str, deployment: str, action: str) -> Endpoint:
        return self._make_default(endpoint, deployment)

    def invoke_endpoint(self, endpoint: Endpoint, scoring_data: str, run_id: str, scoring_job, echo=print):
        """``batch_endpoints.invoke`` on the default deployment; streams the job to its end."""
        from azure.ai.ml import Input
        from azure.core.exceptions import AzureError

        if endpoint.default is None:
            raise UserError(f"endpoint {endpoint.name} has no default deployment; run `make deploy` first")
        client = self.ml_client
        with azure_call(f"batch_endpoints.invoke {endpoint.name}"):
            job = client.batch_endpoints.invoke(endpoint_name=endpoint.name, deployment_name=endpoint.default_deployment,
                                                inputs={"scoring_data": Input(type="uri_folder", path=scoring_data)})
        name = job.name
        echo(f"Invoked {endpoint.name} ({endpoint.default_deployment}): job {name}")
        try:
            client.jobs.stream(name)
        except AzureError as exc:  # a failed job: its status tells
            echo(f"job {name}: {exc}")
        with azure_call(f"jobs.get {name}"):
            final = client.jobs.get(name)
        return AzurePipelineRun(run_id=name, run_dir=getattr(final, "studio_url", None) or name, pipeline="batch_scoring",
                                status=normalize_status(final.status), tags={"endpoint": endpoint.name},
                                studio_url=getattr(final, "studio_url", None))

    def record_score(self, endpoint: str, run: Any, summary: dict) -> None:
        """Azure ML keeps the endpoint's jobs itself (``batch_endpoints.list_jobs``): nothing to record."""

    def create_schedule(self, spec: ScheduleSpec, job: Callable[[], Any]) -> str:
        """A ``JobSchedule`` (``CronTrigger``) whose pipeline runs registered components only: the shared
        registry's when ``spec.registry`` is set, else this workspace's (``azureml:<name>:<version>``)."""
        from azure.ai.ml.entities import CronTrigger, JobSchedule

        settings = self.check_settings(for_runs=True)
        pipeline = job()
        registry = spec.registry or spec.tags.get("registry", "")
        for node in pipeline.jobs.values():
            name, version = node.component.name, str(node.component.version)
            node._component = (registry_component_uri(registry, name, version) if registry  # noqa: SLF001
                               else f"azureml:{name}:{version}")
        pipeline.settings.default_compute = settings.compute
        pipeline.experiment_name = self.env.experiment_name
        pipeline.display_name = spec.name
        pipeline.tags = {**spec.tags}
        schedule = JobSchedule(name=spec.name, trigger=CronTrigger(expression=spec.cron, time_zone=spec.time_zone),
                               create_job=pipeline, tags=spec.tags,
                               description=spec.description or f"{spec.name}: {', '.join(spec.circuits)}")
        with azure_call(f"schedules.begin_create_or_update {spec.name}"):
            self.ml_client.schedules.begin_create_or_update(schedule).result()
        return spec.name


def _default_of(entity: Any) -> str | None:
    """The endpoint's default deployment: ``defaults`` is a dict on a new entity, a REST object after ``get``."""
    defaults = getattr(entity, "defaults", None)
    if isinstance(defaults, dict):
        return defaults.get("deployment_name")
    return getattr(defaults, "deployment_name", None)


def _set_default(entity: Any, deployment: str) -> None:
    if entity.defaults is None or isinstance(entity.defaults, dict):
        entity.defaults = {**(entity.defaults or {}), "deployment_name": deployment}
    else:
        entity.defaults.deployment_name = deployment


def _scoring(tags: dict[str, str]) -> dict[str, Any]:
    """The scoring settings a deployment recorded in its ``scoring_*`` tags."""
    scoring: dict[str, Any] = {"horizon": int(tags.get("scoring_horizon", "0")), "frequency": tags.get("scoring_frequency", "")}
    for key in ("min_value", "max_value"):
        if f"scoring_{key}" in tags:
            scoring[key] = float(tags[f"scoring_{key}"])
    return scoring
