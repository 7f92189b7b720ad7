"""Verbs of monitoring: setup-monitors, monitor (fan-out) and monitor-circuit (one), retrain-drifted."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from sensor_pipelines.fleet.preload import CIRCUIT_PRELOAD
from sensor_pipelines.cli.common import env_config, run_config, write_result
from sensor_pipelines.cli.console import FanoutDisplay, NodeEcho, echo, print_table
from sensor_pipelines.core.errors import UserError

# fan-out children fork from a server that imported these: their node worker forks warm, no imports
MONITOR_PRELOAD = ["sensor_pipelines.monitoring.monitor", "sensor_pipelines.pipelines.monitoring",
                   "sensor_pipelines.core.monitoring_checks", "sensor_pipelines.core.monitoring_report", *CIRCUIT_PRELOAD]
MONITOR_RESULTS = "monitor_results.json"


def _open(config):
    from sensor_pipelines.backends import open_registry, open_workspace

    return open_workspace(config), open_registry(config)


def _env_circuits(args: argparse.Namespace):
    """(env config composed with the first circuit, the workspace, circuits with a deployment in the env)."""
    from sensor_pipelines.backends import open_workspace

    config = env_config(args)
    workspace = open_workspace(config)
    deployed = [e.circuit for e in workspace.list_endpoints() if e.default is not None]
    return config, workspace, deployed


def cmd_setup_monitors(args: argparse.Namespace) -> int:
    """Create one monitor per circuit with a deployment in the env (locally: records + the crontab line)."""
    from sensor_pipelines.backends import open_registry
    from sensor_pipelines.monitoring.setup import setup_monitors

    config, workspace, deployed = _env_circuits(args)
    configs = {circuit: run_config(args, circuit) for circuit in deployed}  # every config checked first
    monitors = setup_monitors(configs, workspace, open_registry(config), args.cron, args.time_zone)
    print_table(f"Monitors of env {config.env.name}", ["monitor", "circuit", "deployment", "model version",
                "cutoff_date", "cron", "where"],
                [(m.name, m.circuit, m.deployment, m.model_version, m.cutoff_date, m.cron, m.where) for m in monitors],
                footer=f"{len(monitors)} monitors created or updated")
    if workspace.backend == "local":
        root = Path(config.project_root).resolve()
        echo("Monitors run from cron on this machine, after daily scoring. Install with `crontab -e`, adding:")
        echo(f"{args.cron} cd {shlex.quote(str(root))} && make monitor ENV={shlex.quote(args.env)} BACKEND=local "
             f">> {shlex.quote(str(root / 'build' / 'monitor.log'))} 2>&1")
    return 0


def cmd_monitor_circuit(args: argparse.Namespace) -> int:
    """Run one circuit's monitor now (what `make monitor` runs per circuit)."""
    from sensor_pipelines.monitoring.monitor import monitor_circuit

    node_echo = NodeEcho()
    try:
        config = run_config(args)
        workspace, registry = _open(config)
        outcome = monitor_circuit(config, workspace, registry, window_end=args.window_end, echo=node_echo)
    except UserError as exc:
        write_result(args.result_file, {"circuit": args.circuit, "status": "failed", "monitor": "error",
                                         "error": str(exc)})
        raise
    finally:
        node_echo.close()
    result = outcome.result
    decision = outcome.decision
    row = {"circuit": outcome.circuit, "status": "completed" if outcome.status in ("ok", "alert", "submitted")
           else "failed", "monitor": outcome.status, "report": outcome.report, "error": outcome.error,
           "run_id": outcome.run.run_id if outcome.run else None}
    if result:
        realised = result["realised_error"]
        row.update(drifted=result["data_drift"]["drifted_columns"], quality_issues=len(result["quality"]["findings"]),
                   prediction_drift=result["prediction_drift"].get("drifted"),
                   realised_mae=(realised.get("overall") or {}).get("mae"), validated_mae=realised.get("validated_mae"),
                   failed_checks=result["failed_checks"])
    if decision:
        row.update(consecutive=decision.consecutive, alert=(decision.open_alert or {}).get("alert_id"),
                   raised=bool(decision.raised), webhook=decision.webhook)
    write_result(args.result_file, row)
    if outcome.status == "failed":
        raise UserError(f"monitor of {outcome.circuit} failed: {outcome.error}")
    echo(f"Monitored {outcome.circuit}: {outcome.status}"
         + (f" ({', '.join(result['failed_checks'])}; {decision.consecutive} in a row)" if result.get("failed_checks")
            else "") + (f"; ALERT {decision.raised['alert_id']}" if decision and decision.raised else ""))
    echo(f"  report: {outcome.report}")
    return 0


def _fmt(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else ("-" if value is None else str(value))


def cmd_monitor(args: argparse.Namespace) -> int:
    """Run the monitors of every circuit with a deployment in the env (or --circuits), in parallel; one table."""
    from sensor_pipelines.cli import main
    from sensor_pipelines.fleet.fanout import run_many
    from sensor_pipelines.monitoring.monitor import alert_book, write_overview

    out_dir = Path(args.out_dir)
    config, workspace, deployed = _env_circuits(args)
    circuits = [c.strip() for c in args.circuits.split(",") if c.strip()] if args.circuits else deployed
    missing = [c for c in circuits if c not in deployed]
    if missing:
        raise UserError(f"no deployment in env {config.env.name} for {', '.join(missing)}: deploy before monitoring")
    if not circuits:
        echo(f"No endpoint with a deployment in env {config.env.name}: nothing to monitor.")
        return 0
    workspace.ensure_tracking_store()
    max_parallel = args.max_parallel or config.env.max_parallel

    def argv(circuit: str, result_file: Path) -> list[str]:
        extra = ["--window-end", args.window_end] if args.window_end else []
        return ["monitor-circuit", "--circuit", circuit, "--env", args.env, "--config-dir", args.config_dir,
                "--result-file", str(result_file), *extra, *args.overrides]

    echo(f"Monitoring {len(circuits)} circuits in env {config.env.name}, at most {max_parallel} at a time "
         f"(logs in {out_dir / 'logs'})")
    with FanoutDisplay(len(circuits)) as display:
        results = run_many(circuits, child=main, argv=argv, max_parallel=max_parallel, out_dir=out_dir,
                           progress=display, preload=MONITOR_PRELOAD, results_file=MONITOR_RESULTS)
    overview = write_overview(config.env.name, workspace, alert_book(config, workspace))
    rows = []
    for r in results:
        status = r.get("monitor") or r.get("status")
        if r.get("raised"):
            status = f"ALERT {r.get('alert')}"
        rows.append([r["circuit"], ", ".join(r.get("drifted") or []) or "-", _fmt(r.get("quality_issues")),
                     _fmt(r.get("prediction_drift")), f"{_fmt(r.get('realised_mae'))} / {_fmt(r.get('validated_mae'))}",
                     status, r.get("report") or (r.get("error") or "")[-200:]])
    failed = sum(r.get("status") != "completed" for r in results)
    alerting = sum(bool(r.get("alert")) for r in results)
    print_table(None, ["circuit", "drifted features", "quality issues", "prediction drift", "realised / validated MAE",
                       "status", "report or error"], rows,
                footer=f"{len(results) - failed} monitored ({alerting} with an open alert), {failed} failed; "
                       f"fleet overview: {overview}")
    return 1 if failed else 0


def cmd_retrain_drifted(args: argparse.Namespace) -> int:
    """Propose a newer cutoff_date for each circuit with an open alert (writes its config); --run trains them."""
    from sensor_pipelines.monitoring.monitor import alert_book
    from sensor_pipelines.monitoring.retrain import propose_retrain

    config, workspace, _ = _env_circuits(args)
    book = alert_book(config, workspace)
    alerts = book.open_alerts()
    if not alerts:
        echo(f"No open alert in env {config.env.name}: nothing to retrain.")
        return 0
    configs = {circuit: run_config(args, circuit) for circuit in alerts}  # every config checked first
    proposals = [propose_retrain(configs[c], book, Path(args.config_dir) / "circuit" / f"{c}.yaml") for c in alerts]
    print_table(f"Retraining proposed in env {config.env.name}", ["circuit", "alert", "checks", "cutoff_date",
                "config", "action"],
                [(p.circuit, p.alert_id, ", ".join(p.checks), f"{p.previous_cutoff} -> {p.cutoff_date}", p.config_file,
                  p.action) for p in proposals],
                footer="commit the config changes so the build retrains them" if not args.run else None)
    if args.run:
        return _train_proposals([p for p in proposals if p.action == "proposed"], args)
    return 0


def _train_proposals(proposals, args: argparse.Namespace) -> int:
    """Train each proposed circuit now in the training env; tag the new model version with its alert."""
    from sensor_pipelines.app.training import train_circuit
    from sensor_pipelines.backends import open_workspace

    failed = 0
    for proposal in proposals:
        train_args = argparse.Namespace(**{**vars(args), "env": args.train_env})
        config = run_config(train_args, proposal.circuit)
        workspace = open_workspace(config)
        node_echo = NodeEcho()
        try:
            outcome = train_circuit(config, workspace, echo=node_echo)
        finally:
            node_echo.close()
        version = outcome.registration.get("version")
        if not outcome.run.succeeded or version is None:
            failed += 1
            echo(f"Retraining {proposal.circuit} failed: run {outcome.run.run_id}")
            continue
        workspace.set_model_version_tags(config.circuit.model_name, str(version),
                                         {"retrain_alert": proposal.alert_id, "retrain_checks": ",".join(proposal.checks)})
        echo(f"Retrained {proposal.circuit} on data up to {proposal.cutoff_date}: {config.circuit.model_name} version "
             f"{version} (validated={outcome.registration.get('tags', {}).get('validated')}), tagged retrain_alert="
             f"{proposal.alert_id}")
    return 1 if failed else 0


def add_monitoring_verbs(add) -> None:
    """Register the monitoring verbs on the CLI's parser."""
    setup = add("setup-monitors", cmd_setup_monitors)
    setup.add_argument("--cron", default="0 7 * * *", help="cron expression (default: 07:00, after daily scoring)")
    setup.add_argument("--time-zone", default="UTC", help="time zone of the cron expression")

    monitor = add("monitor", cmd_monitor, circuit="many")
    monitor.add_argument("--max-parallel", type=int, default=0, help="circuits at once (default: the env's)")
    monitor.add_argument("--window-end", default="", help="last timestamp of the window (default: the last scored)")
    monitor.add_argument("--out-dir", default="build/monitor", help="results and logs")

    one = add("monitor-circuit", cmd_monitor_circuit, circuit="one")
    one.add_argument("--window-end", default="", help="last timestamp of the window (default: the last scored)")
    one.add_argument("--result-file", help="also write the outcome as JSON here")

    retrain = add("retrain-drifted", cmd_retrain_drifted)
    retrain.add_argument("--run", action="store_true", help="also train the proposed circuits now")
    retrain.add_argument("--train-env", default="local", help="env the retraining runs in (default: local)")
