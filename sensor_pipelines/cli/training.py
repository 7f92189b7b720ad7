"""Verbs that train and gate: train, train-changed, plan, validate."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sensor_pipelines.cli.common import config_or_none, run_config
from sensor_pipelines.cli.console import FanoutDisplay, NodeEcho, echo, number, print_table
from sensor_pipelines.fleet.preload import CIRCUIT_PRELOAD
from sensor_pipelines.core.errors import UserError

# what a fan-out child needs, and what its nodes import (TensorFlow, MLflow...): imported once by the
# fork server, not once per circuit; each circuit process then forks its node worker already warm
FANOUT_PRELOAD = ["sensor_pipelines.app.training", "sensor_pipelines.pipelines.training", *CIRCUIT_PRELOAD]


def cmd_train(args: argparse.Namespace) -> int:
    """Train, evaluate and register one circuit's model."""
    from sensor_pipelines.app.training import PipelineFailed, train_circuit
    from sensor_pipelines.backends import open_workspace
    from sensor_pipelines.fleet.results import failed_result, outcome_result, write_result

    node_echo = NodeEcho()
    try:
        config = run_config(args)
        outcome = train_circuit(config, open_workspace(config), force=args.force, echo=node_echo)
    except UserError as exc:
        if args.result_file:
            write_result(args.result_file, failed_result(args.circuit, str(exc)))
        raise
    finally:
        node_echo.close()
    echo(format_training_summary(outcome))
    if args.result_file:
        write_result(args.result_file, outcome_result(outcome))
    if not outcome.run.succeeded:
        failed = outcome.run.failed_node
        tail = "\n".join(failed.error_tail[-5:]) if failed else ""
        raise PipelineFailed(f"node {failed.name if failed else '?'} failed in run {outcome.run.run_id}:\n{tail}")
    return 0


def format_training_summary(outcome: Any) -> str:
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
        lines.append(f"  test MAE {number(m['mae'])} vs {b.get('name', 'baseline')} {number(b['mae'])} "
                     f"(ratio {number(outcome.metrics.get('mae_ratio'), 2)}); RMSE {number(m['rmse'])}; "
                     f"R² {number(m['r2'])}")
        if outcome.metrics.get("served_model", "the same model") != "the same model":
            lines.append(f"  (test metrics: {outcome.metrics['evaluated_model']}; registered: "
                         f"{outcome.metrics['served_model']})")
    if outcome.verdict:
        checks = ", ".join(f"{c['metric']} {number(c['value'])} {c['op']} {c['limit']:g} "
                           f"{'ok' if c['passed'] else 'FAIL'}" for c in outcome.verdict.get("checks", []))
        lines.append(f"  verdict: {'PASSED' if outcome.verdict.get('passed') else 'FAILED'} ({checks})")
        lines += [f"    {reason}" for reason in outcome.verdict.get("reasons", [])]
    failed = run.failed_node
    if failed:
        lines.append(f"  node {failed.name} failed; log: {failed.log}")
        lines += [f"    {line}" for line in failed.error_tail]
    lines.append(f"  run folder: {run.run_dir}")
    return "\n".join(lines)


def cmd_train_changed(args: argparse.Namespace) -> int:
    """Train the changed circuits (or CIRCUITS, ALL, RETRY_FAILED) in parallel, then summarise."""
    from sensor_pipelines.backends import open_workspace
    from sensor_pipelines.cli.compose import available, check_circuit_name
    from sensor_pipelines.fleet.fanout import run_many
    from sensor_pipelines.fleet.results import failed_circuits

    out_dir = Path(args.out_dir)
    if args.circuits:
        circuits = args.circuits.split(",")
    elif args.all:
        circuits = available(args.config_dir, "circuit")
    elif args.retry_failed:
        circuits = failed_circuits(out_dir)
        if not circuits:
            echo(f"No failed circuits in {out_dir / 'train_results.json'}: nothing to retry.")
            return 0
    else:
        circuits = _changed_circuits(Path(args.changes), args.target_branch)
    if not circuits:
        echo("No changed circuits: nothing to train.")
        return 0
    for name in circuits:  # names become log and result file names: check them all before anything starts
        check_circuit_name(name, args.config_dir)
    # the env's settings come from the first circuit that composes; a circuit whose config is broken
    # fails on its own in the fan-out, like any other failing circuit
    env_config = next((c for c in (config_or_none(name, args) for name in circuits) if c is not None), None)
    if env_config is not None:
        workspace = open_workspace(env_config)
        workspace.check_settings(for_runs=True)  # missing Azure settings: one error, not one per circuit
        workspace.ensure_tracking_store()  # once, before the fan-out (local SQLite migrations race)
    max_parallel = args.max_parallel or (env_config.env.max_parallel if env_config else 5)

    def argv(circuit: str, result_file: Path) -> list[str]:
        return ["train", "--circuit", circuit, "--env", args.env, "--config-dir", args.config_dir,
                "--result-file", str(result_file), *(["--force"] if args.force else []), *args.overrides]

    from sensor_pipelines.cli import main

    echo(f"Training {len(circuits)} circuits, at most {max_parallel} at a time (logs in {out_dir / 'logs'})")
    with FanoutDisplay(len(circuits)) as display:
        results = run_many(circuits, child=main, argv=argv, max_parallel=max_parallel, out_dir=out_dir,
                           progress=display, preload=FANOUT_PRELOAD,
                           keep_previous=args.retry_failed and not (args.circuits or args.all))
    failed = sum(r.get("status") != "completed" for r in results)
    print_table(None, ["circuit", "status", "model", "MAE", "RMSE", "R²", "verdict", "seconds", "run"],
                [_result_row(r) for r in results], footer=f"{len(results) - failed} completed, {failed} failed")
    return 1 if failed else 0


def _result_row(r: dict[str, Any]) -> list[Any]:
    ok = r.get("status") == "completed"
    return [r["circuit"], r.get("status", "?"), f"v{r['model_version']}" if ok else "-",
            number(r.get("mae")) if ok else "-", number(r.get("rmse")) if ok else "-",
            number(r.get("r2")) if ok else "-", ("PASSED" if r.get("validated") else "FAILED") if ok else "-",
            f"{r.get('seconds', 0):.0f}", r.get("run_dir") or r.get("log", "")]


def _changed_circuits(changes_file: Path, target_branch: str) -> list[str]:
    """Circuits to train from changed_circuits.json (detected now when the file is missing)."""
    from sensor_pipelines.fleet.changes import circuits_to_train, detect_changed_circuits, write_changes

    if not changes_file.is_file():
        write_changes(detect_changed_circuits(".", target_branch), changes_file)
    return circuits_to_train(changes_file)


def cmd_validate(args: argparse.Namespace) -> int:
    """Gather metrics of the trained circuits, check thresholds, tag models, write reports."""
    from sensor_pipelines.backends import open_workspace
    from sensor_pipelines.cli.compose import load_run_configs
    from sensor_pipelines.fleet.gate import run_gate
    from sensor_pipelines.fleet.results import read_results

    results = read_results(Path(args.results))
    if not results:
        echo(f"No training results in {args.results}: nothing to validate.")
        return 0
    names = list(dict.fromkeys(r["circuit"] for r in results))
    try:
        configs = dict(zip(names, load_run_configs(names, args.env, args.overrides, config_dir=args.config_dir)))
    except UserError:  # one bad config: compose one by one, the bad one fails closed in the gate
        configs = {name: config_or_none(name, args) for name in names}
    any_config = next((c for c in configs.values() if c is not None), None)
    if any_config is None:
        raise UserError("no circuit of the training results has a valid config")
    build_id = any_config.env.build_id
    rows = run_gate(results, configs, open_workspace(any_config), build_id, Path(args.out_dir))
    passed = sum(r["validated"] for r in rows)
    print_table(f"Validation (build {build_id})",
                ["circuit", "model", "validated", "MAE", "RMSE", "R²", "MAE / naive", "baseline MAE", "note"],
                [_gate_row(r) for r in rows],
                footer=f"{passed} of {len(rows)} circuits validated; report: {Path(args.out_dir) / 'validation_report.md'}")
    if args.strict and passed < len(rows):
        failed = ", ".join(r["circuit"] for r in rows if not r["validated"])
        print(f"error: validation gate failed (STRICT): {failed}", file=sys.stderr)
        return 1
    return 0


def _gate_row(row: dict[str, Any]) -> list[Any]:
    checks = {c["metric"]: c for c in row["checks"]}

    def cell(metric: str) -> str:
        check = checks.get(metric)
        if not check:
            return "missing"
        return f"{number(check['value'])} {'ok' if check['passed'] else 'FAIL'} ({check['op']} {check['limit']:g})"

    model = f"{row['model_name']} v{row['model_version']}" if row["model_version"] else "-"
    return [row["circuit"], model, "yes" if row["validated"] else "NO", cell("mae"), cell("rmse"), cell("r2"),
            cell("mae_ratio"), number(row.get("baseline_mae")),
            row.get("error") or "; ".join(row.get("reasons", []))]


def cmd_plan(args: argparse.Namespace) -> int:
    """Print, per circuit, whether training would run or reuse the current model, and why."""
    from sensor_pipelines.backends import open_workspace
    from sensor_pipelines.cli.compose import available, load_run_configs
    from sensor_pipelines.fleet.plan import plan_circuit
    from sensor_pipelines.pipelines.catalog import train_component

    names = args.circuits.split(",") if args.circuits else available(args.config_dir, "circuit")
    configs = load_run_configs(names, args.env, args.overrides, config_dir=args.config_dir)
    latest = open_workspace(configs[0]).latest_model_versions()
    version = str(train_component().version)
    rows = [plan_circuit(c, latest.get(c.circuit.model_name), version) for c in configs]
    trains = sum(r.action == "train" for r in rows)
    print_table(None, ["circuit", "action", "current model", "why"], [(r.circuit, r.action, r.model, r.why) for r in rows],
                footer=f"{trains} to train, {len(rows) - trains} to reuse")
    return 0
