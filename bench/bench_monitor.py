"""Monitoring a fleet: ``make monitor`` over N circuits with 30 days of hourly production data each.

Setup (not timed): a project with N circuits (copies of the demo circuit with their own sample
seeds); one smoke model trained, promoted and deployed to prod for PLANT1_CIRC1 through the verbs;
the same model files promoted as ``<circuit>_model`` for the others (tagged with each circuit's own
training data asset) and deployed to their prod endpoints through the backend's own calls; then
for each circuit 30 daily scoring records whose inputs are its own readings after the cutoff
(faults left out) and whose forecasts the model made from each day's last hour. (The reference forecasts saved with that model
are PLANT1_CIRC1's, so most other circuits show prediction drift here: the alerts say nothing, the
work per circuit is the same.)

Timed: the ``monitor`` verb (what ``make monitor ENV=prod BACKEND=local`` runs) with
MAX_PARALLEL=2, twice: the first run also registers each circuit's reference data asset in the
prod workspace, the second is a steady day. Reported against the time spent inside the
statistics (the ``seconds`` the components measure around drift, quality, prediction drift and
realised error), summed over circuits and divided by the parallelism.

    python bench/bench_monitor.py [--circuits 200] [--days 30] [--max-parallel 2] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from common import REPO, finish, write_circuits

sys.path.insert(0, str(REPO))  # noqa: E402

QUICK_ARGS = ["--circuits", "6"]
GOAL_SECONDS = 120.0  # 200 circuits, reports included, on 2 cores
SMOKE = ["model=lstm_smoke", "circuit.thresholds.mae_max=1000", "circuit.thresholds.rmse_max=1000",
         "circuit.thresholds.r2_min=-1000", "env.thresholds.mae_ratio_max=1000"]


def setup(root: Path, names: list[str], days: int) -> None:
    import pandas as pd

    from sensor_pipelines.backends import open_registry, open_workspace
    from sensor_pipelines.backends.base import DeploymentSpec, PipelineRun, RunStatus
    from sensor_pipelines.cli import main
    from sensor_pipelines.cli.compose import load_run_config
    from sensor_pipelines.core.data.sample import generate_sample_readings
    from sensor_pipelines.core.scoring import score_model

    conf = str(root / "conf")
    first = names[0]
    local = ["env.backend=local"]
    for argv, extra in ((["train", "--circuit", first, "--env", "local"], []),
                        (["promote", "--circuit", first, "--env", "local"], []),
                        (["deploy", "--circuit", first, "--env", "test"], local),
                        (["score", "--circuit", first, "--env", "test"], local),
                        (["deploy", "--circuit", first, "--env", "prod", "--approved-by", "bench"], local)):
        assert main([*argv, "--config-dir", conf, *SMOKE, *extra]) == 0, argv
    config = load_run_config(first, "prod", [*SMOKE, "env.backend=local"], config_dir=conf)
    workspace, registry = open_workspace(config), open_registry(config)
    template = workspace.list_endpoints()[0]
    deployment = template.default
    model = registry.get_model(deployment.model_name, deployment.model_version)
    for i, name in enumerate(names):
        circuit = load_run_config(name, "prod", [*SMOKE, "env.backend=local"], config_dir=conf)
        endpoint = f"be-{name.lower().replace('_', '-')}-prod"
        if name != first:
            promoted = registry.promote_model(f"{name}_model", "1", model.content_hash, model.uri, {
                **model.tags, "data_asset_name": name, "data_asset_version": circuit.circuit.cutoff_date})
            spec = DeploymentSpec(endpoint=endpoint, deployment=deployment.name, circuit=name, model=promoted,
                                  components=deployment.components, environment="", registry=registry.name,
                                  tags=dict(deployment.tags), scoring=deployment.scoring)
            workspace.deploy(spec)
        readings = generate_sample_readings(1000 + i if name != first else 11, end="2026-02-28 23:00", faults=False)
        cutoff = pd.Timestamp(circuit.circuit.cutoff_date) + pd.Timedelta(days=1)
        window = readings[(readings["timestamp"] >= cutoff - pd.Timedelta(days=14))
                          & (readings["timestamp"] < cutoff + pd.Timedelta(days=days))]
        folder = root / "production" / name
        folder.mkdir(parents=True)
        window.to_parquet(folder / "input.parquet", index=False)
        score_model(Path(model.uri), folder, folder / "scored", circuit=name, model_name=f"{name}_model",
                    model_version="1", cutoff_date=circuit.circuit.cutoff_date, last_origins=0)
        forecasts = pd.read_parquet(folder / "scored" / "forecasts.parquet")
        forecasts = forecasts[(forecasts["origin"].dt.hour == 23) & (forecasts["origin"] >= cutoff)]
        for day, group in forecasts.groupby(forecasts["origin"].dt.date):
            daily = folder / "daily" / str(day)
            daily.mkdir(parents=True)
            group.to_parquet(daily / "forecasts.parquet", index=False)
            run = PipelineRun(run_id=f"score-{name}-{day}", run_dir=str(daily), pipeline="batch_scoring",
                              status=RunStatus.COMPLETED, tags={})
            workspace.record_score(endpoint, run, {"forecasts": str(daily / "forecasts.parquet"),
                                                   "input": str(folder / "input.parquet")})


def monitor(root: Path, max_parallel: int, label: str) -> tuple[float, float, list[dict]]:
    from sensor_pipelines.cli import main
    from sensor_pipelines.core.fileio import read_json

    out = root / "build" / label
    start = time.perf_counter()
    code = main(["monitor", "--env", "prod", "--config-dir", str(root / "conf"), "--out-dir", str(out),
                 "--max-parallel", str(max_parallel), *SMOKE, "env.backend=local", "env.monitoring.max_mae_ratio=10"])
    wall = time.perf_counter() - start
    results = read_json(out / "monitor_results.json")
    stats = 0.0
    parts = {"circuit process": 0.0, "pipeline": 0.0, "drift node": 0.0, "metrics node": 0.0, "statistics": 0.0}
    for result in results:
        parts["circuit process"] += result.get("seconds", 0.0)
        run = root / ".mlops/prod/runs" / str(result.get("run_id")) / "run.json"
        if run.is_file():
            record = read_json(run)
            parts["pipeline"] += record.get("seconds", 0.0)
            for node in record["nodes"]:
                parts[f"{node['name']} node"] = parts.get(f"{node['name']} node", 0.0) + node["seconds"]
    for state in (root / ".mlops/prod/monitoring/state").glob("*.json"):
        last = read_json(state)["runs"][-1]
        stats += sum((last.get("seconds") or {}).values())
    parts["statistics"] = stats
    n = max(len(results), 1)
    print(f"{label}: seconds per circuit: " + ", ".join(f"{k} {v / n:.2f}" for k, v in parts.items()))
    if code != 0:
        print(f"monitor exited {code}: {[r for r in results if r.get('status') != 'completed'][:3]}")
    return wall, stats, results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--circuits", type=int, default=200)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--max-parallel", type=int, default=2)
    parser.add_argument("--json", help="also write the rows as JSON here")
    parser.add_argument("--keep", type=Path, help="build the project in this (new) folder and keep it")
    args = parser.parse_args()
    import contextlib
    import os

    with (contextlib.nullcontext(str(args.keep)) if args.keep else
          tempfile.TemporaryDirectory(prefix="bench-monitor-")) as tmp:
        root = Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        os.chdir(root)
        names = write_circuits(root, args.circuits)
        start = time.perf_counter()
        setup(root, names, args.days)
        print(f"setup: {len(names)} circuits deployed and scored {args.days} days in {time.perf_counter() - start:.0f} s")
        rows = []
        for label in ("first", "steady"):
            wall, stats, results = monitor(root, args.max_parallel, label)
            ok = sum(r.get("status") == "completed" for r in results)
            floor = stats / args.max_parallel
            rows += [(f"monitor {label} run: circuits monitored", f"{ok}/{len(names)}", "all", ok == len(names)),
                     (f"monitor {label} run: wall seconds", f"{wall:.1f}",
                      f"< {GOAL_SECONDS:.0f} for 200" if label == "steady" else "",
                      (wall < GOAL_SECONDS) if label == "steady" and len(names) >= 200 else None),
                     (f"monitor {label} run: statistics seconds / {args.max_parallel}", f"{floor:.1f}", "", None),
                     (f"monitor {label} run: wall / statistics", f"{wall / floor:.2f}" if floor else "-", "", None),
                     (f"monitor {label} run: wall per circuit", f"{wall / len(names):.2f}", "", None)]
        os.chdir(REPO)
    print(json.dumps({"circuits": len(names), "days": args.days}))
    return finish(rows, args.json)


if __name__ == "__main__":
    sys.exit(main())
