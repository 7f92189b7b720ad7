"""Verbs of the release: promote, deploy, score, endpoints, rollback, score-daily, schedule."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from sensor_pipelines.fleet.preload import CIRCUIT_PRELOAD
from sensor_pipelines.cli.common import env_config, run_config, write_result
from sensor_pipelines.cli.console import FanoutDisplay, NodeEcho, echo, print_table
from sensor_pipelines.core.errors import UserError

# fan-out children fork from a server that imported these: their node worker forks warm, no imports
SCORE_PRELOAD = ["sensor_pipelines.release.scoring", "sensor_pipelines.pipelines.scoring", *CIRCUIT_PRELOAD]
DAILY_RESULTS = "score_results.json"


def _open(config):
    from sensor_pipelines.backends import open_registry, open_workspace

    return open_workspace(config), open_registry(config)


def cmd_promote(args: argparse.Namespace) -> int:
    """Promote a circuit's model version (default: latest validated) with its scoring components and environment
    to the shared registry."""
    from sensor_pipelines.release.promotion import promote_circuit

    config = run_config(args)
    workspace, registry = _open(config)
    result = promote_circuit(config, workspace, registry, version=args.model_version or None, force=args.force,
                             build_id=config.env.build_id)
    print_table(f"Promoted {result.circuit} from env {config.env.name} to the registry {registry.name}",
                ["kind", "name", "version", "action", "detail"],
                [(s.kind, s.name, s.version, s.action, s.detail) for s in result.steps],
                footer="forced: not validated, test env only" if result.forced else None)
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    """Deploy a promoted model version to the circuit's batch endpoint and make it the default."""
    from sensor_pipelines.release.deployment import deploy_circuit
    from sensor_pipelines.release.scoring import deployment_job

    config = run_config(args)
    workspace, registry = _open(config)
    outcome = deploy_circuit(config, workspace, registry, deployment_job, version=args.model_version or None,
                             approved_by=args.approved_by or "", force=args.force, build_id=config.env.build_id)
    deployment = outcome.endpoint.deployments[outcome.deployment]
    state = "created" if outcome.created else "already there (same model and components)"
    echo(f"Endpoint {outcome.endpoint.name}: deployment {outcome.deployment} {state}, now the default "
         f"(was {outcome.previous_default or 'none'})")
    echo(f"  model {outcome.model.name} version {outcome.model.source_version} (registry version "
         f"{outcome.model.version}, cutoff_date {deployment.tags.get('cutoff_date')}); components "
         + ", ".join(f"{k}:{v}" for k, v in deployment.components.items())
         + f"; alias @{config.env.name} -> registry version {outcome.model.version}")
    return 0


def cmd_deploy_many(args: argparse.Namespace) -> int:
    """Deploy every circuit of a CI matrix (the detect stage's JSON) to the env; stops at the first refusal."""
    import json

    try:
        matrix = json.loads(args.matrix or "{}")
    except ValueError:
        raise UserError("MATRIX is not JSON: expected the detect stage's matrix output") from None
    if not isinstance(matrix, dict) or not all(isinstance(v, dict) for v in matrix.values()):
        raise UserError("MATRIX is not the detect stage's matrix: expected {job: {CIRCUIT: ...}, ...}")
    circuits = [str(v.get("CIRCUIT", k)) for k, v in matrix.items()]
    if not circuits:
        echo("No circuits in the matrix: nothing to deploy.")
        return 0
    for circuit in circuits:  # every name and config checked before the first deployment
        run_config(args, circuit)
    for circuit in circuits:
        args.circuit = circuit
        args.model_version, args.force = "", False
        cmd_deploy(args)
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    """Make the endpoint's previous default deployment the default again."""
    from sensor_pipelines.release.deployment import rollback_circuit

    config = run_config(args)
    workspace, registry = _open(config)
    outcome = rollback_circuit(config, workspace, registry)
    echo(f"Endpoint {outcome.endpoint.name}: default deployment {outcome.previous_default} -> {outcome.deployment} "
         f"(model {outcome.model.name} version {outcome.model.source_version}); alias @{config.env.name} moved back")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    """Score with the circuit's endpoint (default deployment) on INPUT or its latest data."""
    from sensor_pipelines.app.training import PipelineFailed
    from sensor_pipelines.release.scoring import score_circuit

    node_echo = NodeEcho()
    try:
        config = run_config(args)
        workspace, registry = _open(config)
        outcome = score_circuit(config, workspace, registry, args.input or None, echo=node_echo)
    except UserError as exc:
        write_result(args.result_file, {"circuit": args.circuit, "status": "failed", "error": str(exc)})
        raise
    finally:
        node_echo.close()
    run = outcome.run
    result = {"circuit": outcome.circuit, "status": str(run.status), "run_id": run.run_id, "run_dir": run.run_dir,
              "endpoint": outcome.endpoint, "deployment": outcome.deployment, "forecasts": outcome.forecasts,
              **{k: outcome.summary.get(k) for k in ("origins", "rows", "model_version", "cutoff_date")}}
    if not run.succeeded:
        failed = run.failed_node
        result["error"] = f"node {failed.name if failed else '?'} failed: " + " | ".join(
            (failed.error_tail if failed else [])[-3:])
    write_result(args.result_file, result)
    if not run.succeeded:
        failed = run.failed_node
        tail = "\n".join(failed.error_tail[-5:]) if failed else ""
        raise PipelineFailed(f"scoring run {run.run_id} failed at node {failed.name if failed else '?'}:\n{tail}")
    s = outcome.summary
    echo(f"Scored {outcome.circuit} with {outcome.endpoint} ({outcome.deployment}, model version {s.get('model_version')},"
         f" cutoff_date {s.get('cutoff_date')}): {s.get('origins')} origins, {s.get('rows')} rows, verdict "
         f"{'PASSED' if outcome.verdict.get('passed') else 'FAILED'}")
    echo(f"  forecasts: {outcome.forecasts}")
    return 0


def cmd_endpoints(args: argparse.Namespace) -> int:
    """List the env's batch endpoints: default deployment, model version, cutoff_date, when deployed."""
    from sensor_pipelines.backends import open_workspace

    config = env_config(args)
    endpoints = open_workspace(config).list_endpoints()
    rows = []
    for e in endpoints:
        d = e.default
        last = e.scores[-1] if e.scores else {}
        rows.append([e.name, e.default_deployment, d.tags.get("model_version") if d else None,
                     d.tags.get("cutoff_date") if d else None, d.tags.get("deployed_at") if d else None,
                     d.tags.get("approved_by") if d else None, len(e.deployments),
                     f"{last.get('status')} {last.get('at')}" if last else None])
    print_table(f"Batch endpoints of env {config.env.name}", ["endpoint", "default deployment", "model version",
                "cutoff_date", "deployed at", "approved by", "deployments", "last score"], rows,
                footer=f"{len(rows)} endpoints")
    return 0


def cmd_score_daily(args: argparse.Namespace) -> int:
    """Score every circuit with a deployment in the env, in parallel; one failing circuit never stops the others."""
    from sensor_pipelines.backends import open_registry, open_workspace
    from sensor_pipelines.cli import main
    from sensor_pipelines.fleet.fanout import run_many
    from sensor_pipelines.fleet.results import failed_circuits

    out_dir = Path(args.out_dir)
    config = env_config(args)
    workspace = open_workspace(config)
    if args.retry_failed:
        circuits = failed_circuits(out_dir, DAILY_RESULTS)
        if not circuits:
            echo(f"No failed circuits in {out_dir / DAILY_RESULTS}: nothing to retry.")
            return 0
    else:
        circuits = [e.circuit for e in workspace.list_endpoints() if e.default is not None]
    if not circuits:
        echo(f"No endpoint with a deployment in env {config.env.name}: nothing to score.")
        return 0
    workspace.ensure_tracking_store()  # once, before the fan-out (local SQLite migrations race)
    open_registry(config).ensure_tracking_store()
    max_parallel = args.max_parallel or config.env.max_parallel

    def argv(circuit: str, result_file: Path) -> list[str]:
        return ["score", "--circuit", circuit, "--env", args.env, "--config-dir", args.config_dir,
                "--result-file", str(result_file), *args.overrides]

    echo(f"Scoring {len(circuits)} circuits in env {config.env.name}, at most {max_parallel} at a time "
         f"(logs in {out_dir / 'logs'})")
    with FanoutDisplay(len(circuits)) as display:
        results = run_many(circuits, child=main, argv=argv, max_parallel=max_parallel, out_dir=out_dir,
                           progress=display, preload=SCORE_PRELOAD, keep_previous=args.retry_failed,
                           results_file=DAILY_RESULTS)
    failed = sum(r.get("status") != "completed" for r in results)
    print_table(None, ["circuit", "status", "model version", "origins", "rows", "seconds", "forecasts or error"],
                [[r["circuit"], r.get("status"), r.get("model_version"), r.get("origins"), r.get("rows"),
                  f"{r.get('seconds', 0):.0f}", r.get("forecasts") if r.get("status") == "completed"
                  else (r.get("error") or "")[-200:]] for r in results],
                footer=f"{len(results) - failed} scored, {failed} failed; results: {out_dir / DAILY_RESULTS}")
    return 1 if failed else 0


def cmd_schedule(args: argparse.Namespace) -> int:
    """Schedule daily scoring: a JobSchedule per circuit on Azure ML; locally, the crontab line to install."""
    from sensor_pipelines.backends import open_registry, open_workspace
    from sensor_pipelines.release.schedule import schedule_daily_scoring

    config = env_config(args)
    workspace = open_workspace(config)
    if workspace.backend == "local":
        from sensor_pipelines.core.config.schema import CRON

        if not CRON.fullmatch(args.cron):
            raise UserError(f"CRON {args.cron!r} is not a 5-field cron expression (e.g. '0 6 * * *')")
        root = Path(config.project_root).resolve()
        line = (f"{args.cron} cd {shlex.quote(str(root))} && make score-daily ENV={shlex.quote(args.env)} BACKEND=local "
                f">> {shlex.quote(str(root / 'build' / 'score-daily.log'))} 2>&1")
        echo("Daily scoring runs from cron on this machine. Install it with `crontab -e` and add this line:")
        echo(line)
        echo("(cron's PATH must reach make and python3; `crontab -l` shows what is installed)")
        return 0
    names = schedule_daily_scoring(config, workspace, open_registry(config), args.cron, args.time_zone)
    print_table(f"Schedules in env {config.env.name}", ["schedule", "cron", "time zone"],
                [(n, args.cron, args.time_zone) for n in names], footer=f"{len(names)} schedules created or updated")
    return 0


def add_release_verbs(add) -> None:
    """Register the release verbs on the CLI's parser (``add`` is the parser's verb factory)."""
    promote = add("promote", cmd_promote, circuit="one")
    promote.add_argument("--model-version", default="",
                         help="version to promote (default: the latest validated)")
    promote.add_argument("--force", action="store_true", help="promote an unvalidated model (test env only)")

    deploy = add("deploy", cmd_deploy, circuit="one")
    deploy.add_argument("--model-version", default="", help="promoted version (default: prod: @test; test: latest)")
    deploy.add_argument("--approved-by", default="", help="who approved (required for prod)")
    deploy.add_argument("--force", action="store_true", help="deploy an unvalidated model to test (recorded)")

    many = add("deploy-many", cmd_deploy_many)
    many.add_argument("--matrix", default="", help="the CI matrix JSON ({job: {CIRCUIT: ...}})")
    many.add_argument("--approved-by", default="", help="who approved (required for prod)")

    add("rollback", cmd_rollback, circuit="one")

    score = add("score", cmd_score, circuit="one")
    score.add_argument("--input", default="", help="folder or file to score (default: the circuit's latest data)")
    score.add_argument("--result-file", help="also write the outcome as JSON here")

    add("endpoints", cmd_endpoints)

    daily = add("score-daily", cmd_score_daily)
    daily.add_argument("--max-parallel", type=int, default=0, help="circuits at once (default: the env's)")
    daily.add_argument("--retry-failed", action="store_true", help="only the circuits that failed last time")
    daily.add_argument("--out-dir", default="build/score-daily", help="results and logs")

    schedule = add("schedule", cmd_schedule)
    schedule.add_argument("--cron", default="0 6 * * *", help="cron expression (default: 06:00 every day)")
    schedule.add_argument("--time-zone", default="UTC", help="time zone of the cron expression")
