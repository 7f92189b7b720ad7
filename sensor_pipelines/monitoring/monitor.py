"""Run one circuit's monitor: gather its prod window, run the ``monitoring`` pipeline, update its alert.

What is compared (see ``core.monitoring_checks``):

- the model: the prod endpoint's default deployment, i.e. the registry's model version;
- reference: that version's training data asset (its ``data_asset_name`` / ``data_asset_version``
  tags). Locally, a prod workspace that lacks it registers it from the circuit's data source at that
  cutoff (the same snapshot, content-hash checked); on Azure ML it must be registered there;
- production inputs and forecasts: locally, what the endpoint scored (its score records: inputs and
  forecasts files); on Azure ML, the circuit's newest data asset (forecasts stay with the endpoint's
  jobs, so prediction drift and realised error are local-only for now).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from sensor_pipelines.app.training import new_run_id, register_circuit_data
from sensor_pipelines.backends.base import Endpoint, PipelineRun, Registry, Workspace
from sensor_pipelines.core.config.schema import RunConfig
from sensor_pipelines.core.errors import UserError
from sensor_pipelines.monitoring.alerts import AlertBook, AlertDecision, utc_now

Echo = Callable[[str], None]
CIRCUIT_CONFIG_FILE = "circuit_config.json"
SETTINGS_FILE = "monitor_settings.json"


@dataclass
class MonitorOutcome:
    circuit: str
    status: str  # ok | alert | failed
    run: Optional[PipelineRun] = None
    result: dict[str, Any] = field(default_factory=dict)
    report: str = ""
    decision: Optional[AlertDecision] = None
    error: str = ""


def monitoring_folder(workspace: Workspace) -> Path:
    """``<workspace>/<env>/monitoring``: alert state, alert log, monitor records, fleet overview."""
    return Path(workspace.runs_dir).parent / "monitoring"


def alert_book(config: RunConfig, workspace: Workspace) -> AlertBook:
    return AlertBook(monitoring_folder(workspace), config.env.name, config.monitoring.webhook_url)


def prod_endpoint(workspace: Workspace, circuit: str) -> Endpoint:
    """The circuit's endpoint in this env, with a default deployment."""
    found = [e for e in workspace.list_endpoints() if e.circuit == circuit and e.default is not None]
    if not found:
        raise UserError(f"{circuit} has no deployed endpoint in this env: deploy it "
                        f"(`make deploy CIRCUIT={circuit} ENV=...`) before monitoring it")
    return found[0]


def reference_input(config: RunConfig, workspace: Workspace, name: str, version: str, echo: Echo) -> Any:
    """The training data asset ``name:version`` as a pipeline input (see the module docstring)."""
    if not name or not version:
        raise UserError(f"the deployed model of {config.circuit.name} has no data_asset_name/data_asset_version "
                        f"tags: its training data is unknown, retrain it")
    if workspace.get_data_asset(name, version) is None:
        if workspace.backend != "local" or name != config.circuit.name:
            raise UserError(f"data asset {name}:{version} (the deployed model's training data) is not registered in "
                            f"env {config.env.name}: `make register-data CIRCUIT={config.circuit.name} ENV="
                            f"{config.env.name}` with cutoff_date {version}")
        at_cutoff = dataclasses.replace(config, circuit=dataclasses.replace(config.circuit, cutoff_date=version))
        register_circuit_data(at_cutoff, workspace, echo)
    return workspace.data_input(name, version)


def scored_window(config: RunConfig, endpoint: Endpoint, folder: Path) -> tuple[Path, Optional[Path], str]:
    """Gather what the endpoint scored (inputs, forecasts) into ``folder``; returns the folders and the last day."""
    import pandas as pd

    scores = [s for s in endpoint.scores if s.get("status") == "completed" and s.get("input")]
    if not scores:
        raise UserError(f"endpoint {endpoint.name} has scored nothing yet: run `make score-daily` (or `make score "
                        f"CIRCUIT={endpoint.circuit}`) first")
    ts = config.circuit.data.timestamp_column
    production = _read_runs(scores, "input")
    if ts in production.columns:
        production[ts] = pd.to_datetime(production[ts], errors="coerce")
        production = production.dropna(subset=[ts]).drop_duplicates(ts, keep="last").sort_values(ts)
    last = str(production[ts].max())[:10] if ts in production.columns and len(production) else ""
    (folder / "production").mkdir(parents=True, exist_ok=True)
    production.to_parquet(folder / "production" / "production.parquet", index=False)
    forecasts_dir = None
    with_forecasts = [s for s in scores if s.get("forecasts") and Path(s["forecasts"]).is_file()]
    if with_forecasts:
        forecasts_dir = folder / "forecasts"
        forecasts_dir.mkdir(parents=True, exist_ok=True)
        _read_runs(with_forecasts, "forecasts").to_parquet(forecasts_dir / "forecasts.parquet", index=False)
    return folder / "production", forecasts_dir, last


def _read_runs(scores: list[dict[str, Any]], key: str) -> Any:
    """The ``key`` files ("input", "forecasts") of these scoring runs as one frame: in one go (score-daily writes
    one parquet file per run), else run by run, so that an error names the run it cannot read."""
    import pandas as pd

    from sensor_pipelines.core.scoring import read_data_files, read_scoring_data

    unreadable = (OSError, UserError, ValueError, TypeError)  # pyarrow's errors derive from these
    try:
        return read_data_files([s[key] for s in scores])
    except unreadable:  # a folder or a CSV among them, or a damaged file
        pass
    frames = []
    for score in scores:
        try:
            frames.append(read_scoring_data(score[key]))
        except unreadable as exc:
            raise UserError(f"scored {key} of run {score.get('run_id')} cannot be read ({type(exc).__name__}): "
                            f"{score[key]}") from None
    return pd.concat(frames, ignore_index=True)


def monitoring_job(config: RunConfig, folder: Path, *, model_uri: str, reference: Any, production: Any,
                   forecasts: Any = None, window_end: str = "", validated_mae: float = 0.0,
                   model_version: str = "", cutoff_date: str = ""):
    """The ``monitoring`` pipeline of one circuit, its config and settings written into ``folder``."""
    from azure.ai.ml import Input

    from sensor_pipelines.core.config.files import write_circuit_run_config
    from sensor_pipelines.core.monitoring_checks import write_settings
    from sensor_pipelines.pipelines.monitoring import monitoring

    config_file = write_circuit_run_config(config.circuit_run, folder / CIRCUIT_CONFIG_FILE)
    settings_file = write_settings(config.monitoring, folder / SETTINGS_FILE)
    optional = {"forecasts": forecasts} if forecasts else {}
    return monitoring(circuit_config=Input(type="uri_file", path=str(config_file)),
                      monitor_settings=Input(type="uri_file", path=str(settings_file)),
                      model=Input(type="mlflow_model", path=model_uri), reference_data=reference,
                      production_data=production, window_end=window_end or "last", validated_mae=validated_mae, model_version=model_version or "-",
                      cutoff_date=cutoff_date or "-", **optional)


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def monitor_circuit(config: RunConfig, workspace: Workspace, registry: Registry, *, window_end: str = "",
                    echo: Echo = print) -> MonitorOutcome:
    """Run the circuit's monitor now and record the result in its alert state."""
    from azure.ai.ml import Input

    circuit = config.circuit.name
    endpoint = prod_endpoint(workspace, circuit)
    deployment = endpoint.default
    model = registry.get_model(deployment.model_name, deployment.model_version)
    if model is None:
        raise UserError(f"model {deployment.model_name}:{deployment.model_version} of {endpoint.name} is not in the "
                        f"registry {registry.name}")
    tags = {**deployment.tags, **model.tags}
    workspace.check_settings(for_runs=True)
    workspace.prepare_pipeline_runs()
    reference = reference_input(config, workspace, tags.get("data_asset_name", ""),
                                tags.get("data_asset_version", ""), echo)
    run_id = new_run_id("monitor", circuit, config.env.build_id)
    folder = Path(workspace.runs_dir) / run_id / "inputs"
    folder.mkdir(parents=True, exist_ok=True)
    if workspace.backend == "local":
        production_dir, forecasts_dir, last_scored = scored_window(config, endpoint, folder)
        production = Input(type="uri_folder", path=str(production_dir))
        forecasts = Input(type="uri_folder", path=str(forecasts_dir)) if forecasts_dir else None
    else:
        production, forecasts, last_scored = Input(type="uri_folder", path=f"azureml:{circuit}@latest"), None, ""
    job = monitoring_job(config, folder, model_uri=model.uri, reference=reference, production=production,
                         forecasts=forecasts, window_end=window_end, validated_mae=_float(tags.get("mae")),
                         model_version=deployment.source_version, cutoff_date=tags.get("cutoff_date", ""))
    run = workspace.run_pipeline(job, run_id=run_id, tags={"circuit": circuit, "monitor": endpoint.name},
                                 force=True, echo=echo)
    if not run.succeeded:
        failed = run.failed_node
        tail = (failed.error_tail if failed else ["?"])[-1:][0].strip() if failed and failed.error_tail else "?"
        return MonitorOutcome(circuit, "failed", run, error=f"node {failed.name if failed else '?'} failed: {tail}")
    if not run.nodes:  # an Azure ML job: its result stays there
        return MonitorOutcome(circuit, "submitted", run, report=run.run_dir)
    result = workspace.pipeline_output_json(run.run_id, "metrics", "result", "result.json")
    report = str(Path(run.node("metrics").outputs["result"]) / "report.html")
    realised = result.get("realised_error", {})
    record = {"run_id": run.run_id, "at": utc_now(), "status": result["status"], "report": report,
              "window_end": result.get("window", {}).get("end"), "last_scored": last_scored,
              "model_version": deployment.source_version, "cutoff_date": tags.get("cutoff_date", ""),
              "realised_mae": (realised.get("overall") or {}).get("mae"), "validated_mae": realised.get("validated_mae"),
              "drifted_columns": result["data_drift"]["drifted_columns"],
              "quality_issues": len(result["quality"]["findings"]),
              "prediction_drift": result["prediction_drift"].get("drifted"), "seconds": result.get("seconds")}
    decision = alert_book(config, workspace).record(circuit, record, result["failed_checks"],
                                                    config.monitoring.consecutive_runs)
    return MonitorOutcome(circuit, result["status"], run, result, report, decision)


def write_overview(env: str, workspace: Workspace, book: AlertBook) -> Path:
    """The fleet overview page (``monitoring/overview.html``): a row per circuit with a prod deployment."""
    import os

    from sensor_pipelines.core.fileio import write_text_atomic
    from sensor_pipelines.core.monitoring_report import fleet_overview_html

    folder = monitoring_folder(workspace)
    rows = []
    for endpoint in workspace.list_endpoints():
        if endpoint.default is None:
            continue
        state = book.state(endpoint.circuit)
        runs = state.get("runs", [])
        last = runs[-1] if runs else {}
        failed = last.get("failed_checks", []) if last else []
        rows.append({
            "circuit": endpoint.circuit, "model_version": endpoint.default.source_version,
            "cutoff_date": endpoint.default.tags.get("cutoff_date"), "last_scored": last.get("last_scored"),
            "status": ("alert" if state.get("open_alert") else last.get("status", "not monitored yet")),
            "data_drift": ("data_drift" in failed) if last else None, "quality": ("quality" in failed) if last else None,
            "prediction_drift": ("prediction_drift" in failed) if last else None,
            "realised_mae": last.get("realised_mae"), "validated_mae": last.get("validated_mae"),
            "trend": [(r["at"][:10], r["realised_mae"]) for r in runs if r.get("realised_mae") is not None][-30:],
            "report": os.path.relpath(last["report"], folder) if last.get("report") else "",
        })
    page = folder / "overview.html"
    write_text_atomic(page, fleet_overview_html(env, rows, utc_now()))
    return page
