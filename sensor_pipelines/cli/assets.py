"""Verbs that register, build and inspect assets: register, register-data, generate-data,
components, check-versions, pipeline-yaml, detect-changes, ui."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from sensor_pipelines.cli.common import run_config
from sensor_pipelines.cli.console import echo, print_table
from sensor_pipelines.core.errors import UserError


def cmd_register(args: argparse.Namespace) -> int:
    """Register environment, components and data assets (each only if missing)."""
    from sensor_pipelines.app.registration import register_assets
    from sensor_pipelines.backends import open_workspace
    from sensor_pipelines.cli.compose import available, load_run_configs

    names = args.circuits.split(",") if args.circuits else available(args.config_dir, "circuit")
    configs = load_run_configs(names, args.env, args.overrides, config_dir=args.config_dir)
    report = register_assets(configs, open_workspace(configs[0]), dry_run=args.dry_run)
    if report.note:
        echo(report.note)
    counts: dict[str, int] = {}
    for step in report.steps:
        counts[step.action] = counts.get(step.action, 0) + 1
    words = {"create": "to create", "created": "created", "none": "unchanged", "check, then create if missing": "to check"}
    print_table(report.title, ["kind", "name:version", "state", "action", "detail"],
                [(s.kind, f"{s.name}:{s.version}", s.state, s.action, s.detail) for s in report.steps],
                footer=", ".join(f"{n} {words.get(a, a)}" for a, n in counts.items()))
    return 0


def cmd_register_data(args: argparse.Namespace) -> int:
    """Register the circuit's data snapshot (MLTable) at its cutoff date."""
    from sensor_pipelines.app.training import register_circuit_data
    from sensor_pipelines.backends import open_workspace

    config = run_config(args)
    register_circuit_data(config, open_workspace(config), echo=echo)
    return 0


def cmd_generate_data(args: argparse.Namespace) -> int:
    """Write the sample data file of a circuit (or of every circuit) if it is missing."""
    from sensor_pipelines.app.training import ensure_source_data
    from sensor_pipelines.cli.compose import available

    for name in available(args.config_dir, "circuit") if args.all else [args.circuit]:
        config = run_config(args, name)
        echo(f"{config.circuit.name}: {ensure_source_data(config, echo=echo)}")
    return 0


def cmd_pipeline_yaml(args: argparse.Namespace) -> int:
    """Write the circuit's pipeline job YAML for `az ml job create --file ...`."""
    from sensor_pipelines.app.training import write_pipeline_yaml

    config = run_config(args)
    path = write_pipeline_yaml(config, Path(args.output) / config.circuit.name)
    echo(f"{path}\n  submit with: az ml job create --file {path} --set name=train-{config.circuit.name.replace('_', '-')}-<build>")
    return 0


def cmd_components(args: argparse.Namespace) -> int:
    """Compile every component to YAML plus a minimal code snapshot."""
    from sensor_pipelines.pipelines.catalog import compile_components

    for path in compile_components(Path(args.output)):
        echo(str(path))
    return 0


def cmd_check_versions(args: argparse.Namespace) -> int:
    """Fail when a component changed since its recorded version without a version bump."""
    from sensor_pipelines.pipelines.catalog import components, fingerprint, version_problems

    problems = version_problems()
    if problems:
        raise UserError("components changed without a version bump:\n" + "\n".join(f"- {p}" for p in problems))
    for component in components():
        echo(f"{component.name} {fingerprint(component)['version']}: ok")
    return 0


def cmd_detect_changes(args: argparse.Namespace) -> int:
    """Write build/changed_circuits.json: circuits changed against the target branch."""
    from sensor_pipelines.fleet.changes import MATRIX_FILE, detect_changed_circuits, devops_matrix, write_changes

    changes = detect_changed_circuits(args.repo, args.target_branch)
    path = write_changes(changes, args.output)
    matrix = devops_matrix(changes)
    if changes:
        trained = sum(c.change_type != "deleted" for c in changes)
        print_table(None, ["circuit", "cutoff_date", "change", "why"],
                    [(c.name, c.cutoff_date, c.change_type, "; ".join(c.reasons)) for c in changes],
                    footer=f"{len(changes)} changed circuits ({trained} to train, {len(changes) - trained} deleted)")
    else:
        echo("No changed circuits: nothing to train.")
    echo(f"wrote {path} and {path.with_name(MATRIX_FILE)}")
    if os.environ.get("TF_BUILD"):  # Azure DevOps: hand the matrix to the training stage
        echo(f"##vso[task.setvariable variable=matrix;isOutput=true]{json.dumps(matrix)}")
        echo(f"##vso[task.setvariable variable=hasChanges;isOutput=true]{'true' if matrix else 'false'}")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """Open the MLflow UI on the env's tracking store and model registry."""
    from sensor_pipelines.backends import open_workspace

    config = run_config(args)
    workspace = open_workspace(config)
    workspace.ensure_tracking_store()
    uri = workspace.tracking_uri
    echo(f"MLflow UI on http://127.0.0.1:{args.port} (store {uri})")
    mlflow = os.path.join(os.path.dirname(sys.executable), "mlflow")
    os.execv(mlflow, [mlflow, "ui", "--backend-store-uri", uri, "--registry-store-uri", uri,
                      "--host", "127.0.0.1", "--port", str(args.port)])
    return 0  # not reached
