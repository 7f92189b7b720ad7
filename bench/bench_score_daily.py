"""Daily scoring of a fleet: ``make score-daily`` over N circuits in prod on the local backend.

Builds a temporary project with N circuits (``common.write_circuits``: copies of the demo circuit
with their own sample seeds, as for bench_fleet.py) and takes them through the release with the
smoke model (``model=lstm_smoke``, the gate loosened as in tests/integration/test_release.py), none
of it timed:
``train-changed`` (MAX_PARALLEL=--max-parallel), ``promote`` each circuit, ``deploy-many`` to test,
``score-daily`` in test, ``deploy-many`` to prod with an approval. Before scoring, each circuit's
data file is cut to its last ``--history-days`` days (default 30): what the daily run reads.

Then it times one ``score-daily --env prod`` (``make score-daily ENV=prod BACKEND=local
MAX_PARALLEL=--max-parallel``: a new ``python -m sensor_pipelines`` process, its start included) and
reports, from each circuit's scoring run:

- wall time of the whole verb;
- scoring work: the sum over circuits of the ``seconds`` the ``batch_score`` component itself
  reports in its ``summary.json`` (windowing, predict, parquet write; MLflow model load and data
  read excluded), and the floor, that sum / max_parallel;
- the share of wall that is not scoring work: 1 - floor / wall;
- for where the rest goes: the sums of the ``score`` and ``validate`` node seconds (the node
  processes: fork, imports not preloaded, MLflow load, reading the data, the work itself) and of
  each circuit's whole ``score`` process (latest data, config, the two-node pipeline, records),
  and the time from the verb's start to the first circuit's start.

Per-circuit seconds are wall-clock inside each process while max_parallel of them share the cores,
so on a 2-core machine max_parallel above 2 inflates them.

    python bench/bench_score_daily.py [--circuits 200] [--max-parallel 2] [--history-days 30]
                                      [--keep DIR] [--json PATH]

Long: the 200-circuit run took 24 min on 2 cores (setup 20 min: training 15 min; score-daily
3.6 min).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from common import CLI, REPO, finish, timed, write_circuits

QUICK_ARGS = ["--circuits", "4"]  # what bench/run_all.py --quick passes
# the smoke model (2 epochs) is no forecaster: loosen every check of the gate, as the release test does
LOOSE = ["model=lstm_smoke", "circuit.thresholds.mae_max=1000", "circuit.thresholds.rmse_max=1000",
         "circuit.thresholds.r2_min=-1000", "env.thresholds.mae_ratio_max=1000"]


def release(root: Path, names: list[str], max_parallel: int, history_days: int, log_file: Path) -> list[tuple]:
    """Train, promote, deploy to test, cut the data to ``history_days``, score in test, deploy to prod, each verb
    run in this process (``sensor_pipelines.cli.main``); returns (step, seconds, exit code) rows."""
    from sensor_pipelines.cli import main

    conf = str(root / "conf")
    matrix = json.dumps({name: {"CIRCUIT": name} for name in names})
    steps = []

    def step(label: str, argvs: list[list[str]]) -> None:
        start = time.perf_counter()
        codes = [main(argv) for argv in argvs]
        code = next((c for c in codes if c != 0), 0)
        steps.append((label, time.perf_counter() - start, code))
        print(f"== {label}: {time.perf_counter() - start:.0f} s, exit {code}", flush=True)
        if code != 0:
            raise RuntimeError(f"{label} failed (exit {code}); log: {log_file}")

    with open(log_file, "w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        step(f"train-changed, {len(names)} circuits, MAX_PARALLEL={max_parallel}",
             [["train-changed", "--circuits", ",".join(names), "--max-parallel", str(max_parallel),
               "--config-dir", conf, "--out-dir", str(root / "build/train"), *LOOSE]])
        step("promote each circuit", [["promote", "--circuit", name, "--env", "local", "--config-dir", conf, *LOOSE]
                                      for name in names])
        step("deploy-many to test", [["deploy-many", "--env", "test", "--matrix", matrix, "--config-dir", conf,
                                      *LOOSE, "env.backend=local"]])
        cut_history(root, names, history_days)
        step("score-daily in test", [["score-daily", "--env", "test", "--max-parallel", str(max_parallel),
                                      "--config-dir", conf, "--out-dir", str(root / "build/score-test"), *LOOSE,
                                      "env.backend=local"]])
        step("deploy-many to prod (approved)", [["deploy-many", "--env", "prod", "--matrix", matrix, "--approved-by",
                                                 "bench", "--config-dir", conf, *LOOSE, "env.backend=local"]])
    return steps


def cut_history(root: Path, names: list[str], days: int) -> None:
    """Keep the last ``days`` days of each circuit's data file (the generated sample: data/sample/<name>.csv)."""
    import pandas as pd

    for name in names:
        path = root / "data/sample" / f"{name}.csv"
        frame = pd.read_csv(path)
        stamps = pd.to_datetime(frame["timestamp"])
        frame[stamps > stamps.max() - pd.Timedelta(days=days)].to_csv(path, index=False)


def scoring_seconds(result: dict) -> tuple[float, float, float]:
    """(batch_score's own summary seconds, the score node's seconds, the validate node's seconds) of one circuit."""
    record = json.loads((Path(result["run_dir"]) / "run.json").read_text())
    nodes = {node["name"]: node for node in record["nodes"]}
    summary = json.loads((Path(nodes["score"]["outputs"]["forecasts"]) / "summary.json").read_text())
    return float(summary["seconds"]), float(nodes["score"]["seconds"]), float(nodes["validate"]["seconds"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--circuits", type=int, default=200, help="circuits to release and score")
    parser.add_argument("--max-parallel", type=int, default=2, help="circuits at once (training and scoring)")
    parser.add_argument("--history-days", type=int, default=30, help="days of data each circuit's file holds")
    parser.add_argument("--keep", type=Path, help="build the project here and keep it (default: a temporary folder)")
    parser.add_argument("--json", help="also write the rows as JSON here")
    args = parser.parse_args()
    os.environ.pop("SENSOR_PIPELINES_WORKSPACE", None)  # the project's own .mlops/

    with (contextlib.nullcontext(str(args.keep)) if args.keep else tempfile.TemporaryDirectory()) as tmp:
        root = Path(tmp).resolve()
        root.mkdir(parents=True, exist_ok=True)
        names = write_circuits(root, args.circuits)
        os.chdir(root)
        try:
            steps = release(root, names, args.max_parallel, args.history_days, root / "release.log")
        except RuntimeError as exc:
            print("\n".join((root / "release.log").read_text(errors="replace").splitlines()[-30:]))
            print(f"setup failed: {exc}", flush=True)
            os.chdir(REPO)
            return 1

        out = root / "build/score-daily"
        began = time.time()
        wall, proc = timed([*CLI, "score-daily", "--env", "prod", "--max-parallel", str(args.max_parallel),
                            "--config-dir", str(root / "conf"), "--out-dir", str(out), *LOOSE, "env.backend=local"],
                           root)
        (root / "score-daily.log").write_text(proc.stdout + proc.stderr)
        results_file = out / "score_results.json"
        results = json.loads(results_file.read_text()) if results_file.is_file() else []
        completed = [r for r in results if r.get("status") == "completed"]
        own, score_nodes, validate_nodes = (zip(*(scoring_seconds(r) for r in completed)) if completed
                                            else ((), (), ()))
        processes = sum(float(r.get("seconds", 0.0)) for r in completed)
        fanout_start = min((float(r["started"]) for r in results if r.get("started")), default=began) - began
        floor = sum(own) / args.max_parallel
        share = 1 - floor / wall if wall else float("nan")
        if proc.returncode != 0:
            print(f"score-daily exit {proc.returncode}; output in {root / 'score-daily.log'}:\n"
                  + "\n".join((proc.stdout + proc.stderr).splitlines()[-10:]), flush=True)
        os.chdir(REPO)  # before the temporary folder goes

    rows = [(f"setup: {label}", f"{seconds:.0f} s", "", code == 0) for label, seconds, code in steps]
    n = max(len(completed), 1)
    rows += [
        (f"make score-daily ENV=prod BACKEND=local, {args.circuits} circuits ({args.history_days} days of data each),"
         f" MAX_PARALLEL={args.max_parallel}", f"{wall:.1f} s", f"{len(completed)}/{args.circuits} scored",
         len(completed) == args.circuits and proc.returncode == 0),
        ("  scoring work: sum of batch_score summary seconds", f"{sum(own):.1f} s ({sum(own) / n:.2f} s per circuit)",
         "", None),
        ("  floor: scoring work / max_parallel", f"{floor:.1f} s", "", None),
        ("  share of wall that is not scoring work (1 - floor / wall)", f"{share:.1%}", "", None),
        ("  sum of score node seconds", f"{sum(score_nodes):.1f} s ({sum(score_nodes) / n:.2f} s per circuit)", "",
         None),
        ("  sum of validate node seconds", f"{sum(validate_nodes):.1f} s ({sum(validate_nodes) / n:.2f} s per circuit)",
         "", None),
        ("  sum of per-circuit score process seconds", f"{processes:.1f} s ({processes / n:.2f} s per circuit)", "",
         None),
        ("  from the verb's start to the first circuit's start", f"{fanout_start:.1f} s", "", None),
        ("  wall per circuit", f"{wall / max(args.circuits, 1):.2f} s", "", None),
    ]
    return finish(rows, args.json)


if __name__ == "__main__":
    sys.exit(main())
