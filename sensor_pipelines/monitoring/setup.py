"""Create the monitors of an env: one per circuit with a deployment (``setup_all_monitors`` in the reference flow).

Locally a monitor is a record under ``monitoring/monitors/`` plus the crontab line that runs
``make monitor`` daily after scoring. On Azure ML it is a ``JobSchedule`` whose job is the
``monitoring`` pipeline built from the registered ``detect_drift`` / ``calculate_metrics``
versions (registered components only: inline ones would become anonymous assets).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from sensor_pipelines.backends.base import Registry, ScheduleSpec, Workspace
from sensor_pipelines.core.config.schema import CRON, RunConfig
from sensor_pipelines.core.errors import UserError
from sensor_pipelines.core.fileio import write_json_atomic
from sensor_pipelines.monitoring.alerts import utc_now
from sensor_pipelines.monitoring.monitor import monitoring_folder, monitoring_job, reference_input


@dataclass
class Monitor:
    name: str
    circuit: str
    endpoint: str
    deployment: str
    model_version: str
    cutoff_date: str
    cron: str
    where: str  # the record file, or the schedule's name


def monitor_name(endpoint: str) -> str:
    """``monitor-<endpoint>``, e.g. ``monitor-be-plant1-circ1-prod``."""
    return f"monitor-{endpoint}"


def setup_monitors(configs: dict[str, RunConfig], workspace: Workspace, registry: Registry, cron: str,
                   time_zone: str = "UTC") -> list[Monitor]:
    """One monitor per endpoint with a default deployment; ``configs`` maps circuit -> its config."""
    from azure.ai.ml import Input

    if not CRON.fullmatch(cron):
        raise UserError(f"cron {cron!r} is not a 5-field cron expression (e.g. '0 7 * * *')")
    endpoints = [e for e in workspace.list_endpoints() if e.default is not None]
    if not endpoints:
        raise UserError("no endpoint with a deployment in this env: deploy first, then set up monitors")
    unknown = [e.circuit for e in endpoints if e.circuit not in configs]
    if unknown:
        raise UserError(f"endpoints of circuits without a config in conf/circuit: {', '.join(unknown)}")
    monitors = []
    for endpoint in endpoints:
        deployment, config = endpoint.default, configs[endpoint.circuit]
        monitor = Monitor(monitor_name(endpoint.name), endpoint.circuit, endpoint.name, deployment.name,
                          deployment.source_version, deployment.tags.get("cutoff_date", ""), cron, "")
        if workspace.backend == "local":
            record = monitoring_folder(workspace) / "monitors" / f"{endpoint.circuit}.json"
            monitor.where = str(record)
            write_json_atomic(record, {**asdict(monitor), "created_at": utc_now()})
        else:
            model = registry.get_model(deployment.model_name, deployment.model_version)
            if model is None:
                raise UserError(f"model {deployment.model_name}:{deployment.model_version} is not in the registry")
            tags = {**deployment.tags, **model.tags}
            reference = reference_input(config, workspace, tags.get("data_asset_name", ""),
                                        tags.get("data_asset_version", ""), print)
            folder = Path(workspace.runs_dir) / monitor.name
            folder.mkdir(parents=True, exist_ok=True)

            def job(config=config, folder=folder, model=model, reference=reference, tags=tags, deployment=deployment):
                return monitoring_job(config, folder, model_uri=model.uri, reference=reference,
                                      production=Input(type="uri_folder", path=f"azureml:{config.circuit.name}@latest"),
                                      validated_mae=float(tags.get("mae") or 0.0),
                                      model_version=deployment.source_version, cutoff_date=tags.get("cutoff_date", ""))

            spec = ScheduleSpec(name=monitor.name, cron=cron, time_zone=time_zone, circuits=[endpoint.circuit],
                                tags={"endpoint": endpoint.name, "deployment": deployment.name,
                                      "model_version": deployment.source_version,
                                      "cutoff_date": tags.get("cutoff_date", ""), "monitor": "true"},
                                description=f"Daily monitoring of {endpoint.circuit} ({deployment.name})")
            monitor.where = workspace.create_schedule(spec, job)
        monitors.append(monitor)
    return monitors
