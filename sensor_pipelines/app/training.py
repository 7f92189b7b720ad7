"""Train one circuit: its data asset, its pipeline run, its outcome (what the ``train`` verb does)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from sensor_pipelines.backends.base import DataAsset, PipelineRun, Workspace
from sensor_pipelines.core.config.schema import RunConfig
from sensor_pipelines.core.errors import UserError

Echo = Callable[[str], None]
CIRCUIT_CONFIG_FILE = "circuit_config.json"


def source_path(config: RunConfig) -> Path:
    """The circuit's data file, inside the project or a data root of the env (else a DataError)."""
    from sensor_pipelines.core.data.snapshot import source_location

    return source_location(config.circuit.data.path, Path(config.project_root), config.env.data_roots)


def ensure_source_data(config: RunConfig, echo: Echo = print) -> Path:
    """Generate the circuit's sample data when its file is missing, it lives in the sample folder
    (``data/sample/``) and a sample seed is set; any other missing file is an error later."""
    from sensor_pipelines.core.config.schema import SAMPLE_DIR

    path = source_path(config)
    data = config.circuit.data
    in_samples = path.is_relative_to((Path(config.project_root) / SAMPLE_DIR).resolve())
    if not path.exists() and data.sample_seed is not None and in_samples:
        from sensor_pipelines.core.data.sample import write_sample_readings

        write_sample_readings(path, seed=data.sample_seed, fmt=data.format)
        echo(f"Generated sample data for {config.circuit.name}: {path}")
    return path


@dataclass
class RegisteredData:
    """A circuit's data asset after registration: the asset, whether it is new, the quality summary."""

    asset: DataAsset
    created: bool
    summary: str


def register_circuit_data(config: RunConfig, workspace: Workspace, echo: Echo = print) -> RegisteredData:
    """Snapshot the circuit's data up to its cutoff date and register it as an MLTable asset.

    Everything knowable before registration is checked first (the data, and that it can train
    at the configured lookback, horizon and stride), so a bad snapshot is never registered.
    """
    from sensor_pipelines.core.data.snapshot import prepare_snapshot, read_source
    from sensor_pipelines.core.forecasting.training import check_trainable

    ensure_source_data(config, echo)
    circuit = config.circuit
    raw = read_source(circuit.data, Path(config.project_root), config.env.data_roots)
    frame, report = prepare_snapshot(raw, circuit.data, circuit.cutoff_date)
    check_trainable(config.circuit_run, frame)
    asset, created = workspace.register_data_asset(circuit.name, circuit.cutoff_date, frame, report.to_dict())
    state = "registered" if created else "already registered (same content)"
    echo(f"Data asset {circuit.name}:{circuit.cutoff_date} {state}: {report.summary()}")
    return RegisteredData(asset, created, report.summary())


@dataclass
class TrainingOutcome:
    """What one circuit's training run produced: the run and the JSON its nodes wrote."""

    circuit: str
    run: PipelineRun
    data: RegisteredData
    metrics: dict[str, Any] = field(default_factory=dict)
    verdict: dict[str, Any] = field(default_factory=dict)
    registration: dict[str, Any] = field(default_factory=dict)


def train_circuit(config: RunConfig, workspace: Workspace, force: bool = False, echo: Echo = print) -> TrainingOutcome:
    """Register the data asset, then run the single-circuit training pipeline."""
    workspace.check_settings(for_runs=True)  # missing settings fail before anything is read or built
    data = register_circuit_data(config, workspace, echo)
    circuit = config.circuit
    run_id = new_run_id("train", circuit.name, config.env.build_id)
    job = training_job(config, workspace.runs_dir / run_id,
                       workspace.data_input(data.asset.name, data.asset.version))
    run = workspace.run_pipeline(job, run_id=run_id, tags=job_tags(config), force=force, echo=echo)
    outcome = TrainingOutcome(circuit.name, run, data)
    if run.succeeded:
        outcome.metrics = workspace.pipeline_output_json(run.run_id, "train", "metrics", "metrics.json")
        outcome.verdict = workspace.pipeline_output_json(run.run_id, "evaluate", "verdict", "verdict.json")
        outcome.registration = workspace.pipeline_output_json(run.run_id, "register", "registration",
                                                              "registration.json")
    return outcome


def training_job(config: RunConfig, folder: Path, training_data):
    """``single_circuit_training`` for the circuit, its resolved config written to ``folder``."""
    from azure.ai.ml import Input

    from sensor_pipelines.core.config.files import write_circuit_run_config
    from sensor_pipelines.core.provenance import git_sha
    from sensor_pipelines.pipelines.training import single_circuit_training

    config_file = write_circuit_run_config(config.circuit_run, Path(folder) / CIRCUIT_CONFIG_FILE)
    return single_circuit_training(
        circuit_config=Input(type="uri_file", path=str(config_file)),
        training_data=training_data,
        data_asset_name=config.circuit.name,
        data_asset_version=config.circuit.cutoff_date,
        build_id=config.env.build_id,
        git_sha=git_sha(config.project_root),
    )


def job_tags(config: RunConfig) -> dict[str, str]:
    circuit = config.circuit
    return {"circuit": circuit.name, "cutoff_date": circuit.cutoff_date, "build_id": config.env.build_id}


def write_pipeline_yaml(config: RunConfig, out_dir: Path) -> Path:
    """Write the circuit's pipeline job YAML for ``az ml job create --file`` (and its config file).

    The same ``single_circuit_training`` graph the DSL builds, with registered components
    (``azureml:NAME:VERSION``), the data asset ``azureml:NAME:CUTOFF``, compute, experiment and
    the ``cutoff_date`` tag; validated by loading it back with ``azure.ai.ml.load_job``.
    """
    from azure.ai.ml import Input

    from sensor_pipelines.backends.azure.job_yaml import write_job_yaml

    circuit = config.circuit
    out_dir = Path(out_dir)
    job = training_job(config, out_dir, Input(type="mltable", path=f"azureml:{circuit.name}:{circuit.cutoff_date}"))
    compute = (config.env.azure.compute if config.env.azure else None) or "cpu-cluster"
    return write_job_yaml(job, out_dir / "pipeline.yaml", compute=compute, experiment=config.env.experiment_name,
                          display_name=f"train-{circuit.name.replace('_', '-')}", tags=job_tags(config),
                          local_inputs={"circuit_config": CIRCUIT_CONFIG_FILE}, what=circuit.name)


def new_run_id(kind: str, circuit: str, build_id: str) -> str:
    """``train-PLANT1-CIRC1-<build>-<utc time>``: unique, sortable, readable."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")[:-3]
    build = re.sub(r"[^A-Za-z0-9]+", "-", build_id)
    return f"{kind}-{circuit.replace('_', '-')}-{build}-{stamp}"


class PipelineFailed(UserError):
    """A pipeline run ended with a failed node (exit code 1)."""

    exit_code = 1
