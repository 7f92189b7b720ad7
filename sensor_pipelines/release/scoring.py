"""Score through a circuit's batch endpoint: its default deployment's pinned model and components.

Locally the endpoint runs the ``batch_scoring`` pipeline here (the deployment's model folder in
the shared registry, the component code checked against the promoted fingerprint); on Azure ML
the backend invokes the batch endpoint. A successful score in test is recorded on the model
version (``scored_test_at``): prod requires it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from sensor_pipelines.app.training import ensure_source_data, new_run_id
from sensor_pipelines.backends.base import Deployment, DeploymentSpec, PipelineRun, Registry, Workspace
from sensor_pipelines.core.config.schema import RunConfig
from sensor_pipelines.core.errors import UserError
from sensor_pipelines.release.deployment import pinned_components
from sensor_pipelines.release.names import endpoint_name
from sensor_pipelines.release.promotion import now

Echo = Callable[[str], None]
RECENT_STEPS = 24 * 14  # latest data: two weeks of history before the last reading


@dataclass
class ScoreOutcome:
    circuit: str
    endpoint: str
    deployment: str
    run: PipelineRun
    forecasts: str = ""
    summary: dict[str, Any] = field(default_factory=dict)
    verdict: dict[str, Any] = field(default_factory=dict)


def scoring_job_for(registry: Registry) -> Callable[[Deployment, Any], Any]:
    """Build the ``batch_scoring`` job of a deployment (what the local endpoint runs)."""

    def build(deployment: Deployment, scoring_data: Any):
        from azure.ai.ml import Input

        from sensor_pipelines.pipelines.scoring import batch_scoring

        pins = pinned_components(registry)
        if pins != deployment.components:
            raise UserError(f"deployment {deployment.name} pins {deployment.components} but the code holds {pins}: "
                            f"deploy again to score with the code's components")
        scoring = deployment.scoring
        return batch_scoring(
            model=Input(type="mlflow_model", path=deployment.model_uri), scoring_data=scoring_data,
            circuit=deployment.tags.get("circuit", deployment.model_name.removesuffix("_model")),
            model_name=deployment.model_name, model_version=deployment.source_version,
            cutoff_date=deployment.tags.get("cutoff_date", ""), horizon=int(scoring["horizon"]),
            frequency=str(scoring["frequency"]), min_value=scoring.get("min_value"),
            max_value=scoring.get("max_value"))

    return build


def deployment_job(spec: DeploymentSpec, scoring_data: Any = None) -> Any:
    """The deployment's scoring pipeline: model and settings fixed inside the graph, ``scoring_data`` open
    (a deployment) or bound (a schedule)."""
    from azure.ai.ml import Input

    from sensor_pipelines.pipelines.scoring import pinned_batch_scoring

    scoring = spec.scoring
    pipeline = pinned_batch_scoring(
        model_uri=spec.model.uri, circuit=spec.circuit, model_name=spec.model.name,
        model_version=spec.model.source_version, cutoff_date=spec.tags.get("cutoff_date", ""),
        horizon=int(scoring["horizon"]), frequency=str(scoring["frequency"]), min_value=scoring.get("min_value"),
        max_value=scoring.get("max_value"))
    return pipeline(scoring_data=scoring_data if scoring_data is not None else Input(type="uri_folder"))


def latest_data(config: RunConfig, folder: Path, echo: Echo = print) -> Path:
    """The circuit's most recent readings (its data source, past the cutoff, repaired as for a snapshot) as an
    MLTable folder: what daily scoring forecasts from."""
    from sensor_pipelines.core.data.mltable import write_mltable
    from sensor_pipelines.core.data.snapshot import prepare_snapshot, read_source
    from sensor_pipelines.core.forecasting.features import spec_from_config

    ensure_source_data(config, echo)
    circuit = config.circuit
    raw = read_source(circuit.data, Path(config.project_root), config.env.data_roots)
    last = str(raw[circuit.data.timestamp_column].max())[:10]
    frame, _ = prepare_snapshot(raw, circuit.data, last)
    keep = max(RECENT_STEPS, spec_from_config(config.circuit_run).first_origin + 1)
    return write_mltable(frame.tail(keep).reset_index(drop=True), folder)


def score_circuit(config: RunConfig, workspace: Workspace, registry: Registry, scoring_input: str | None = None,
                  echo: Echo = print) -> ScoreOutcome:
    """Invoke the circuit's endpoint on ``scoring_input`` (default: its latest data); record the result."""
    name = endpoint_name(config.circuit.name, config.env.name)
    endpoint = workspace.get_endpoint(name)
    if endpoint is None or endpoint.default is None:
        raise UserError(f"endpoint {name} does not exist or has no default deployment: run "
                        f"`make deploy CIRCUIT={config.circuit.name} ENV={config.env.name}` first")
    deployment = endpoint.default
    run_id = new_run_id("score", config.circuit.name, config.env.build_id)
    if scoring_input:
        if workspace.backend == "local" and not Path(scoring_input).exists():
            raise UserError(f"INPUT {scoring_input!r} does not exist: give a folder (MLTable or parquet/csv files) "
                            f"or a file")
        data = scoring_input
    elif workspace.backend == "local":
        data = str(latest_data(config, workspace.runs_dir / run_id / "scoring_data", echo))
    else:
        data = f"azureml:{config.circuit.name}@latest"
    run = workspace.invoke_endpoint(endpoint, data, run_id, scoring_job_for(registry), echo=echo)
    outcome = ScoreOutcome(config.circuit.name, name, deployment.name, run)
    if run.succeeded and not run.nodes:  # an endpoint job on Azure ML: its outputs stay there
        outcome.forecasts = f"outputs of job {run.run_id}: {run.run_dir}"
    elif run.succeeded:
        outcome.forecasts = str(Path(run.node("score").outputs["forecasts"]) / "forecasts.parquet")
        outcome.summary = workspace.pipeline_output_json(run.run_id, "score", "forecasts", "summary.json")
        outcome.verdict = workspace.pipeline_output_json(run.run_id, "validate", "verdict", "verdict.json")
    summary = {k: outcome.summary.get(k) for k in ("origins", "rows", "model_version")}
    scored = str(Path(data).resolve()) if workspace.backend == "local" else data  # what monitoring compares
    workspace.record_score(name, run, {**summary, "forecasts": outcome.forecasts, "input": scored})
    if run.succeeded:
        registry.set_model_tags(deployment.model_name, deployment.model_version,
                                {f"scored_{config.env.name}_at": now(), f"scored_{config.env.name}_run": run.run_id})
    return outcome
