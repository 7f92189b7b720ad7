"""Daily scoring on a schedule: one Azure ML ``JobSchedule`` per circuit with a prod deployment.

azure-ai-ml cannot schedule a batch endpoint invocation, so each schedule's job is the
``batch_scoring`` pipeline bound to exactly what the endpoint's default deployment pins: the
registry's model version and the registry's ``batch_score`` / ``validate_predictions``
versions (registered components only: inline ones would become anonymous assets when the
schedule is created). Locally, cron runs ``make score-daily`` (see ``make schedule``).
"""

from __future__ import annotations

from sensor_pipelines.backends.base import DeploymentSpec, Registry, ScheduleSpec, Workspace
from sensor_pipelines.core.config.schema import CRON, RunConfig
from sensor_pipelines.core.errors import UserError


def schedule_name(endpoint: str) -> str:
    """``score-daily-<endpoint>``, e.g. ``score-daily-be-plant1-circ1-prod``."""
    return f"score-daily-{endpoint}"


def schedule_daily_scoring(config: RunConfig, workspace: Workspace, registry: Registry, cron: str,
                           time_zone: str = "UTC") -> list[str]:
    """Create or update the schedule of every endpoint with a default deployment; returns their names."""
    from azure.ai.ml import Input

    from sensor_pipelines.release.scoring import deployment_job

    if not CRON.fullmatch(cron):
        raise UserError(f"cron {cron!r} is not a 5-field cron expression (e.g. '0 6 * * *')")
    names = []
    endpoints = [e for e in workspace.list_endpoints() if e.default is not None]
    if not endpoints:
        raise UserError(f"no endpoint with a deployment in env {config.env.name}: deploy first, then schedule")
    for endpoint in endpoints:
        deployment = endpoint.default
        model = registry.get_model(deployment.model_name, deployment.model_version)
        if model is None:
            raise UserError(f"model {deployment.model_name}:{deployment.model_version} of {endpoint.name} is not in "
                            f"the registry {registry.name}")
        spec = DeploymentSpec(endpoint=endpoint.name, deployment=deployment.name, circuit=endpoint.circuit,
                              model=model, components=deployment.components, environment="", registry=registry.name,
                              tags=deployment.tags, scoring=deployment.scoring)
        schedule = ScheduleSpec(name=schedule_name(endpoint.name), cron=cron, time_zone=time_zone,
                                circuits=[endpoint.circuit],
                                tags={"endpoint": endpoint.name, "deployment": deployment.name,
                                      "model_version": deployment.source_version,
                                      "cutoff_date": deployment.tags.get("cutoff_date", ""),
                                      "registry": registry.name},
                                registry=registry.name,
                                description=f"Daily scoring of {endpoint.circuit} with {deployment.name}")
        data = Input(type="uri_folder", path=f"azureml:{endpoint.circuit}@latest")  # the newest snapshot
        names.append(workspace.create_schedule(schedule, lambda spec=spec, data=data: deployment_job(spec, data)))
    return names
