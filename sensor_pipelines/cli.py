"""The ``sensor-pipelines`` command line: compose config, pick a backend, run a flow.

Heavy libraries (TensorFlow, MLflow, azure-ai-ml) are imported only inside the
verbs that need them, so ``--help`` and config errors answer at once.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from sensor_pipelines.errors import UserError


def _config(args: argparse.Namespace):
    from sensor_pipelines.config.loader import load_run_config

    return load_run_config(args.circuit, args.env, args.overrides, config_dir=args.config_dir)


def cmd_train(args: argparse.Namespace) -> int:
    """Train, evaluate and register one circuit's model."""
    from sensor_pipelines.backends import open_workspace
    from sensor_pipelines.fanout import outcome_result, write_result
    from sensor_pipelines.workflows import PipelineFailed, format_training_summary, train_circuit

    try:
        config = _config(args)
        outcome = train_circuit(config, open_workspace(config), force=args.force)
    except UserError as exc:
        if args.result_file:
            write_result(args.result_file, {"circuit": args.circuit, "status": "failed", "error": str(exc)})
        raise
    print(format_training_summary(outcome))
    if args.result_file:
        write_result(args.result_file, outcome_result(outcome))
    if not outcome.run.succeeded:
        failed = outcome.run.failed_node
        tail = "\n".join(failed.error_tail[-5:]) if failed else ""
        raise PipelineFailed(f"node {failed.name if failed else '?'} failed in run {outcome.run.run_id}:\n{tail}")
    return 0


def cmd_train_changed(args: argparse.Namespace) -> int:
    """Train the changed circuits (or CIRCUITS, ALL, RETRY_FAILED) in parallel, then summarise."""
    from pathlib import Path

    from sensor_pipelines.backends import open_workspace
    from sensor_pipelines.config.loader import available
    from sensor_pipelines.fanout import failed_circuits, format_results, train_many

    out_dir = Path(args.out_dir)
    if args.circuits:
        circuits = args.circuits.split(",")
    elif args.all:
        circuits = available(args.config_dir, "circuit")
    elif args.retry_failed:
        circuits = failed_circuits(out_dir)
        if not circuits:
            print(f"No failed circuits in {out_dir / 'train_results.json'}: nothing to retry.")
            return 0
    else:
        circuits = _changed_circuits(Path(args.changes), args.target_branch)
    if not circuits:
        print("No changed circuits: nothing to train.")
        return 0
    # the env's settings come from the first circuit that composes; a circuit whose config is broken
    # fails on its own in the fan-out, like any other failing circuit
    env_config = next((c for c in (_config_or_none(name, args) for name in circuits) if c is not None), None)
    if env_config is not None:
        workspace = open_workspace(env_config)
        workspace.check_settings(for_runs=True)  # missing Azure settings: one error, not one per circuit
        if env_config.env.backend == "local":
            workspace.ensure_tracking_store()  # once, before the fan-out (SQLite migrations race)
    max_parallel = args.max_parallel or (env_config.env.max_parallel if env_config else 5)
    results = train_many(circuits, env=args.env, overrides=args.overrides, config_dir=args.config_dir,
                         max_parallel=max_parallel, out_dir=out_dir, force=args.force,
                         keep_previous=args.retry_failed and not (args.circuits or args.all))
    print(format_results(results))
    return 1 if any(r.get("status") != "completed" for r in results) else 0


def _changed_circuits(changes_file, target_branch: str) -> list[str]:
    """Circuits to train from changed_circuits.json (detected now when the file is missing)."""
    from sensor_pipelines.changes import circuits_to_train, detect_changed_circuits, write_changes

    if not changes_file.is_file():
        write_changes(detect_changed_circuits(".", target_branch), changes_file)
    return circuits_to_train(changes_file)


def cmd_validate(args: argparse.Namespace) -> int:
    """Gather metrics of the trained circuits, check thresholds, tag models, write reports."""
    from pathlib import Path

    from sensor_pipelines.backends import open_workspace
    from sensor_pipelines.config.loader import load_run_configs
    from sensor_pipelines.gate import read_results, run_gate

    results = read_results(Path(args.results))
    if not results:
        print(f"No training results in {args.results}: nothing to validate.")
        return 0
    names = list(dict.fromkeys(r["circuit"] for r in results))
    try:
        configs = dict(zip(names, load_run_configs(names, args.env, args.overrides, config_dir=args.config_dir)))
    except UserError:  # one bad config: compose one by one, the bad one fails closed in the gate
        configs = {name: _config_or_none(name, args) for name in names}
    any_config = next((c for c in configs.values() if c is not None), None)
    if any_config is None:
        raise UserError("no circuit of the training results has a valid config")
    rows = run_gate(results, configs, open_workspace(any_config), any_config.env.build_id, Path(args.out_dir))
    if args.strict and not all(r["validated"] for r in rows):
        failed = ", ".join(r["circuit"] for r in rows if not r["validated"])
        print(f"error: validation gate failed (STRICT): {failed}", file=sys.stderr)
        return 1
    return 0


def _config_or_none(circuit: str, args: argparse.Namespace):
    from sensor_pipelines.config.loader import load_run_config

    try:
        return load_run_config(circuit, args.env, args.overrides, config_dir=args.config_dir)
    except UserError:
        return None


def cmd_plan(args: argparse.Namespace) -> int:
    """Print, per circuit, whether training would run or reuse the current model, and why."""
    from sensor_pipelines.backends import open_workspace
    from sensor_pipelines.config.loader import available, load_run_configs
    from sensor_pipelines.pipelines.catalog import train_component
    from sensor_pipelines.plan import format_plan, plan_circuit

    names = args.circuits.split(",") if args.circuits else available(args.config_dir, "circuit")
    configs = load_run_configs(names, args.env, args.overrides, config_dir=args.config_dir)
    latest = open_workspace(configs[0]).latest_model_versions()
    version = str(train_component().version)
    rows = [plan_circuit(c, latest.get(c.circuit.model_name), version) for c in configs]
    print(format_plan(rows))
    return 0


def cmd_pipeline_yaml(args: argparse.Namespace) -> int:
    """Write the circuit's pipeline job YAML for `az ml job create --file ...`."""
    from pathlib import Path

    from sensor_pipelines.workflows import write_pipeline_yaml

    config = _config(args)
    path = write_pipeline_yaml(config, Path(args.output) / config.circuit.name)
    print(f"{path}\n  submit with: az ml job create --file {path} --set name=train-{config.circuit.name.replace('_', '-')}-<build>")
    return 0


def cmd_register_data(args: argparse.Namespace) -> int:
    """Register the circuit's data snapshot (MLTable) at its cutoff date."""
    from sensor_pipelines.backends import open_workspace
    from sensor_pipelines.workflows import register_circuit_data

    config = _config(args)
    register_circuit_data(config, open_workspace(config))
    return 0


def cmd_generate_data(args: argparse.Namespace) -> int:
    """Write the circuit's sample data file if it is missing."""
    from sensor_pipelines.workflows import ensure_source_data

    config = _config(args)
    path = ensure_source_data(config)
    print(f"{config.circuit.name}: {path}")
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """Open the MLflow UI on the env's tracking store and model registry."""
    import os

    from sensor_pipelines.backends import open_workspace

    config = _config(args)
    workspace = open_workspace(config)
    workspace.ensure_tracking_store()
    uri = workspace.tracking_uri
    print(f"MLflow UI on http://127.0.0.1:{args.port} (store {uri})")
    mlflow = os.path.join(os.path.dirname(sys.executable), "mlflow")
    os.execv(mlflow, [mlflow, "ui", "--backend-store-uri", uri, "--registry-store-uri", uri,
                      "--host", "127.0.0.1", "--port", str(args.port)])
    return 0  # not reached


def cmd_register(args: argparse.Namespace) -> int:
    """Register environment, components and data assets (each only if missing)."""
    from sensor_pipelines.backends import open_workspace
    from sensor_pipelines.config.loader import available, load_run_config
    from sensor_pipelines.registration import register_assets

    names = args.circuits.split(",") if args.circuits else available(args.config_dir, "circuit")
    configs = [load_run_config(name, args.env, args.overrides, config_dir=args.config_dir) for name in names]
    register_assets(configs, open_workspace(configs[0]), dry_run=args.dry_run)
    return 0


def cmd_components(args: argparse.Namespace) -> int:
    """Compile every component to YAML plus a minimal code snapshot."""
    from pathlib import Path

    from sensor_pipelines.pipelines.catalog import compile_components

    for path in compile_components(Path(args.output)):
        print(path)
    return 0


def cmd_check_versions(args: argparse.Namespace) -> int:
    """Fail when a component changed since its recorded version without a version bump."""
    from sensor_pipelines.pipelines.catalog import components, fingerprint, version_problems

    problems = version_problems()
    if problems:
        raise UserError("components changed without a version bump:\n" + "\n".join(f"- {p}" for p in problems))
    for component in components():
        print(f"{component.name} {fingerprint(component)['version']}: ok")
    return 0


def cmd_detect_changes(args: argparse.Namespace) -> int:
    """Write build/changed_circuits.json: circuits changed against the target branch."""
    import json
    import os

    from sensor_pipelines.changes import MATRIX_FILE, detect_changed_circuits, devops_matrix, format_changes, write_changes

    changes = detect_changed_circuits(args.repo, args.target_branch)
    path = write_changes(changes, args.output)
    matrix = devops_matrix(changes)
    print(format_changes(changes))
    print(f"wrote {path} and {path.with_name(MATRIX_FILE)}")
    if os.environ.get("TF_BUILD"):  # Azure DevOps: hand the matrix to the training stage
        print(f"##vso[task.setvariable variable=matrix;isOutput=true]{json.dumps(matrix)}")
        print(f"##vso[task.setvariable variable=hasChanges;isOutput=true]{'true' if matrix else 'false'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sensor-pipelines",
        description="Per-circuit sensor forecasting: train, register and track models on the local or Azure ML backend.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func, circuit: str = "", config: bool = True) -> argparse.ArgumentParser:
        """A verb; ``circuit``: "one" (--circuit) or "many" (--circuits); ``config``: env, conf and overrides."""
        doc = func.__doc__.strip()
        p = sub.add_parser(name, help=doc, description=doc)
        if circuit == "one":
            p.add_argument("--circuit", required=True, help="circuit name, e.g. PLANT1_CIRC1 (conf/circuit/<name>.yaml)")
        elif circuit == "many":
            p.add_argument("--circuits", default="", help="comma-separated circuits (default: all in conf/circuit)")
        if config:
            p.add_argument("--env", default="local", help="environment: conf/env/<env>.yaml (default: local)")
            p.add_argument("--config-dir", default="conf", help="Hydra config folder (default: conf)")
            p.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model=lstm_smoke model.epochs=5")
        p.set_defaults(func=func)
        return p

    train = add("train", cmd_train, circuit="one")
    train.add_argument("--force", action="store_true", help="rerun every node, even when nothing changed")
    train.add_argument("--result-file", help="also write the outcome as JSON here")

    many = add("train-changed", cmd_train_changed)
    many.add_argument("--max-parallel", type=int, default=0, help="circuits at once (default: the env's max_parallel)")
    pick = many.add_mutually_exclusive_group()
    pick.add_argument("--circuits", default="", help="comma-separated circuits instead of the changed ones")
    pick.add_argument("--all", action="store_true", help="every circuit in conf/circuit")
    pick.add_argument("--retry-failed", action="store_true", help="only the circuits that failed last time")
    many.add_argument("--changes", default="build/changed_circuits.json", help="changed circuits file")
    many.add_argument("--target-branch", default="main", help="for detection when the changes file is missing")
    many.add_argument("--out-dir", default="build/train", help="results and logs (default: build/train)")
    many.add_argument("--force", action="store_true", help="rerun every node")

    gate = add("validate", cmd_validate)
    gate.add_argument("--results", default="build/train/train_results.json",
                      help="train_results.json of train-changed, or a folder of per-circuit result files")
    gate.add_argument("--out-dir", default="build", help="where validation_report.json/.md go (default: build)")
    gate.add_argument("--strict", action="store_true", help="exit non-zero unless every circuit validates")

    add("plan", cmd_plan, circuit="many")
    register = add("register", cmd_register, circuit="many")
    register.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    add("register-data", cmd_register_data, circuit="one")
    add("generate-data", cmd_generate_data, circuit="one")
    add("pipeline-yaml", cmd_pipeline_yaml, circuit="one").add_argument(
        "--output", default="build/pipelines", help="output folder (default: build/pipelines)")
    add("components", cmd_components, config=False).add_argument(
        "--output", default="build/components", help="output folder (default: build/components)")
    add("check-versions", cmd_check_versions, config=False)
    detect = add("detect-changes", cmd_detect_changes, config=False)
    detect.add_argument("--target-branch", default="main", help="branch to compare with (default: main)")
    detect.add_argument("--output", default="build/changed_circuits.json")
    detect.add_argument("--repo", default=".", help="repository root (default: .)")
    add("ui", cmd_ui, circuit="one").add_argument("--port", type=int, default=5000)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:  # azure-ai-ml warns about its own experimental classes on every import
        logging.getLogger("azure").setLevel(logging.ERROR)
    try:
        return args.func(args)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
