"""User-level flows built from config, core and a backend: what the CLI verbs do."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from sensor_pipelines.config.schema import RunConfig
from sensor_pipelines.errors import UserError
from sensor_pipelines.fileio import write_text_atomic

Echo = Callable[[str], None]


def source_path(config: RunConfig) -> Path:
    """The circuit's data file, relative paths taken from the project root."""
    path = Path(config.circuit.data.path)
    return path if path.is_absolute() else Path(config.project_root) / path


def ensure_source_data(config: RunConfig, echo: Echo = print) -> Path:
    """Generate the circuit's sample data when its file is missing and a sample seed is set."""
    path = source_path(config)
    data = config.circuit.data
    if not path.exists() and data.sample_seed is not None:
        from sensor_pipelines.data.sample import write_sample_readings

        write_sample_readings(path, seed=data.sample_seed, fmt=data.format)
        echo(f"Generated sample data for {config.circuit.name}: {path}")
    return path


@dataclass
class DataAssetResult:
    name: str
    version: str
    created: bool
    metadata: dict[str, Any]
    summary: str


def register_circuit_data(config: RunConfig, workspace, echo: Echo = print) -> DataAssetResult:
    """Snapshot the circuit's data up to its cutoff date and register it as an MLTable asset."""
    from sensor_pipelines.data.snapshot import prepare_snapshot, read_source

    ensure_source_data(config, echo)
    circuit = config.circuit
    raw = read_source(circuit.data, Path(config.project_root))
    frame, report = prepare_snapshot(raw, circuit.data, circuit.cutoff_date)
    meta, created = workspace.register_data_asset(circuit.name, circuit.cutoff_date, frame, report.to_dict())
    state = "registered" if created else "already registered (same content)"
    echo(f"Data asset {circuit.name}:{circuit.cutoff_date} {state}: {report.summary()}")
    return DataAssetResult(circuit.name, circuit.cutoff_date, created, meta, report.summary())


@dataclass
class TrainingOutcome:
    """What one circuit's training run produced, for the summary."""

    circuit: str
    run: Any
    data_asset: DataAssetResult
    metrics: dict[str, Any] = field(default_factory=dict)
    verdict: dict[str, Any] = field(default_factory=dict)
    registration: dict[str, Any] = field(default_factory=dict)


def train_circuit(config: RunConfig, workspace, force: bool = False, echo: Echo = print) -> TrainingOutcome:
    """Register the data asset, then run the single-circuit training pipeline."""
    workspace.check_settings(for_runs=True)  # missing settings fail before anything is read or built
    asset = register_circuit_data(config, workspace, echo)
    circuit = config.circuit
    run_id = new_run_id("train", circuit.name, config.env.build_id)
    job = _training_job(config, workspace.runs_dir / run_id, workspace.data_input(asset.name, asset.version))
    run = workspace.run_pipeline(job, run_id=run_id, tags=_job_tags(config), force=force, echo=echo)
    outcome = TrainingOutcome(circuit.name, run, asset)
    if run.succeeded:
        outcome.metrics = workspace.pipeline_output_json(run.run_id, "train", "metrics", "metrics.json")
        outcome.verdict = workspace.pipeline_output_json(run.run_id, "evaluate", "verdict", "verdict.json")
        outcome.registration = workspace.pipeline_output_json(run.run_id, "register", "registration",
                                                              "registration.json")
    return outcome


CIRCUIT_CONFIG_FILE = "circuit_config.json"


def _training_job(config: RunConfig, folder: Path, training_data):
    """``single_circuit_training`` for the circuit, its resolved config written to ``folder``."""
    from azure.ai.ml import Input

    from sensor_pipelines.config.files import write_circuit_run_config
    from sensor_pipelines.lineage import git_sha
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


def _job_tags(config: RunConfig) -> dict[str, str]:
    circuit = config.circuit
    return {"circuit": circuit.name, "cutoff_date": circuit.cutoff_date, "build_id": config.env.build_id}


def write_pipeline_yaml(config: RunConfig, out_dir: Path) -> Path:
    """Write the circuit's pipeline job YAML for ``az ml job create --file`` (and its config file).

    The same ``single_circuit_training`` graph the DSL builds, with registered components
    (``azureml:NAME:VERSION``), the data asset ``azureml:NAME:CUTOFF``, compute, experiment and
    the ``cutoff_date`` tag; validated by loading it back with ``azure.ai.ml.load_job``.
    """
    import yaml
    from azure.ai.ml import Input, load_job
    from azure.ai.ml.exceptions import ValidationException
    from marshmallow import ValidationError as MarshmallowValidationError

    from sensor_pipelines.backends.azure.workspace import bind_component_refs

    circuit = config.circuit
    out_dir = Path(out_dir)
    job = _training_job(config, out_dir, Input(type="mltable", path=f"azureml:{circuit.name}:{circuit.cutoff_date}"))
    bind_component_refs(job)
    compute = (config.env.azure.compute if config.env.azure else None) or "cpu-cluster"
    job.settings.default_compute = compute
    job.experiment_name = config.env.experiment_name
    job.display_name = f"train-{circuit.name.replace('_', '-')}"
    job.tags = _job_tags(config)
    spec = job._to_dict()  # noqa: SLF001 (the SDK's own YAML form of the job)
    spec["inputs"]["circuit_config"] = {"type": "uri_file", "path": f"./{CIRCUIT_CONFIG_FILE}"}  # uploaded by az ml
    path = out_dir / "pipeline.yaml"
    draft = write_text_atomic(out_dir / ".pipeline.draft.yaml",
                              "$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json\n"
                              + yaml.safe_dump(spec, sort_keys=False))
    try:
        load_job(source=draft)  # anything az ml would reject fails here, and no pipeline.yaml is left
    except (ValidationException, MarshmallowValidationError) as exc:
        draft.unlink()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"pipeline YAML for {circuit.name} rejected by azure-ai-ml: {first}") from None
    draft.replace(path)
    return path


def new_run_id(kind: str, circuit: str, build_id: str) -> str:
    """``train-PLANT1-CIRC1-<build>-<utc time>``: unique, sortable, readable."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")[:-3]
    build = re.sub(r"[^A-Za-z0-9]+", "-", build_id)
    return f"{kind}-{circuit.replace('_', '-')}-{build}-{stamp}"


def format_training_summary(outcome: TrainingOutcome) -> str:
    """A short human summary: model, metrics vs baseline, verdict, run folder."""
    run = outcome.run
    lines = [f"Circuit {outcome.circuit}: run {run.run_id} {run.status} in {run.seconds:.1f} s"]
    if run.reused_all:
        lines.append("  all nodes reused: nothing changed since the run that produced them")
    else:
        reused = [n.name for n in run.nodes if n.status == "reused"]
        if reused:
            lines.append(f"  reused nodes: {', '.join(reused)}")
    if outcome.registration:
        reg = outcome.registration
        state = "registered" if reg.get("created") else "already registered"
        lines.append(f"  model: {reg['name']} version {reg['version']} ({state})")
    if outcome.metrics:
        m, b = outcome.metrics["model"], outcome.metrics["baseline"]
        lines.append(
            f"  test MAE {m['mae']:.3f} vs {b.get('name', 'baseline')} {b['mae']:.3f} "
            f"(ratio {outcome.metrics.get('mae_ratio', m['mae'] / b['mae']):.2f}); "
            f"RMSE {m['rmse']:.3f}; R² {m['r2']:.3f}"
        )
    if outcome.verdict:
        checks = ", ".join(
            f"{c['metric']} {c['value']:.3f} {c['op']} {c['limit']} {'ok' if c['passed'] else 'FAIL'}"
            for c in outcome.verdict.get("checks", [])
        )
        lines.append(f"  verdict: {'PASSED' if outcome.verdict.get('passed') else 'FAILED'} ({checks})")
    failed = run.failed_node
    if failed:
        lines.append(f"  node {failed.name} failed; log: {failed.log}")
        lines += [f"    {line}" for line in failed.error_tail]
    lines.append(f"  run folder: {run.run_dir}")
    return "\n".join(lines)


class PipelineFailed(UserError):
    """A pipeline run ended with a failed node (exit code 1)."""

    exit_code = 1
